// Package checker will own the checkers over a history and topology samples:
// linearizable (porcupine), set, counter, list-append, multikey, slots, stats.
// A verdict is a value (true, false, "unknown") with the evidence.
//
// It may import checker/history and topology's types; never workloads or
// nemesis, so that a stored run can be judged with nothing else running.
package checker
