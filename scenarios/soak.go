package scenarios

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/reports"
)

// RunFunc carries out one run; Run is the real one, tests pass fakes.
type RunFunc func(ctx context.Context, s *Scenario, o Options) (*Outcome, error)

// SoakOptions configure a soak: which scenarios on which images, for how
// many runs or how long, and the options every run gets.
type SoakOptions struct {
	// Scenarios are run round-robin; each run gets a fresh copy (and, with
	// no fixed seed, a fresh seed, or its position's seed under SeedBase).
	Scenarios []*Scenario
	// Images, when given, set each run's cluster image: the soak goes
	// round-robin over scenario × image. Empty: the scenario's own image.
	Images []string
	// Servers, when given, set each run's cluster server (a build's name
	// or a path): the soak goes round-robin over scenario × image × server.
	// Empty: the scenario's own server.
	Servers []string
	// Count is the runs per scenario × image × server (0: no limit, Duration bounds).
	Count int
	// Duration bounds the soak (0: no limit, Count bounds). No run starts
	// when the time left would not hold its time limit plus the overhead
	// seen so far; a run still going at the end is cut (status cut, not
	// counted in the verdict).
	Duration time.Duration
	// FailFast stops after the first run whose exit code is not 0.
	FailFast bool
	// Run is passed to every run (Store is the soak's store).
	Run Options
	// Margin is added to each run's time limit to bound it (0: the
	// scenario's health timeout twice + its check timeout + 1 min).
	Margin time.Duration
	// Grace is how long a run may take to return once its context is done
	// (teardown) before the soak abandons it (0: 2 min).
	Grace time.Duration
	// MaxHarnessErrors stops the soak after this many harness errors in a
	// row: the environment is broken, and hours of instant failures would
	// say nothing more (0: 5).
	MaxHarnessErrors int
	// Args are the soak's settings as shown in soak.json.
	Args map[string]string
	// RunFunc is the run (nil: Run).
	RunFunc RunFunc
	// Progress gets one line per run (nil: nothing).
	Progress io.Writer
	// GzipHistory compresses each run's history.jsonl into
	// history.jsonl.gz (see the function GzipHistory) once the run is
	// judged and torn down: in the background while the next run goes,
	// one at a time (the next waits for the previous), the last one
	// awaited before the final summary. A run abandoned past Grace is left
	// alone: it may still be writing.
	GzipHistory bool
	// Shard, when set, makes only this shard's positions of the run list
	// (see Shard); the zero value makes them all.
	Shard Shard
	// SeedBase, when not 0, gives the run at position p of the run list
	// the seed RunSeed(SeedBase, p) unless its scenario fixes one: the
	// same runs with the same seeds however the list is sharded. 0: each
	// run picks its own seed.
	SeedBase int64
	// Settings are the settings that shape each run beyond the scenarios
	// (time limit, nemesis, backend…, as the CLI names them): recorded in
	// soak.json's plan, so that only shards of one soak merge.
	Settings map[string]string
}

// Soak runs the scenarios round-robin until Count runs of each scenario ×
// image were made or Duration is over, rewriting store/soak.json,
// soak.html and soak-junit.xml after every run. It returns the summary
// and its exit code (reports.SoakCode). The error is only for a summary
// that could not be written or an interrupt (ctx done).
func Soak(ctx context.Context, o SoakOptions) (*reports.Soak, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	sk := newSoaker(o)
	if err := sk.write(); err != nil {
		return sk.sum, err
	}
	defer sk.gz.finish(sk.sum) // on the early returns: the history is whole either way
	stopped, err := sk.rounds(ctx)
	if err != nil {
		return sk.sum, err
	}
	sk.gz.finish(sk.sum)
	sk.sum.Finished = true
	sk.sum.Stopped = stopped
	if err := sk.write(); err != nil {
		return sk.sum, err
	}
	if ctx.Err() != nil {
		return sk.sum, &HarnessError{Err: fmt.Errorf("soak interrupted after %d runs; the summary so far is in %s", len(sk.sum.Runs), filepath.Join(o.Run.Store, reports.SoakHTML))}
	}
	return sk.sum, nil
}

