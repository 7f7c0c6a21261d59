// Package history owns the op record of DESIGN.md's history contract and
// its streaming JSONL reader and writer: the small leaf package every other
// package speaks. Open is the one place that opens a run directory's
// history, history.jsonl or its gzipped form history.jsonl.gz. It also names
// the kinds of error (ErrorKind), so that the client and the statistics class
// an error alike, and the key spaces (Spaces) with the hash slot of a key
// (KeySlot), which the cluster model and the report both need.
//
// It imports nothing of this module.
package history
