// Package workloads owns the op generators (register, kv, set, counter,
// list-append, multikey, pipeline) and the client that executes ops through
// go-redis's ClusterClient and records every invoke and completion to the
// history (DESIGN.md's contract).
//
// It may import checker/history only, plus go-redis. (Hence it never
// computes a key's slot: where it needs keys in different slots, a test
// checks them with topology.KeySlot.)
//
// # Use
//
// Run drives the workloads of a Config until its context ends and returns a
// Summary; Final, after the cluster has healed, reads every key Run used
// (Summary.Used). Names lists the workloads.
//
// # Keys and values
//
// Every key carries the hash tag {<space>:<n>}, where the space is the
// workload's name ("pipeline-register" or "pipeline-kv" for the pipeline
// workload) and n ≥ 0, as history's table of key spaces says
// (history.Spaces, Spec.Space): the checkers find a workload's ops by it.
// Each workload uses Config.Keys tags at once; each worker sends at most
// OpsPerKey/Concurrency ops to one tag, then moves to a fresh one, so no
// key receives more than OpsPerKey ops (Jepsen's independent keys).
// Every written value is unique in the run, so a read names its writer.
// Generation is deterministic given Config.Seed and the worker's index: it
// depends on neither replies nor timing.
//
// What each workload records (f: key, invoke value → ok value):
//
//	register    {register:<n>}       read: null → int|null · write: int · cas: [old, new] (fail "cas-mismatch" when the value was not old)
//	kv          {kv:<n>}             get: null → string|null · put: "<int>;" · append: "<int>;"
//	set         {set:<n>}            add: int · read (Final; during the run only if mixed in): null → [int…] sorted
//	counter     {counter:<n>}        incr: the increment, 1…5 · read: null → int|null
//	list-append {list-append:<n>}:a|b|c  append: int · read: null → [int…] ·
//	                                 txn (MULTI/EXEC on one tag, key = :a): [["append", key, int] | ["r", key, null→[int…]]…]
//	multikey    {multikey:<n>}:a|b|c mset (key = :a): {key: int} (one value for all) · mget: null → {key: int|null} ·
//	                                 crossslot (key {multikey:-1}:a): ["mset", {key: int}] or ["mget", [key, key]] over
//	                                 {multikey:-1}:a and {multikey:-2}:a, different slots: Redis refuses with CROSSSLOT → fail
//	pipeline    {pipeline-<of>:<n>}  the ops of register or kv, sent Spec.Pipeline per go-redis pipeline
//
// Default mixes (Spec.Mix overrides): register read/write/cas 1/1/1; kv
// get/put/append 2/1/1; set add (read 0); counter incr/read 1/1;
// list-append append/read/txn 2/1/1; multikey mset/mget/crossslot 10/10/1.
//
// # Processes
//
// Each worker is one process at a time with at most one op outstanding. A
// process whose op ended in info never runs again: the worker goes on as
// process (k*Concurrency + worker)*L + lane, k counting its infos, where L
// is the longest pipeline batch (1 without the pipeline workload) and a
// batch's i-th op uses lane i. A pipeline batch records all its invokes
// before sending, and all its completions after, so its ops share the
// batch's interval.
//
// # Outcomes
//
// Classify is the one place that turns a result into ok, fail or info:
//
//	reply or error                              write   read
//	nil, redis: nil (missing key)               ok      ok
//	MOVED / ASK (redirects exhausted)           fail    fail
//	TRYAGAIN, CLUSTERDOWN, CROSSSLOT            fail    fail
//	LOADING, READONLY, MASTERDOWN               fail    fail   (Redis refuses these before executing)
//	NOSCRIPT, OOM, NOREPLICAS, BUSY, EXECABORT,
//	MISCONF, NOAUTH, NOPERM                     fail    fail
//	other error replies (ERR …, WRONGTYPE)      info    fail   (a script may have run in part)
//	dial errors (connection refused, dial
//	timeout), pool timeout, client closed       fail    fail   (nothing was sent)
//	not sent: the node stopped answering        fail    fail   (held back, routes.hold)
//	i/o timeout, context deadline exceeded      info    fail
//	context canceled                            info    fail
//	EOF, unexpected EOF                         info    fail
//	connection reset, broken pipe, closed conn  info    fail
//	anything else                               info    fail
//
// A read has no effect, so any error makes it fail, as in Jepsen. Two facts
// from the hooks refine a write's outcome: an error before any node client
// got the command (the slot map could not be loaded) is fail; and a write
// one of whose attempts ended in an unknown outcome is info, even when a
// later attempt succeeded, since the earlier one may take effect at any
// time (for INCRBY, RPUSH, APPEND it would apply twice; for SET it may land
// after a later write).
//
// # Retries
//
// go-redis retries nothing of ours: node clients have MaxRetries -1 and
// every command's NoRetry is true, so a command is never sent twice behind
// the history's back. go-redis only follows MOVED and ASK, and re-routes
// after READONLY, which prove the earlier attempt was not executed, at most
// maxRedirects (3) times per attempt. Every other retry is ours:
// Config.Retry retries the error kinds in RetryOn (default CLUSTERDOWN,
// MOVED, ASK, TRYAGAIN and connect, all proofs that nothing ran) up to
// MaxRetries times, with exponential backoff from MinBackoff to MaxBackoff
// on timers that end with the run's context. Config.OpTimeout bounds each
// wait of an attempt (for a connection, to connect, to send, for the reply)
// through go-redis's timeouts rather than a context deadline, whose timer
// cost a tenth of the client's CPU per op. An op under way when the run
// ends finishes and is recorded as what it was. Final's reads retry every
// kind.
//
// # Following the cluster
//
// go-redis reloads its slot map after MOVED/ASK and once it is older than
// ClusterStateReloadInterval (here reloadInterval, 1 s); a dead or frozen
// master answers neither. So after an error that says the route may be
// stale (staleRoute: no connection, refused, reset, timeout, EOF,
// CLUSTERDOWN) the client readies the map before the worker's next attempt
// or op (client.prepare, routes.refresh): a synchronous reload, shared by
// the workers and at most one per refreshEvery, that skips the nodes that
// just failed and waits for each node at most probeTimeout. A retry after
// a refused connection that the fresh map still routes to the same node is
// not made (the op ends fail), and a node whose last op timed out gets one
// op at a time until it answers (routes.hold). These decide only when to
// stop retrying and what not to send; the outcomes are Classify's.
//
// # Redirects and nodes
//
// A go-redis hook on every node's client (ClusterClient.OnNewNode) sees
// each attempt of our commands: the node it went to and its reply. An op's
// completion records as node the address of its last attempt, and as
// redirects the MOVED/ASK replies it got (for a MULTI/EXEC, whose redirects
// go-redis keeps to itself, the changes of node within one go-redis call).
package workloads
