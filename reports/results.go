package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// The run directory's files the report reads besides the history and the
// topology samples (DESIGN.md's run-directory contract).
const (
	ResultsFile  = "results.json"
	ScenarioFile = "scenario.yaml"
	IndexFile    = "index.html"
	JUnitFile    = "junit.xml"
	HarnessLog   = "harness.log"
)

// results is results.json as the report reads it: the verdicts, each
// checker's evidence still encoded (decoded by the section that shows it),
// the stats and the expectation. Checked is false when there is no
// results.json: the run was never judged.
type results struct {
	Checked  bool
	Valid    checker.Valid
	Checkers map[string]json.RawMessage
	Stats    *checker.StatsResult
	Expected *expectation
	// Nemesis is results.json's "nemesis", when the run had one.
	Nemesis *nemesisResults
	// Interrupted is why the run stopped early ("" when it did not): its
	// verdict is unknown, whatever its checkers found.
	Interrupted string
	// Other holds top-level fields the report does not know, shown raw.
	Other map[string]json.RawMessage
}

// expectation is results.json's "expected" (scenarios.Expectation's shape,
// read as data: reports does not import scenarios).
type expectation struct {
	Checkers map[string]bool `json:"checkers"`
	Met      bool            `json:"met"`
	Failures []string        `json:"failures"`
}

// nemesisResults is results.json's "nemesis" (the run's NemesisReport,
// read as data): each action's fault, when it took effect and how long its
// heal took, and how long the cluster took to recover after the last heal.
type nemesisResults struct {
	Actions []struct {
		Action struct {
			Do     string `json:"do"`
			Target string `json:"target"`
		} `json:"action"`
		Fault     string `json:"fault"`
		Effect    int64  `json:"effect_ns"`
		Error     string `json:"error"`
		Healed    int64  `json:"healed_ns"`
		HealTook  int64  `json:"heal_took_ns"`
		HealError string `json:"heal_error"`
	} `json:"actions"`
	RecoveryS    float64 `json:"recovery_s"`
	Healthy      bool    `json:"healthy"`
	MaxLatencyMS float64 `json:"max_latency_ms"`
}

// readResults reads dir/results.json; a missing file is not an error.
func readResults(dir string) (*results, error) {
	path := filepath.Join(dir, ResultsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &results{Valid: checker.Unknown}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &results{Checked: true, Valid: checker.Unknown, Checkers: map[string]json.RawMessage{}, Other: map[string]json.RawMessage{}}
	for k, v := range all {
		var err error
		switch k {
		case "valid":
			err = json.Unmarshal(v, &r.Valid)
		case "checkers":
			err = json.Unmarshal(v, &r.Checkers)
		case "stats":
			if !isNull(v) {
				r.Stats = &checker.StatsResult{}
				err = json.Unmarshal(v, r.Stats)
			}
		case "nemesis":
			if !isNull(v) {
				r.Nemesis = &nemesisResults{}
				err = json.Unmarshal(v, r.Nemesis)
			}
		case "interrupted":
			var b bool
			if err = json.Unmarshal(v, &b); err == nil && b && r.Interrupted == "" {
				r.Interrupted = "no reason recorded"
			}
		case "interrupted_reason":
			var why string
			if err = json.Unmarshal(v, &why); err == nil && why != "" {
				r.Interrupted = why
			}
		case "expected":
			if !isNull(v) {
				r.Expected = &expectation{}
				err = json.Unmarshal(v, r.Expected)
			}
		default:
			r.Other[k] = v
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, k, err)
		}
	}
	return r, nil
}

func isNull(b json.RawMessage) bool {
	return len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null"
}

// checkerOrder is the order of the checker sections: the checkers of key
// spaces as history's table orders them (checker.ForWorkloads too), then
// slots, recovery and stats, then any other name alphabetically.
var checkerOrder = history.Checkers()

func orderedCheckers(m map[string]json.RawMessage) []string {
	rank := map[string]int{}
	for i, n := range checkerOrder {
		rank[n] = i
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return names[i] < names[j]
	})
	return names
}

// verdictOf reads a checker result's "valid" and "reason", whatever its kind.
func verdictOf(raw json.RawMessage) (checker.Valid, string) {
	var v struct {
		Valid  checker.Valid `json:"valid"`
		Reason string        `json:"reason"`
	}
	v.Valid = checker.Unknown // a result with no "valid" proves nothing
	if err := json.Unmarshal(raw, &v); err != nil {
		return checker.Unknown, "results.json: " + err.Error()
	}
	return v.Valid, v.Reason
}
