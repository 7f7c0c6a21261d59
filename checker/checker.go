package checker

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// Valid is a verdict: true, false, or unknown. It marshals as JSON true,
// false or "unknown" (results.json's contract).
type Valid int

// The verdicts, ordered so that the worst is the largest.
const (
	True Valid = iota
	Unknown
	False
)

// Worst composes verdicts: false > unknown > true.
func Worst(vs ...Valid) Valid {
	w := True
	for _, v := range vs {
		if v > w {
			w = v
		}
	}
	return w
}

func (v Valid) String() string {
	switch v {
	case True:
		return "valid"
	case False:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON writes true, false or "unknown".
func (v Valid) MarshalJSON() ([]byte, error) {
	switch v {
	case True:
		return []byte("true"), nil
	case False:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON reads true, false or "unknown".
func (v *Valid) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = True
	case "false":
		*v = False
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("verdict %s: want true, false or \"unknown\"", b)
	}
	return nil
}

// Input is what checkers judge: the history and the topology samples.
type Input struct {
	// Ops is the whole history in file order (client and nemesis records).
	Ops []history.Op
	// Operations pairs the client records (history.Pair).
	Operations []history.Operation
	// Topology is topology.jsonl's samples, in time order (may be empty).
	Topology []topology.Sample
	// Expect is what the cluster should look like at the end (slots checker).
	Expect topology.Expect
	// Dir is the run directory, where a checker may write files of its own
	// (linearizability.html); empty when nothing should be written.
	Dir string
	// HistoryPath is the history file Load read (history.jsonl or
	// history.jsonl.gz); Truncated is what its reader said about a cut
	// last line (empty: none), which Warnings has too, for people.
	HistoryPath string
	Truncated   string
	// Warnings are what Load tolerated in the run's files (a last line cut
	// short by a run that died mid-write, no topology.jsonl).
	Warnings []string
}

// Result is one checker's verdict and its evidence: a struct of its own
// that marshals to results.json's checkers.<name> object, "valid" included.
type Result interface {
	Verdict() Valid
}

// Checker judges a history. A verdict is a value, never an error: only I/O
// fails, and a checker that cannot decide says Unknown with the reason.
type Checker interface {
	Name() string
	Check(ctx context.Context, in *Input) Result
}

// Judging is a result that says, by key space, how many client ops its
// checker judged: the proof that a workload's ops reached their checker.
type Judging interface {
	Result
	Judged() map[string]int
}

// judgedSpace is the space an op of key counts for in a result's
// ops_judged: only's, when every op is judged as that workload.
func judgedSpace(only, key string) string {
	if only != "" {
		return only
	}
	return history.SpaceOf(key)
}

// Judged is OpsJudged.
func (r *LinearizableResult) Judged() map[string]int { return r.OpsJudged }

// Judged is OpsJudged.
func (r *SetResult) Judged() map[string]int { return r.OpsJudged }

// Judged is OpsJudged.
func (r *CounterResult) Judged() map[string]int { return r.OpsJudged }

// Judged is OpsJudged.
func (r *ListAppendResult) Judged() map[string]int { return r.OpsJudged }

// Judged is OpsJudged.
func (r *MultikeyResult) Judged() map[string]int { return r.OpsJudged }
