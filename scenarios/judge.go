package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/reports"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/workloads"
)

// Outcome is what a run (or a re-check) concluded.
type Outcome struct {
	Dir string
	// Scenario is the scenario as the run resolved it (its scenario.yaml:
	// defaults filled, seed fixed); nil from Judge alone.
	Scenario *Scenario
	Report   *checker.Report
	// Expected is what the scenario declared and whether it was met.
	Expected checker.Expectation
	// Code is the exit code: 0 valid or expectation met, 1 anomalies, 2 unknown.
	Code int
	// Interrupted says why the run stopped early ("" when it ran to its
	// end): then the verdict is unknown and Code 2, whatever the checkers
	// found on the history so far.
	Interrupted string
	// Timing is when the cluster was asked for, became healthy, and was
	// torn down (zero where a phase did not happen: --addr, --keep, or a
	// run that failed before it).
	Timing Timing
}

// Timing is a run's provisioning and teardown, for the soak's measure of
// the overhead between runs.
type Timing struct {
	ProvisionStart, Healthy    time.Time
	TeardownStart, TeardownEnd time.Time
}

// ProvisionS is how long the cluster took from the request to healthy.
func (t Timing) ProvisionS() (float64, bool) {
	if t.ProvisionStart.IsZero() || t.Healthy.IsZero() {
		return 0, false
	}
	return t.Healthy.Sub(t.ProvisionStart).Seconds(), true
}

// TeardownS is how long the teardown took.
func (t Timing) TeardownS() (float64, bool) {
	if t.TeardownStart.IsZero() || t.TeardownEnd.IsZero() {
		return 0, false
	}
	return t.TeardownEnd.Sub(t.TeardownStart).Seconds(), true
}

// Judge checks the run dir's history with the checkers of s's workloads
// (every client op counted as workload only, when only is set), writes
// results.json, junit.xml and the report (index.html and plots), and says
// whether s's expectation was met.
func Judge(ctx context.Context, dir string, s *Scenario, only string) (*Outcome, error) {
	in, err := checker.Load(dir)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	in.Expect = topology.Expect{Replicas: s.Cluster.Replicas}
	names := spaceNames(s.Client)
	if only != "" {
		names = []string{only}
	}
	opts := checker.Options{CheckTimeout: s.Check.Timeout, Only: only}
	if s.Check.Memory != "" {
		if opts.CheckMemory, err = checker.ParseSize(s.Check.Memory); err != nil {
			return nil, &HarnessError{Err: fmt.Errorf("check.memory: %w", err)}
		}
	}
	checkers, err := checker.ForWorkloads(names, opts)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	if _, err := os.Stat(filepath.Join(dir, checker.TopologyFile)); err != nil && only != "" {
		// A history from elsewhere comes with no topology samples: slot
		// coverage cannot be judged, and saying "unknown" about it would
		// turn every such check into exit 2. Load's warning says so.
		checkers = slices.DeleteFunc(checkers, func(c checker.Checker) bool { return c.Name() == "slots" })
	}
	why, err := interruption(dir, in.Ops)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	rep := checker.Check(ctx, in, checkers)
	out := &Outcome{Dir: dir, Report: rep, Interrupted: why}
	out.Expected, out.Code = expectation(rep, s.Expect)
	res, err := rep.Results()
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	if why != "" {
		// The checkers' verdicts on the history so far stay in results.json
		// for reading, but the run's is unknown: its end (the final reads,
		// the converged view) never came.
		res.Valid = checker.Unknown
		out.Code = 2
		out.Expected.Met = false
		out.Expected.Failures = append([]string{"the run was interrupted: " + why}, out.Expected.Failures...)
	}
	res.Expected = &out.Expected
	res.Nemesis = readNemesis(dir)
	if rec, ok := checker.ReadServer(dir); ok {
		res.Server = &rec
	}
	res.Interrupted, res.InterruptedReason = why != "", why
	b, err := json.MarshalIndent(res, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, checker.ResultsFile), append(b, '\n'), 0o644)
	}
	if err == nil {
		err = reports.WriteJUnit(filepath.Join(dir, "junit.xml"), junitSuite(s, rep, res, out.Expected, why))
	}
	if err != nil {
		return nil, harnessErr("write results: %w", err)
	}
	if err := reports.WriteFrom(dir, &reports.Loaded{Ops: in.Ops, File: filepath.Base(in.HistoryPath), Truncated: in.Truncated}); err != nil {
		return nil, harnessErr("write the report: %w", err)
	}
	return out, nil
}

