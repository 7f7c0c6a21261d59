// Package local is the backend whose nodes are redis-server processes on
// this machine, each on a loopback address of its own (127.0.100.x, with
// bind-source-addr so the cluster bus comes from it too), with data dir
// and log in the cluster's state dir.
//
// It owns the processes' lifecycle (local.go), their faults (faults.go:
// SIGKILL, SIGSTOP, iptables rules in this machine's namespace and delay
// lines for netem), the disk faults on their data dirs (disk.go), and the
// cleanup of what a killed harness left of local clusters: servers and
// this machine's iptables chains (cleanup.go).
//
// It may import topology, topology/netfilter and topology/internal.
package local
