// Package workloads will own the op generators (register, kv, set, counter,
// list-append, multikey, pipeline) and the client that executes ops through
// go-redis's ClusterClient and records every invoke and completion.
//
// It may import checker/history only.
package workloads