// withDefaults fills o's zero values and says what makes no soak at all.
func (o SoakOptions) withDefaults() (SoakOptions, error) {
	if o.RunFunc == nil {
		o.RunFunc = Run
	}
	if o.Run.Store == "" {
		o.Run.Store = "store"
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.MaxHarnessErrors <= 0 {
		o.MaxHarnessErrors = 5
	}
	if len(o.Scenarios) == 0 {
		return o, &HarnessError{Err: errors.New("soak: no scenarios")}
	}
	if err := o.Shard.validate(); err != nil {
		return o, &HarnessError{Err: fmt.Errorf("soak: %w", err)}
	}
	if o.Count <= 0 && o.Duration <= 0 {
		o.Count = 1
	}
	if len(o.Images) == 0 {
		o.Images = []string{""}
	}
	if len(o.Servers) == 0 {
		o.Servers = []string{""}
	}
	if err := os.MkdirAll(o.Run.Store, 0o755); err != nil {
		return o, &HarnessError{Err: fmt.Errorf("soak: %w", err)}
	}
	return o, nil
}

// soaker is a soak under way: the summary, and what one run leaves for
// the next.
type soaker struct {
	o        SoakOptions
	sum      *reports.Soak
	deadline time.Time // zero: no --duration
	// overhead is the largest run wall time beyond its time limit so far;
	// prevTeardown when the previous run's teardown started.
	overhead     time.Duration
	prevTeardown time.Time
	gz           *gzipQueue
	// n is the latest run's position in the run list (1-based), harnessRow
	// the harness errors in a row.
	n, harnessRow int
}

func newSoaker(o SoakOptions) *soaker {
	start := time.Now()
	sk := &soaker{o: o, gz: &gzipQueue{progress: o.Progress},
		sum: &reports.Soak{Started: start.UTC(), Args: o.Args, RSSStartKB: RSSKB(), Runs: []reports.SoakRun{}, Plan: o.plan()}}
	if o.Shard.N > 0 {
		sk.sum.Shard = &reports.SoakShard{Index: o.Shard.I, Of: o.Shard.N}
	}
	if o.Duration > 0 {
		sk.deadline = start.Add(o.Duration)
	}
	return sk
}

// write rewrites the summary files.
func (sk *soaker) write() error {
	sk.sum.RSSEndKB = RSSKB()
	if err := reports.WriteSoak(sk.o.Run.Store, sk.sum); err != nil {
		return &HarnessError{Err: fmt.Errorf("soak summary: %w", err)}
	}
	return nil
}

// plan is what makes the soak's run list and seeds (reports.SoakPlan).
func (o SoakOptions) plan() *reports.SoakPlan {
	p := &reports.SoakPlan{Count: o.Count, SeedBase: o.SeedBase, Settings: o.Settings}
	for _, s := range o.Scenarios {
		p.Scenarios = append(p.Scenarios, s.Name)
	}
	for _, img := range o.Images {
		if img != "" {
			p.Images = append(p.Images, img)
		}
	}
	for _, srv := range o.Servers {
		if srv != "" {
			p.Servers = append(p.Servers, srv)
		}
	}
	if o.Duration > 0 {
		p.Duration = o.Duration.String()
	}
	return p
}

// rounds runs every scenario on every cell, round after round, and says
// why it stopped. Position p counts the unsharded run list; runs of
// other shards are passed over.
func (sk *soaker) rounds(ctx context.Context) (stopped string, err error) {
	o := sk.o
	p := 0
	for round := 0; o.Count <= 0 || round < o.Count; round++ {
		for _, base := range o.Scenarios {
			for _, cell := range soakCells(o.Images, o.Servers) {
				p++
				if !o.Shard.Has(p - 1) {
					continue
				}
				if ctx.Err() != nil {
					return "interrupted", nil
				}
				s := *base
				img, srv := cell[0], cell[1]
				if img != "" {
					s.Cluster.Image = img
				}
				if srv != "" {
					s.Cluster.Server = srv
				}
				if s.Seed == 0 && o.SeedBase != 0 {
					s.Seed = RunSeed(o.SeedBase, p-1)
				}
				if !sk.deadline.IsZero() && time.Until(sk.deadline) < timeLimit(&s)+sk.overhead {
					return fmt.Sprintf("--duration %s reached", o.Duration), nil
				}
				if stopped, err := sk.one(ctx, &s, img, srv, p); stopped != "" || err != nil {
					return stopped, err
				}
			}
		}
	}
	return fmt.Sprintf("--count %d done", o.Count), nil
}

// one makes run n (its 1-based position in the unsharded run list), adds
// it to the summary and rewrites it, and says whether the soak stops
// there (and why).
func (sk *soaker) one(ctx context.Context, s *Scenario, img, srv string, n int) (stopped string, err error) {
	o := sk.o
	sk.n = n
	r, timing, returned := soakOne(ctx, o, s, img, sk.n, sk.deadline)
	r.Server = srv
	measureBetween(&r, timing, sk.prevTeardown)
	sk.prevTeardown = timing.TeardownStart
	runDir := ""
	if r.Dir != "" {
		runDir = filepath.Join(o.Run.Store, filepath.FromSlash(r.Dir))
		if st, err := os.Stat(filepath.Join(runDir, history.File)); err == nil {
			r.HistoryBytes = st.Size()
		}
	}
	if wall := time.Duration(r.Seconds * float64(time.Second)); r.Status != reports.SoakCut && r.Status != reports.SoakHarness {
		sk.overhead = max(sk.overhead, wall-timeLimit(s))
	}
	sk.gz.finish(sk.sum) // the previous run's, in the time this one took
	sk.sum.Runs = append(sk.sum.Runs, r)
	sk.sum.Summarize()
	fmt.Fprintf(o.Progress, "soak: run %d %s%s: %s (exit %d) in %.1fs%s — %d runs, exit so far %d%s\n",
		sk.n, s.Name, imageSuffix(img)+serverSuffix(srv), r.Status, r.Code, r.Seconds, dirSuffix(o.Run.Store, r.Dir), len(sk.sum.Runs), sk.sum.Code, betweenSuffix(r))
	if r.Status == reports.SoakHarness && r.Error != "" {
		fmt.Fprintf(o.Progress, "soak:   harness error: %s\n", r.Error)
	}
	if o.GzipHistory && returned && r.HistoryBytes > 0 && ctx.Err() == nil {
		sk.gz.start(ctx, runDir, len(sk.sum.Runs)-1)
	}
	if err := sk.write(); err != nil {
		return "", err
	}
	return sk.stopAfter(ctx, r), nil
}

// stopAfter says why the soak stops after run r ("" when it goes on).
func (sk *soaker) stopAfter(ctx context.Context, r reports.SoakRun) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	if r.Status == reports.SoakHarness {
		sk.harnessRow++
	} else {
		sk.harnessRow = 0
	}
	if sk.harnessRow >= sk.o.MaxHarnessErrors {
		return fmt.Sprintf("%d harness errors in a row: the environment is broken (last: %s)", sk.harnessRow, r.Error)
	}
	if sk.o.FailFast && r.Status != reports.SoakCut && r.Code != 0 {
		return fmt.Sprintf("--fail-fast: run %d exited %d", sk.n, r.Code)
	}
	return ""
}

