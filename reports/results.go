package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// The run directory's files the report reads besides the history and the
// topology samples (DESIGN.md's run-directory contract).
const (
	ResultsFile  = checker.ResultsFile
	ScenarioFile = "scenario.yaml"
	IndexFile    = "index.html"
	JUnitFile    = "junit.xml"
	HarnessLog   = "harness.log"
)

// results is results.json as the report reads it: checker.Results, the
// one definition of its shape, with what the report adds to it. Checked is
// false when there is no results.json: the run was never judged.
type results struct {
	checker.Results
	Checked bool
	// StatsResult is Results.Stats decoded (nil when there are none).
	StatsResult *checker.StatsResult
	// Why is why the run stopped early ("" when it did not): its verdict
	// is unknown, whatever its checkers found.
	Why string
	// Other holds top-level fields the report does not know, shown raw.
	Other map[string]json.RawMessage
}

// knownFields are results.json's top-level names that checker.Results
// declares, read from its tags: every other one is shown raw.
var knownFields = func() map[string]bool {
	known := map[string]bool{}
	t := reflect.TypeOf(checker.Results{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	return known
}()

// readResults reads dir/results.json; a missing file is not an error.
func readResults(dir string) (*results, error) {
	path := filepath.Join(dir, ResultsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &results{Results: checker.Results{Valid: checker.Unknown}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	r := &results{Checked: true, Results: checker.Results{Valid: checker.Unknown}, Other: map[string]json.RawMessage{}}
	if err := json.Unmarshal(b, &r.Results); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range all {
		if !knownFields[k] {
			r.Other[k] = v
		}
	}
	if r.Checkers == nil {
		r.Checkers = map[string]json.RawMessage{}
	}
	if !isNull(r.Stats) {
		r.StatsResult = &checker.StatsResult{}
		if err := json.Unmarshal(r.Stats, r.StatsResult); err != nil {
			return nil, fmt.Errorf("%s: \"stats\": %w", path, err)
		}
	}
	switch {
	case r.InterruptedReason != "":
		r.Why = r.InterruptedReason
	case r.Interrupted:
		r.Why = "no reason recorded"
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
