// Package nemesis will own the faults: partitions, kills, pauses, failovers,
// interrupted reshards and network quality faults, composed from topology's
// backend primitives, on a seeded schedule, each with a heal that the runner
// always calls.
//
// It may import topology and checker/history.
package nemesis
