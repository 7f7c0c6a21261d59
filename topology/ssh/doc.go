// Package ssh is the ssh backend (--backend ssh --hosts hosts.yaml): the
// hosts file; logging in to each host with a key file or the agent, host
// keys checked against known_hosts; running commands with bounded output
// under a context, and uploading files; and on that, nodes as server
// processes on the hosts, placed round-robin, with their faults (signals,
// iptables in the cluster's chain, netem by the harness's own delay line
// run on the host as an agent, disk edits over SSH) and the cleanup of
// what a killed harness left on the hosts.
//
// It may import topology, topology/netfilter and topology/internal/….
package ssh
