package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/reports"
)

// fakeVerdict is a fake checker result.
type fakeVerdict checker.Valid

func (v fakeVerdict) Verdict() checker.Valid { return checker.Valid(v) }

// fakeRuns is a RunFunc that makes a run dir with a results.json and
// returns what kind(n, scenario) says: valid, anomaly (set finds lost
// writes), unknown, harness, hang (ignores its context), stuck (returns
// when its context is done, as Run does).
type fakeRuns struct {
	mu      sync.Mutex
	calls   []string // "scenario/image"
	kind    func(n int, s *Scenario) string
	release chan struct{}
}

func (f *fakeRuns) run(ctx context.Context, s *Scenario, o Options) (*Outcome, error) {
	f.mu.Lock()
	f.calls = append(f.calls, s.Name+"/"+s.Cluster.Image)
	n := len(f.calls)
	f.mu.Unlock()
	if s.Seed == 0 {
		s.Seed = int64(1000 + n) // as Resolve does; Outcome.Scenario says it
	}
	switch f.kind(n, s) {
	case "harness":
		return nil, &HarnessError{Err: errors.New("cluster never became healthy: <boom & bust>")}
	case "hang":
		<-f.release
		return nil, &HarnessError{Err: errors.New("released")}
	case "stuck":
		<-ctx.Done()
		return &Outcome{Dir: filepath.Join(o.Store, s.Name, fmt.Sprint(n))}, &HarnessError{Err: errors.New("interrupted")}
	}
	dir := filepath.Join(o.Store, s.Name, fmt.Sprint(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if f.kind(n, s) == "badhistory" {
		// A history.jsonl no compressor can read.
		if err := os.Mkdir(filepath.Join(dir, history.File), 0o755); err != nil {
			return nil, err
		}
	} else if err := os.WriteFile(filepath.Join(dir, history.File), fakeHistory(n), 0o644); err != nil {
		return nil, err
	}
	setV := checker.True
	switch f.kind(n, s) {
	case "anomaly":
		setV = checker.False
	case "unknown":
		setV = checker.Unknown
	}
	rep := &checker.Report{Valid: setV, Names: []string{"set", "stats"},
		Checkers: map[string]checker.Result{"set": fakeVerdict(setV), "stats": fakeVerdict(checker.True)},
		Stats:    &checker.StatsResult{OpsPerSec: float64(100 * n)}}
	os.WriteFile(filepath.Join(dir, reports.ResultsFile), []byte(fmt.Sprintf(`{"valid":true,"nemesis":{"recovery_s":%d}}`, n)), 0o644)
	os.WriteFile(filepath.Join(dir, reports.IndexFile), []byte("<!DOCTYPE html><title>run</title>"), 0o644) // the link target soak.html names
	out := &Outcome{Dir: dir, Report: rep, Timing: fakeTiming(n), Scenario: s}
	out.Expected, out.Code = expectation(rep, s.Expect)
	return out, nil
}

// fakeHistory is run n's history.jsonl: some hundred records.
func fakeHistory(n int) []byte {
	var b strings.Builder
	for i := 0; i < 100*n; i++ {
		fmt.Fprintf(&b, `{"index":%d,"time":%d,"process":%d,"type":"invoke","f":"add","key":"{set:0}","value":%d}`+"\n", 2*i, 1000*i, i%5, i)
		fmt.Fprintf(&b, `{"index":%d,"time":%d,"process":%d,"type":"ok","f":"add","key":"{set:0}","value":%d}`+"\n", 2*i+1, 1000*i+500, i%5, i)
	}
	return []byte(b.String())
}

// fakeTiming: run n's cluster is asked for at n×100 s, healthy 2 s later,
// torn down from +50 s to +51 s; so 52 s pass from one run's teardown
// start to the next one's healthy cluster.
func fakeTiming(n int) Timing {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * 100 * time.Second)
	return Timing{ProvisionStart: t0, Healthy: t0.Add(2 * time.Second),
		TeardownStart: t0.Add(50 * time.Second), TeardownEnd: t0.Add(51 * time.Second)}
}

func scen(name string, expect map[string]bool) *Scenario {
	return &Scenario{Name: name, TimeLimit: 50 * time.Millisecond, Expect: expect}
}

func TestSoakRoundRobinAndCount(t *testing.T) {
	store := t.TempDir()
	f := &fakeRuns{kind: func(int, *Scenario) string { return "valid" }}
	var progress strings.Builder
	sum, err := Soak(context.Background(), SoakOptions{
		Scenarios: []*Scenario{scen("a", nil), scen("b", nil)}, Images: []string{"i1", "i2"},
		Count: 2, Run: Options{Store: store}, RunFunc: f.run, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "a/i1 a/i2 b/i1 b/i2 a/i1 a/i2 b/i1 b/i2"
	if got := strings.Join(f.calls, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if sum.Code != 0 || len(sum.Runs) != 8 || len(sum.Cells) != 4 || !sum.Finished {
		t.Errorf("code %d, %d runs, %d cells, finished %v", sum.Code, len(sum.Runs), len(sum.Cells), sum.Finished)
	}
	if n := strings.Count(progress.String(), "soak: run "); n != 8 {
		t.Errorf("%d progress lines, want 8:\n%s", n, progress.String())
	}
	// The run's own scenario gets a seed; the soak's is untouched.
	if sum.Runs[0].Seed != 1001 {
		t.Errorf("seed %d", sum.Runs[0].Seed)
	}
}

func TestSoakFailFast(t *testing.T) {
	for _, ff := range []bool{false, true} {
		f := &fakeRuns{kind: func(n int, _ *Scenario) string {
			if n == 2 {
				return "anomaly"
			}
			return "valid"
		}}
		sum, err := Soak(context.Background(), SoakOptions{
			Scenarios: []*Scenario{scen("a", nil)}, Count: 4, FailFast: ff,
			Run: Options{Store: t.TempDir()}, RunFunc: f.run,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 4
		if ff {
			want = 2
		}
		if len(f.calls) != want || sum.Code != 1 {
			t.Errorf("fail-fast %v: %d runs, code %d; want %d runs, code 1", ff, len(f.calls), sum.Code, want)
		}
		if ff && !strings.Contains(sum.Stopped, "fail-fast") {
			t.Errorf("stopped %q", sum.Stopped)
		}
	}
}

func TestSoakDurationEndsOnTimeWhenARunHangs(t *testing.T) {
	f := &fakeRuns{kind: func(n int, _ *Scenario) string {
		if n == 3 {
			return "hang"
		}
		return "valid"
	}, release: make(chan struct{})}
	defer close(f.release)
	start := time.Now()
	sum, err := Soak(context.Background(), SoakOptions{
		Scenarios: []*Scenario{scen("a", nil)}, Duration: 400 * time.Millisecond,
		Margin: time.Hour, Grace: 100 * time.Millisecond,
		Run: Options{Store: t.TempDir()}, RunFunc: f.run,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("soak of 400ms took %s", took)
	}
	last := sum.Runs[len(sum.Runs)-1]
	if last.Status != reports.SoakCut || !strings.Contains(last.Error, "abandoned") || !strings.Contains(last.Error, "--duration") {
		t.Errorf("last run %+v", last)
	}
	if sum.Code != 0 || len(sum.Runs) != 3 {
		t.Errorf("code %d (a cut run does not count), %d runs", sum.Code, len(sum.Runs))
	}
}

func TestSoakRunBound(t *testing.T) {
	for _, kind := range []string{"hang", "stuck"} {
		f := &fakeRuns{kind: func(int, *Scenario) string { return kind }, release: make(chan struct{})}
		start := time.Now()
		sum, err := Soak(context.Background(), SoakOptions{
			Scenarios: []*Scenario{scen("a", nil)}, Count: 2,
			Margin: 50 * time.Millisecond, Grace: 100 * time.Millisecond,
			Run: Options{Store: t.TempDir()}, RunFunc: f.run,
		})
		close(f.release)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %s", kind, took)
		}
		if sum.Code != 3 || len(sum.Runs) != 2 {
			t.Fatalf("%s: code %d, %d runs", kind, sum.Code, len(sum.Runs))
		}
		r := sum.Runs[0]
		if r.Status != reports.SoakHarness || !strings.Contains(r.Error, "exceeded its bound") {
			t.Errorf("%s: %+v", kind, r)
		}
		if kind == "hang" && !strings.Contains(r.Error, "abandoned") {
			t.Errorf("hang: %q", r.Error)
		}
	}
}

func TestSoakExitCodes(t *testing.T) {
	lost := map[string]bool{"set": false}
	for _, tc := range []struct {
		kinds  []string
		expect map[string]bool
		want   int
	}{
		{[]string{"valid", "valid"}, nil, 0},
		{[]string{"anomaly", "anomaly"}, lost, 0}, // expected anomalies found
		{[]string{"valid", "anomaly"}, lost, 1},   // one missed
		{[]string{"harness", "anomaly"}, nil, 1},  // an anomaly wins over harness errors
		{[]string{"harness", "unknown"}, nil, 3},
		{[]string{"unknown", "valid"}, nil, 2},
	} {
		f := &fakeRuns{kind: func(n int, _ *Scenario) string { return tc.kinds[n-1] }}
		sum, err := Soak(context.Background(), SoakOptions{
			Scenarios: []*Scenario{scen("a", tc.expect)}, Count: len(tc.kinds),
			Run: Options{Store: t.TempDir()}, RunFunc: f.run,
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Code != tc.want {
			t.Errorf("%v expect %v: code %d, want %d", tc.kinds, tc.expect, sum.Code, tc.want)
		}
	}
}

func TestSoakJSON(t *testing.T) {
	store := t.TempDir()
	f := &fakeRuns{kind: func(n int, s *Scenario) string {
		switch {
		case s.Name == "lost" && n != 3:
			return "anomaly"
		case n == 4:
			return "harness"
		}
		return "valid"
	}}
	_, err := Soak(context.Background(), SoakOptions{
		Scenarios: []*Scenario{scen("lost", map[string]bool{"set": false}), scen("ok", nil)}, Count: 2,
		Run: Options{Store: store}, RunFunc: f.run, Args: map[string]string{"count": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := readSoakJSON(t, store)
	// Runs: 1 lost (anomaly, detected), 2 ok valid, 3 lost valid (missed), 4 ok harness error.
	if len(s.Runs) != 4 || !s.Finished || s.RSSStartKB <= 0 || s.RSSEndKB <= 0 || s.Code != 1 || s.Args["count"] != "2" {
		t.Fatalf("soak.json: %d runs, finished %v, rss %d/%d, code %d, args %v", len(s.Runs), s.Finished, s.RSSStartKB, s.RSSEndKB, s.Code, s.Args)
	}
	if len(s.Cells) != 2 {
		t.Fatalf("cells %+v", s.Cells)
	}
	lost, ok := s.Cells[0], s.Cells[1]
	if lost.Scenario != "lost" || lost.Runs != 2 || lost.Invalid != 1 || lost.Valid != 1 || lost.DetectionRate == nil || *lost.DetectionRate != 0.5 {
		t.Errorf("lost cell %+v", lost)
	}
	if lost.RecoveryMeanS == nil || *lost.RecoveryMeanS != 2 || *lost.RecoveryMaxS != 3 || *lost.OpsPerSecMean != 200 {
		t.Errorf("lost cell measures %+v", lost)
	}
	if ok.Scenario != "ok" || ok.Valid != 1 || ok.HarnessError != 1 || ok.DetectionRate != nil || *ok.OpsPerSecMean != 200 {
		t.Errorf("ok cell %+v", ok)
	}
	if r := s.Runs[2]; len(r.Missed) != 1 || r.Missed[0] != "set" || r.Detected || r.Code != 1 {
		t.Errorf("missed run %+v", r)
	}
	if r := s.Runs[0]; !r.Detected || r.Dir != "lost/1" || r.Code != 0 {
		t.Errorf("detected run %+v", r)
	}
	if r := s.Runs[3]; r.Status != reports.SoakHarness || !strings.Contains(r.Error, "never became healthy") {
		t.Errorf("harness run %+v", r)
	}
	// Between runs: none before the first run and none for the harness
	// error (no cluster); 52 s from run 1's teardown to run 2's healthy
	// cluster, and from run 2's to run 3's.
	secs := func(f *float64) string {
		if f == nil {
			return "-"
		}
		return fmt.Sprint(*f)
	}
	var got []string
	for _, r := range s.Runs {
		got = append(got, secs(r.ProvisionS)+"/"+secs(r.TeardownS)+"/"+secs(r.OverheadS))
	}
	if want := "2/1/- 2/1/52 2/1/52 -/-/-"; strings.Join(got, " ") != want {
		t.Errorf("provision/teardown/overhead per run: %s, want %s", strings.Join(got, " "), want)
	}
	if secs(s.OverheadMeanS) != "52" || secs(s.OverheadMaxS) != "52" {
		t.Errorf("overhead mean %s max %s, want 52 and 52", secs(s.OverheadMeanS), secs(s.OverheadMaxS))
	}
	for _, r := range s.Runs {
		if r.RSSKB <= 0 || r.HeapKB <= 0 || r.Goroutines <= 0 {
			t.Errorf("run %d: rss %d kB, heap %d kB, %d goroutines: not measured", r.N, r.RSSKB, r.HeapKB, r.Goroutines)
		}
	}
	if s.RSSMaxKB < s.Runs[0].RSSKB || s.HeapFirstKB != s.Runs[0].HeapKB || s.HeapLastKB != s.Runs[3].HeapKB {
		t.Errorf("rss max %d, heap first %d last %d; runs %+v", s.RSSMaxKB, s.HeapFirstKB, s.HeapLastKB, s.Runs)
	}
	for _, f := range []string{reports.SoakHTML, reports.SoakJUnit} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestSoakInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRuns{kind: func(n int, _ *Scenario) string {
		if n == 2 {
			cancel()
			return "stuck"
		}
		return "valid"
	}}
	sum, err := Soak(ctx, SoakOptions{
		Scenarios: []*Scenario{scen("a", nil)}, Count: 5,
		Run: Options{Store: t.TempDir()}, RunFunc: f.run,
	})
	if !IsHarnessError(err) || len(sum.Runs) != 2 || sum.Runs[1].Status != reports.SoakCut || sum.Stopped != "interrupted" {
		t.Errorf("err %v, runs %+v, stopped %q", err, sum.Runs, sum.Stopped)
	}
}

func TestSoakStopsWhenTheEnvironmentIsBroken(t *testing.T) {
	f := &fakeRuns{kind: func(int, *Scenario) string { return "harness" }}
	sum, err := Soak(context.Background(), SoakOptions{
		Scenarios: []*Scenario{scen("a", nil)}, Duration: time.Hour, MaxHarnessErrors: 3,
		Run: Options{Store: t.TempDir()}, RunFunc: f.run,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Runs) != 3 || sum.Code != 3 || !strings.Contains(sum.Stopped, "in a row") {
		t.Errorf("%d runs, code %d, stopped %q", len(sum.Runs), sum.Code, sum.Stopped)
	}
}

// TestSoakServers: --servers runs every scenario on each server, and the
// cells and soak.html keep them apart, with the server each run's nodes
// reported.
func TestSoakServers(t *testing.T) {
	store := t.TempDir()
	var servers []string
	f := &fakeRuns{kind: func(int, *Scenario) string { return "valid" }}
	run := func(ctx context.Context, s *Scenario, o Options) (*Outcome, error) {
		servers = append(servers, s.Cluster.Server)
		out, err := f.run(ctx, s, o)
		if err == nil {
			label := map[string]string{"redis-8.0.2": "Redis 8.0.2", "valkey-8.1.1": "Valkey 8.1.1"}[s.Cluster.Server]
			os.WriteFile(filepath.Join(out.Dir, checker.ServerFile), []byte(`{"name":"`+s.Cluster.Server+`","server":"x","version":"y","label":"`+label+`"}`), 0o644)
		}
		return out, err
	}
	sum, err := Soak(context.Background(), SoakOptions{
		Scenarios: []*Scenario{scen("a", nil), scen("b", nil)}, Servers: []string{"redis-8.0.2", "valkey-8.1.1"},
		Count: 1, Run: Options{Store: store}, RunFunc: run,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(servers, " "), "redis-8.0.2 valkey-8.1.1 redis-8.0.2 valkey-8.1.1"; got != want {
		t.Errorf("servers in order %q, want %q", got, want)
	}
	if len(sum.Cells) != 4 {
		t.Fatalf("%d cells, want 4 (scenario × server)", len(sum.Cells))
	}
	for _, c := range sum.Cells {
		want := map[string]string{"redis-8.0.2": "Redis 8.0.2", "valkey-8.1.1": "Valkey 8.1.1"}[c.Server]
		if c.Reported != want || c.Runs != 1 {
			t.Errorf("cell %s/%s: reported %q, %d runs; want %q, 1", c.Scenario, c.Server, c.Reported, c.Runs, want)
		}
	}
	html, err := os.ReadFile(filepath.Join(store, reports.SoakHTML))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "valkey-8.1.1 (Valkey 8.1.1)") || !strings.Contains(string(html), "redis-8.0.2 (Redis 8.0.2)") {
		t.Errorf("soak.html does not name the servers")
	}
}
