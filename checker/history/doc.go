// Package history will own the op record of DESIGN.md's history contract and
// its streaming JSONL reader and writer: the small leaf package every other
// package speaks.
//
// It imports nothing of this module.
package history
