package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
)

// Report is what Check found: the composed verdict and every checker's
// result. It marshals to results.json's shape (DESIGN.md): {"valid": …,
// "checkers": {"<name>": {…}}, "stats": {…}}.
type Report struct {
	// Valid is the worst of the checkers' verdicts.
	Valid Valid
	// Names are the checkers in the order they ran; Checkers their results by name.
	Names    []string
	Checkers map[string]Result
	// Stats is the stats checker's result, computed even when no stats
	// checker ran: results.json always has it.
	Stats *StatsResult
	// Warnings are the input's (Input.Warnings).
	Warnings []string
}

// Check runs the checkers over in, one after the other (the linearizable
// checker uses every core on its own). A checker that panics yields an
// unknown verdict naming the panic instead of taking the others down. Two
// checkers of one name are a programming error and panic.
func Check(ctx context.Context, in *Input, checkers []Checker) *Report {
	r := &Report{Valid: True, Checkers: map[string]Result{}, Warnings: in.Warnings}
	for _, c := range checkers {
		name := c.Name()
		if _, dup := r.Checkers[name]; dup {
			panic(fmt.Sprintf("checker: two checkers named %q", name))
		}
		res := runChecker(ctx, c, in)
		r.Names = append(r.Names, name)
		r.Checkers[name] = res
		r.Valid = Worst(r.Valid, res.Verdict())
		if s, ok := res.(*StatsResult); ok && r.Stats == nil {
			r.Stats = s
		}
	}
	if r.Stats == nil {
		r.Stats = ComputeStats(in)
	}
	return r
}

// PanicResult stands for a checker that panicked.
type PanicResult struct {
	Valid  Valid  `json:"valid"`
	Reason string `json:"reason"`
	Stack  string `json:"stack"`
}

// Verdict is Unknown.
func (r *PanicResult) Verdict() Valid { return r.Valid }

func runChecker(ctx context.Context, c Checker, in *Input) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = &PanicResult{Valid: Unknown, Reason: fmt.Sprintf("the %s checker panicked: %v", c.Name(), p), Stack: string(debug.Stack())}
		}
	}()
	res = c.Check(ctx, in)
	if res == nil {
		res = &PanicResult{Valid: Unknown, Reason: fmt.Sprintf("the %s checker returned no result", c.Name())}
	}
	return res
}

// Results is the report as results.json's struct, for a caller that adds
// "expected" before writing it. Evidence in it is cut (encodeCut): every
// output made from it is bounded whatever the history holds.
func (r *Report) Results() (Results, error) {
	out := Results{Valid: r.Valid, Checkers: map[string]json.RawMessage{}}
	for _, name := range r.Names {
		b, err := encodeCut(r.Checkers[name])
		if err != nil {
			return out, fmt.Errorf("encode the %s result: %w", name, err)
		}
		out.Checkers[name] = b
	}
	b, err := encodeCut(r.Stats)
	if err != nil {
		return out, fmt.Errorf("encode stats: %w", err)
	}
	out.Stats = b
	return out, nil
}

// MarshalJSON writes results.json's object.
func (r *Report) MarshalJSON() ([]byte, error) {
	res, err := r.Results()
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}