// timeLimit is s's time limit, its default when it has none.
func timeLimit(s *Scenario) time.Duration {
	if s.TimeLimit == 0 {
		return 30 * time.Second
	}
	return s.TimeLimit
}

// soakCells are the image × server pairs each scenario runs on.
func soakCells(images, servers []string) [][2]string {
	var out [][2]string
	for _, img := range images {
		for _, srv := range servers {
			out = append(out, [2]string{img, srv})
		}
	}
	return out
}

func serverSuffix(srv string) string {
	if srv == "" {
		return ""
	}
	return " with " + srv
}

func imageSuffix(img string) string {
	if img == "" {
		return ""
	}
	return " on " + img
}

func betweenSuffix(r reports.SoakRun) string {
	if r.OverheadS == nil {
		return ""
	}
	return fmt.Sprintf("; %.1fs since the last run's teardown began", *r.OverheadS)
}

func dirSuffix(store, dir string) string {
	if dir == "" {
		return ""
	}
	return " → " + filepath.Join(store, dir)
}

// runBound is how long one run may take: its time limit plus a margin for
// provisioning, the final health gate, final reads and the check.
func runBound(s *Scenario, margin time.Duration) time.Duration {
	limit := timeLimit(s)
	if margin <= 0 {
		health := s.Cluster.HealthTimeout
		if health == 0 {
			health = 60 * time.Second
		}
		check := s.Check.Timeout
		if check == 0 {
			check = 60 * time.Second
		}
		margin = 2*health + check + time.Minute
	}
	return limit + margin
}

