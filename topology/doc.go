// Package topology is the cluster model and the operator's work on it.
//
// It owns the Backend interface (backend.go) and the abilities a backend
// may offer, found by type assertion: Lifecycle, Network and FaultChecker
// (faults.go), Disk and DiskChecker (faults_disk.go); the Cluster, Node and
// Spec they speak, and the state dir that records clusters (state.go); the
// parsing of CLUSTER NODES, CLUSTER INFO, CLUSTER SHARDS and INFO; the
// cluster operations done in Go, over any backend's nodes: create with a
// health gate, check, fix, add and remove node, reshard step by step,
// rebalance and failover; and the topology monitor. A server is a value
// (server.go): the host's redis-server, or a Redis or Valkey build fetched
// from Debian's archive with its own loader and libraries, which every
// backend runs.
//
// The backends live beside it, one package each: topology/local (nodes as
// processes on this machine) and topology/docker (nodes as containers),
// built on topology/netfilter (iptables chains and the delay line, with no
// Redis knowledge). topology/backends chooses among them (--backend) and
// cleans up after all of them. topology/internal holds what they share
// and no caller needs.
//
// It may import checker/history and its own internal/wait, internal/flock
// and internal/logtail (imports_test.go holds every package of the tree to
// DESIGN.md); everything above it imports it.
package topology
