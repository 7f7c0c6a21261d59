// Package checker owns the checkers over a history and topology samples:
// linearizable (per key: a walk in time order, then porcupine's search),
// set, counter, list-append, multikey, slots and stats; Check composes
// their verdicts into results.json and Load reads a run directory back, so
// that a stored run can be judged again.
// Results (results.go) is results.json's one definition, with the records
// the run writes beside it (nemesis.json, server.json): the run writes them
// and the report reads them through these types.
//
// A verdict is a value (true, false, "unknown") with its evidence, never an
// error. Soundness comes first: a checker reports an anomaly only when the
// history proves it under Jepsen's semantics (ok happened, fail did not,
// info may have happened at any time after its invocation), and says
// unknown, with the reason, when it cannot decide.
//
// A checker finds its ops in a mixed history by their key's space, the
// name in its hash tag {<space>:<n>} (history.SpaceOf), as history's table
// of key spaces assigns spaces to checkers (history.Spaces); or it takes
// every op with Options.Only.
//
// It may import checker/history and topology's types; never workloads or
// nemesis, so that a stored run can be judged with nothing else running.
package checker