// soakOne carries out one run under its bound (and the soak's deadline)
// and turns its outcome into a soak record. It also says whether the run
// returned: an abandoned one may still be writing to its run dir.
func soakOne(ctx context.Context, o SoakOptions, s *Scenario, img string, n int, deadline time.Time) (reports.SoakRun, Timing, bool) {
	started := time.Now()
	b := boundRun(ctx, o, s, deadline)
	defer b.cancel()
	res, abandoned := b.wait(o)
	r := reports.SoakRun{N: n, Scenario: s.Name, Image: img, Seed: s.Seed, Started: started.UTC(), Seconds: time.Since(started).Seconds()}
	r.ExpectsAnomaly = expectsAnomaly(s.Expect)
	var timing Timing
	if !abandoned && res.out != nil {
		timing = res.out.Timing
		if res.out.Scenario != nil {
			r.Seed = res.out.Scenario.Seed // the seed the run picked, when s had none
		}
	}
	if res.out != nil && res.out.Dir != "" {
		if rel, err := filepath.Rel(o.Run.Store, res.out.Dir); err == nil && !strings.HasPrefix(rel, "..") {
			r.Dir = filepath.ToSlash(rel)
		}
		if !abandoned {
			if rec, ok := checker.ReadServer(res.out.Dir); ok {
				r.ServerReported = rec.Label
			}
		}
	}
	judged := !abandoned && res.err == nil && res.out != nil && res.out.Report != nil
	switch {
	case !judged && b.ctx.Err() != nil:
		b.cut(ctx, o, &r, res, abandoned)
	case !judged:
		r.Status, r.Code = reports.SoakHarness, 3
		if res.err != nil {
			r.Error = res.err.Error()
		} else {
			r.Error = "run returned no report"
		}
	default:
		judgedRun(&r, res.out, s.Expect)
	}
	return r, timing, !abandoned
}

// boundedRun is one run of a soak under its bound and the soak's deadline.
type boundedRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	bound  time.Duration
	// byDeadline: the soak's deadline comes before the bound.
	byDeadline bool
	deadline   time.Time
	ch         chan runResult
}

type runResult struct {
	out *Outcome
	err error
}

// boundRun starts the run of s in the background, under its bound (and
// the soak's deadline, when that comes first).
func boundRun(ctx context.Context, o SoakOptions, s *Scenario, deadline time.Time) *boundedRun {
	b := &boundedRun{bound: runBound(s, o.Margin), deadline: deadline, ch: make(chan runResult, 1)}
	bctx, cancel := context.WithTimeout(ctx, b.bound)
	b.ctx, b.cancel = bctx, cancel
	if !deadline.IsZero() && deadline.Before(time.Now().Add(b.bound)) {
		dctx, dcancel := context.WithDeadline(bctx, deadline)
		b.byDeadline = true
		b.ctx, b.cancel = dctx, func() { dcancel(); cancel() }
	}
	rs := *s // the run's own copy: an abandoned run keeps it while the soak goes on
	go func() {
		defer func() {
			if p := recover(); p != nil {
				b.ch <- runResult{err: &HarnessError{Err: fmt.Errorf("run panicked: %v", p)}}
			}
		}()
		out, err := o.RunFunc(b.ctx, &rs, o.Run)
		b.ch <- runResult{out, err}
	}()
	return b
}

