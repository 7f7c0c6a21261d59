// Package topology provisions Redis Clusters and operates them.
//
// It owns the Backend interface and its two implementations (docker: one
// container per node on a network of the cluster's own; local: redis-server
// processes on distinct loopback addresses), the parsing of CLUSTER NODES,
// CLUSTER INFO, CLUSTER SHARDS and INFO, and the operator's cluster
// operations done in Go: create with a health gate, check, fix, add and
// remove node, reshard step by step, rebalance and failover. A server is a
// value (server.go): the host's redis-server, or a Redis or Valkey build
// fetched from Debian's archive with its own loader and libraries, which
// either backend runs.
//
// It may import checker/history only; everything above it imports it.
package topology