// spaceNames are the key spaces c's workloads write, which say the
// checkers that judge them (history.Spaces).
func spaceNames(c workloads.Config) []string {
	var out []string
	for _, w := range c.Workloads {
		if sp, ok := w.Space(); ok {
			out = append(out, sp.Name)
		} else {
			out = append(out, w.Name) // ForWorkloads says what is wrong with it
		}
	}
	return out
}

// expectation compares the verdicts with what the scenario declared; a
// checker not named must be valid. A definite mismatch is exit 1; failing
// only through unknown verdicts is exit 2.
func expectation(rep *checker.Report, declared map[string]bool) (checker.Expectation, int) {
	e := checker.Expectation{Checkers: declared, Failures: []string{}}
	if e.Checkers == nil {
		e.Checkers = map[string]bool{}
	}
	code := 0
	for _, name := range rep.Names {
		v := rep.Checkers[name].Verdict()
		want, named := declared[name]
		if !named {
			want = true
		}
		switch {
		case v == checker.Unknown:
			e.Failures = append(e.Failures, fmt.Sprintf("%s: unknown, expected %s", name, verdictWord(want)))
			if code == 0 {
				code = 2
			}
		case (v == checker.True) != want:
			e.Failures = append(e.Failures, fmt.Sprintf("%s: %s, expected %s", name, v, verdictWord(want)))
			code = 1
		}
	}
	var missing []string
	for name := range declared {
		if _, ok := rep.Checkers[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		e.Failures = append(e.Failures, fmt.Sprintf("%s: expected %s, but no such checker ran", name, verdictWord(declared[name])))
		code = 1
	}
	e.Met = len(e.Failures) == 0
	return e, code
}

func verdictWord(valid bool) string {
	if valid {
		return "valid"
	}
	return "invalid"
}

// junitSuite is one testsuite per run, one testcase per checker and one
// for the expectation. An interrupted run (why) fails only the
// expectation, saying why: its checkers judged a history without its end.
func junitSuite(s *Scenario, rep *checker.Report, res checker.Results, e checker.Expectation, why string) reports.Suite {
	suite := reports.Suite{Name: s.Name}
	for _, name := range rep.Names {
		tc := reports.Case{Name: name}
		if v := rep.Checkers[name].Verdict(); v != checker.True {
			// The result as results.json has it: its evidence already cut.
			tc.Failure = &reports.Failure{Message: fmt.Sprintf("%s: %s", name, v), Text: string(res.Checkers[name])}
			if _, declared := e.Checkers[name]; declared && !e.Checkers[name] && v == checker.False {
				tc.Failure = nil // the anomaly the scenario is meant to find
				tc.Output = fmt.Sprintf("%s is invalid, as the scenario expects", name)
			}
			if why != "" && tc.Failure != nil {
				tc.Failure = nil
				tc.Output = fmt.Sprintf("%s: %s on the history so far; not a verdict: the run was interrupted (%s)", name, v, why)
			}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	exp := reports.Case{Name: "expectation"}
	if !e.Met {
		exp.Failure = &reports.Failure{Message: fmt.Sprintf("%d expectation(s) not met", len(e.Failures)), Text: fmt.Sprint(e.Failures)}
		if why != "" {
			exp.Failure.Message = "interrupted: " + why
		}
	}
	suite.Cases = append(suite.Cases, exp)
	return suite
}