// wait waits for the run's result; past its bound, for o.Grace more, and
// then it abandons the run.
func (b *boundedRun) wait(o SoakOptions) (res runResult, abandoned bool) {
	select {
	case res = <-b.ch:
		return res, false
	case <-b.ctx.Done():
	}
	t := time.NewTimer(o.Grace)
	defer t.Stop()
	select {
	case res = <-b.ch:
		return res, false
	case <-t.C:
		return runResult{}, true
	}
}

// cut fills the record of a run a context ended before its verdict: the
// soak's (interrupt, --duration), or its own bound.
func (b *boundedRun) cut(ctx context.Context, o SoakOptions, r *reports.SoakRun, res runResult, abandoned bool) {
	switch {
	case ctx.Err() != nil:
		r.Status, r.Code, r.Error = reports.SoakCut, 3, "interrupted"
	case b.byDeadline && !time.Now().Before(b.deadline):
		r.Status, r.Code, r.Error = reports.SoakCut, 3, fmt.Sprintf("the soak's --duration %s ended during the run", o.Duration)
	default:
		r.Status, r.Code = reports.SoakHarness, 3
		r.Error = fmt.Sprintf("run exceeded its bound of %s (time limit + margin)", b.bound.Round(time.Second))
		if res.err != nil {
			r.Error += ": " + res.err.Error()
		}
	}
	if abandoned {
		r.Error += fmt.Sprintf("; it did not return within %s and was abandoned (harness cleanup removes what it left)", o.Grace)
	}
}

