// Package backendkit holds what the node backends (topology/local,
// topology/docker, topology/ssh) share and topology does not export: the checks of root,
// tools and iptables before a network fault, this machine's iptables table,
// and the edits of a stopped node's data dir that the disk faults make.
//
// It may import topology and topology/netfilter.
package backendkit
