// Package nemesis owns the faults: partitions, kills, pauses, failovers,
// interrupted reshards, membership changes and network quality faults,
// composed from topology's backend primitives (topology.Lifecycle,
// topology.Network) and its Admin, on a seeded schedule, each with a heal
// that the runner always calls.
//
// A fault kind is a Kind in an explicit registry (Kinds, New); injecting it
// on a Target returns a Fault, the handle that heals it. A Spec (Jepsen-style
// faults and interval, or an explicit timeline) resolves with the run's seed
// into a timeline of Actions, which Start runs beside the clients, each
// action at its own offset even while earlier ones are still being
// injected, recording every fault and heal in the history as process -1
// records; HealAll, which
// the caller defers, heals whatever is still open. Validate refuses, before
// a run, the faults that cannot run here.
//
// It may import topology and checker/history.
package nemesis