// judgedRun fills the record of a run that got its verdict: its status,
// the checkers that contradicted the expectation (expect, when the
// outcome declares none), whether an expected anomaly was detected, and
// its throughput and recovery.
func judgedRun(r *reports.SoakRun, out *Outcome, expect map[string]bool) {
	rep := out.Report
	r.Code = out.Code
	switch rep.Valid {
	case checker.True:
		r.Status = reports.SoakValid
	case checker.False:
		r.Status = reports.SoakInvalid
	default:
		r.Status = reports.SoakUnknown
	}
	r.Failures = out.Expected.Failures
	declared := out.Expected.Checkers
	if declared == nil {
		declared = expect
	}
	for _, name := range rep.Names {
		v := rep.Checkers[name].Verdict()
		want, named := declared[name]
		if !named {
			want = true
		}
		if v == checker.False && want {
			r.Unexpected = append(r.Unexpected, name)
		}
		if v == checker.True && !want {
			r.Missed = append(r.Missed, name)
		}
	}
	var missing []string
	for name, want := range declared {
		if _, ran := rep.Checkers[name]; !ran && !want {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	r.Missed = append(r.Missed, missing...)
	if r.ExpectsAnomaly {
		r.Detected = len(r.Missed) == 0
		for name, want := range declared {
			if c, ok := rep.Checkers[name]; !want && (!ok || c.Verdict() != checker.False) {
				r.Detected = false
			}
		}
	}
	if rep.Stats != nil {
		r.OpsPerSec = rep.Stats.OpsPerSec
	}
	r.RecoveryS = recoveryS(out.Dir)
	recoveries(r, rep)
}

// recoveries copies the recovery checker's per-fault measures into r.
func recoveries(r *reports.SoakRun, rep *checker.Report) {
	rr, ok := rep.Checkers[history.CheckRecovery].(*checker.RecoveryResult)
	if !ok {
		return
	}
	for _, a := range rr.Actions {
		if a.ClientRecoveryS != nil {
			r.ClientRecoveryS = append(r.ClientRecoveryS, *a.ClientRecoveryS)
		}
		if a.RateRatio != nil {
			r.RateRatios = append(r.RateRatios, *a.RateRatio)
		}
		if a.MovedS != nil {
			r.MovedS = append(r.MovedS, *a.MovedS)
		}
	}
	r.ClientNeverRecovered = rr.NeverRecovered
}

// measureBetween fills r's provisioning, teardown and overhead (from the
// previous run's teardown start to this run's cluster healthy) and the
// soak process's memory after the run.
func measureBetween(r *reports.SoakRun, t Timing, prevTeardown time.Time) {
	if v, ok := t.ProvisionS(); ok {
		r.ProvisionS = &v
	}
	if v, ok := t.TeardownS(); ok {
		r.TeardownS = &v
	}
	if !prevTeardown.IsZero() && !t.Healthy.IsZero() {
		v := t.Healthy.Sub(prevTeardown).Seconds()
		r.OverheadS = &v
	}
	// Judging a run peaks at gigabytes that the runtime would hand back
	// only slowly; the next cluster shares the machine. Return it now,
	// so that rss_kb is what the soak really keeps.
	debug.FreeOSMemory() // collects first: what is left is live
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	r.RSSKB = RSSKB()
	r.HeapKB = int64(m.HeapAlloc / 1024)
	r.Goroutines = runtime.NumGoroutine()
}

func expectsAnomaly(expect map[string]bool) bool {
	for _, v := range expect {
		if !v {
			return true
		}
	}
	return false
}

// recoveryS reads results.json's "nemesis"."recovery_s" (nil: no nemesis).
func recoveryS(dir string) *float64 {
	b, err := os.ReadFile(filepath.Join(dir, checker.ResultsFile))
	if err != nil {
		return nil
	}
	var res checker.Results
	if json.Unmarshal(b, &res) != nil || res.Nemesis == nil {
		return nil
	}
	return &res.Nemesis.RecoveryS
}

// RSSKB is this process's resident set size in kB (/proc/self/status
// VmRSS), 0 where there is no /proc.
func RSSKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				v, _ := strconv.ParseInt(fields[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// gzipQueue is the soak's history compression under way: at most one.
type gzipQueue struct {
	progress io.Writer
	run      int // its index in the summary's runs
	done     chan gzipDone
}

type gzipDone struct {
	res GzipResult
	err error
}

// start compresses run dir dir's history in the background; the caller has
// finished the previous one.
func (q *gzipQueue) start(ctx context.Context, dir string, run int) {
	ch := make(chan gzipDone, 1)
	q.run, q.done = run, ch
	go func() {
		res, err := GzipHistory(ctx, dir)
		ch <- gzipDone{res, err}
	}()
}

// finish waits for the compression under way, if any, and records its
// outcome in its run and on the progress line.
func (q *gzipQueue) finish(sum *reports.Soak) {
	if q.done == nil {
		return
	}
	d := <-q.done
	q.done = nil
	r := &sum.Runs[q.run]
	if d.err != nil {
		r.GzipError = d.err.Error()
		fmt.Fprintf(q.progress, "soak:   run %d: %s (its verdict stands)\n", r.N, r.GzipError)
		return
	}
	r.HistoryGzBytes = d.res.Gz
	fmt.Fprintf(q.progress, "soak:   run %d: history gzipped (%s): %s → %s (%.0f%%)\n",
		r.N, d.res.Via, byteSize(d.res.Plain), byteSize(d.res.Gz), 100*float64(d.res.Gz)/float64(max(d.res.Plain, 1)))
}

// byteSize is n bytes for people: 812 B, 14.2 KiB, 241.3 MiB, 1.2 GiB.
func byteSize(n int64) string {
	f, unit := float64(n), "B"
	for _, u := range []string{"KiB", "MiB", "GiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	if unit == "B" {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}
