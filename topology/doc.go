// Package topology provisions Redis Clusters and operates them.
//
// It owns the Backend interface and its two implementations (docker: one
// container per node on a network of the cluster's own; local: redis-server
// processes on distinct loopback addresses), the parsing of CLUSTER NODES,
// CLUSTER INFO, CLUSTER SHARDS and INFO, and the operator's cluster
// operations done in Go: create with a health gate, check, fix, add and
// remove node, reshard step by step, rebalance and failover.
//
// It may import checker/history only; everything above it imports it.
package topology
