package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/reports"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/workloads"
)

// Options are the run's settings that are not part of the scenario.
type Options struct {
	// Backend overrides the scenario's backend when not empty.
	Backend string
	// Hosts is the hosts file the ssh backend places nodes on (--hosts).
	Hosts string
	// Addr runs against an existing cluster: no provisioning, no teardown.
	Addr string
	// Store is the store directory (default "store").
	Store string
	// Keep leaves the cluster running after the run.
	Keep bool
	// Progress receives progress lines; TTY rewrites one line in place.
	Progress io.Writer
	TTY      bool
	// Servers is the directory of fetched server builds
	// (topology.ServersDir of the state dir) that the scenario's
	// cluster.server names (default: the default state dir's).
	Servers string
}

// HarnessError marks a run the harness could not carry out (exit code 3),
// as opposed to a run that found anomalies.
type HarnessError struct{ Err error }

func (e *HarnessError) Error() string { return e.Err.Error() }
func (e *HarnessError) Unwrap() error { return e.Err }

func harnessErr(format string, a ...any) error {
	return &HarnessError{Err: fmt.Errorf(format, a...)}
}

// Run carries out one run of s: provision, clients and nemesis, heal,
// final reads, check, teardown. The run dir holds whatever was done, even
// on error. s itself is left as it is: the run resolves its own copy
// (defaults filled, seed fixed), which its scenario.yaml and
// Outcome.Scenario hold.
//
// A run that ends early — a signal (ctx), a fault whose inject failed, the
// clients stopping on an error, a panic — ends in this order: the clients
// stop issuing ops and every fault is healed at once, beside them (a
// paused node resumes while ops to it are still timing out); the heals are
// recorded in the history; then the last topology sample is taken and the
// history closed; interrupted.json says why the run stopped, so that
// harness check judges the dir as interrupted, never as invalid because of
// a fault the harness itself left in place. Such a run is a HarnessError.
func Run(ctx context.Context, s *Scenario, o Options) (*Outcome, error) {
	s, o, err := resolveRun(s, o)
	if err != nil {
		return nil, err
	}
	ext, err := checkFirst(ctx, s, o)
	if err != nil {
		return &Outcome{Scenario: s}, err
	}
	r, err := openRun(s, o)
	if err != nil {
		if ext != nil && ext.ext != nil {
			ext.ext.Close()
		}
		return &Outcome{Scenario: s}, err
	}
	defer r.logf.Close()
	cl, err := r.cluster(ctx, ext)
	if err != nil {
		return r.outcome(), err
	}
	ended := r.onCluster(ctx, cl)
	// Node logs before the report, which links them and reads the version.
	r.collectLogs(ctx, cl)
	out, err := r.outcome(), ended
	if err == nil {
		out, err = r.judge(ctx)
	}
	timing, terr := r.teardown(ctx, cl)
	out.Timing = timing
	if err == nil {
		err = terr
	}
	return out, err
}

// resolveRun is the run's own copy of s, --backend applied and defaults
// filled, and o with its defaults. (Resolve makes new slices where it
// fills them, so the copy shares with s only what neither changes.)
func resolveRun(s *Scenario, o Options) (*Scenario, Options, error) {
	rs := *s
	if o.Backend != "" {
		rs.Backend = o.Backend
	}
	if err := rs.Resolve(); err != nil {
		return nil, o, &HarnessError{Err: err}
	}
	if o.Store == "" {
		o.Store = "store"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return &rs, o, nil
}

// checkFirst asks what can be asked before anything is made: an existing
// cluster (--addr) must answer, and the timeline must name nodes the
// cluster will have. A wrong --addr leaves no run dir and does not move
// latest. The existing cluster is returned (nil: provision one).
func checkFirst(ctx context.Context, s *Scenario, o Options) (*runCluster, error) {
	if o.Addr != "" {
		return external(ctx, s, o.Addr, o.Hosts)
	}
	if err := nemesis.ValidateNames(s.Nemesis.Timeline, topology.Spec{Masters: s.Cluster.Masters, Replicas: s.Cluster.Replicas}.Nodes()); err != nil {
		return nil, &HarnessError{Err: err}
	}
	return nil, nil
}

// run is one run under way: its scenario, dir and log, and, once they
// exist, its records and the healer of its faults.
type run struct {
	s    *Scenario
	o    Options
	dir  string
	logf *os.File
	log  *slog.Logger
	// rec is the history and the topology samples (nil until opened);
	// faults heals the nemesis's faults (nil until it started).
	rec    *records
	faults *healer
}

// openRun makes the run dir with its scenario.yaml and harness.log.
func openRun(s *Scenario, o Options) (*run, error) {
	dir, err := NewRunDir(o.Store, s.Name, s.Seed, time.Now())
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	yml, err := s.Marshal()
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "scenario.yaml"), yml, 0o644)
	}
	if err != nil {
		return nil, harnessErr("write scenario.yaml: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "harness.log"))
	if err != nil {
		return nil, harnessErr("harness.log: %w", err)
	}
	r := &run{s: s, o: o, dir: dir, logf: logf,
		log: slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	r.log.Info("run", "scenario", s.Name, "seed", s.Seed, "dir", dir)
	r.say("run %s seed %d → %s", s.Name, s.Seed, dir)
	return r, nil
}

// say is a progress line, logged too.
func (r *run) say(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(r.o.Progress, msg)
	r.log.Info(msg)
}

// outcome is the outcome of a run that got no verdict: its dir.
func (r *run) outcome() *Outcome { return &Outcome{Dir: r.dir, Scenario: r.s} }

// cluster is the run's cluster: the existing one (--addr), or one
// provisioned for the run and healthy.
func (r *run) cluster(ctx context.Context, ext *runCluster) (*runCluster, error) {
	if ext != nil {
		r.say("cluster: existing, %d nodes via %s (no provisioning, no teardown)", len(ext.members), r.o.Addr)
		if label, err := recordServer(ctx, r.dir, ranRecord(nil, nil), ext.admin, ext.members); err == nil {
			r.say("server: %s", label)
		}
		if ext.ext != nil {
			for _, f := range ext.ext.Found() {
				r.say("%s", f)
				r.log.Info("external node", "addr", f.Addr, "host", f.Host, "pid", f.PID, "dir", f.Dir, "config", f.Config, "restart", f.Command)
			}
		}
		return ext, nil
	}
	cl, err := provision(ctx, r.s, r.o, r.dir, r.say)
	if err != nil {
		r.log.Error("provision", "err", err)
		return nil, err
	}
	return cl, nil
}

// onCluster is everything the run does on its cluster, until the records
// are closed: an error means the run ended early (and says why). A panic
// ends it too, in the same order as any early end (interrupted), and is
// the run's HarnessError, its stack in harness.log.
func (r *run) onCluster(ctx context.Context, cl *runCluster) error {
	var panicked any
	var stack []byte
	err := func() error {
		defer func() {
			if p := recover(); p != nil {
				panicked, stack = p, debug.Stack()
			}
		}()
		return r.drive(ctx, cl)
	}()
	if panicked == nil {
		return err
	}
	r.log.Error("panic", "panic", fmt.Sprint(panicked), "stack", string(stack))
	if r.rec != nil {
		r.interrupted(ctx, fmt.Sprintf("the harness panicked: %v", panicked))
	}
	return harnessErr("panic: %v (stack in %s)", panicked, filepath.Join(r.dir, "harness.log"))
}

// drive runs the stages on the cluster in order: check the faults'
// targets, open the records, start the nemesis, run the clients for the
// time limit, then the end (heal, health gate, final reads, close).
func (r *run) drive(ctx context.Context, cl *runCluster) error {
	admin := topology.NewAdmin()
	defer admin.Close()
	env, err := r.nemesisEnv(ctx, cl, admin)
	if err != nil {
		return err
	}
	if r.rec, err = openRecords(ctx, r.dir, admin, cl.addrs); err != nil {
		return err
	}
	// runCtx ends the clients and the nemesis early: on a signal (ctx), on
	// a failed inject, on the clients' own error.
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	r.faults = &healer{nem: r.startNemesis(runCtx, env, cl, abort), say: r.say}
	// A run that ends early heals now, not after the clients have
	// returned: their ops in flight take up to the op timeout. (At the
	// normal end the heal has run before runCtx ends: this does nothing.)
	go func() {
		<-runCtx.Done()
		r.faults.heal(ctx)
	}()
	used, err := r.clients(ctx, runCtx, cl, abort)
	if err != nil {
		return err
	}
	return r.end(ctx, cl, admin, used)
}

// nemesisEnv resolves every fault's target against the cluster before the
// first op: a fault that could not happen makes no run at all. It is nil
// when the scenario has no nemesis.
func (r *run) nemesisEnv(ctx context.Context, cl *runCluster, admin *topology.Admin) (*nemesis.Env, error) {
	if len(r.s.Nemesis.Timeline) == 0 {
		return nil, nil
	}
	env := &nemesis.Env{
		Cluster: cl.c, Backend: cl.faults(), Admin: admin,
		Rand: rand.New(rand.NewPCG(uint64(r.s.Seed), 0x6e656d)), Log: r.log,
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := env.CheckTargets(tctx, r.s.Nemesis.Timeline); err != nil {
		if ctx.Err() != nil {
			return nil, harnessErr("interrupted before the run started")
		}
		r.log.Error("nemesis targets", "err", err)
		return nil, &HarnessError{Err: err}
	}
	return env, nil
}

// startNemesis starts the timeline beside the clients (nil env: there is
// none, and it returns nil); an inject that fails ends runCtx through abort.
func (r *run) startNemesis(runCtx context.Context, env *nemesis.Env, cl *runCluster, abort context.CancelCauseFunc) *nemesis.Runner {
	if env == nil {
		return nil
	}
	env.Rec = r.rec.rec
	cl.setEnv(env)
	r.say("nemesis: %d faults scheduled", len(r.s.Nemesis.Timeline))
	nem := nemesis.Start(runCtx, env, r.s.Nemesis.Timeline)
	go func() {
		select {
		case <-nem.Failed():
			abort(errors.New(nem.Failure()))
		case <-runCtx.Done():
		}
	}()
	return nem
}

// clients runs the workloads for the time limit, with the progress line,
// and records where the final reads will begin. The error of a run that
// ended early (runCtx) says why; the run is then healed and recorded as
// interrupted.
func (r *run) clients(ctx, runCtx context.Context, cl *runCluster, abort context.CancelCauseFunc) (workloads.Used, error) {
	r.say("running %s for %s with %d clients…", workloadNames(r.s.Client), r.s.TimeLimit, r.s.Client.Concurrency)
	wctx, cancel := context.WithTimeout(runCtx, r.s.TimeLimit)
	pdone := make(chan struct{})
	go progress(wctx, pdone, r.o, r.rec.rec, r.rec.start, r.s.TimeLimit)
	summary, werr := workloads.Run(wctx, r.s.Client, cl.addrs(), r.rec.rec)
	cancel()
	<-pdone
	// Every process from here on is a final read's: replay cuts there.
	if ferr := writeFinal(r.dir, summary.Used); ferr != nil {
		r.log.Error(finalFile, "err", ferr)
	}
	if werr != nil && runCtx.Err() == nil {
		r.log.Error("workloads", "err", werr)
		abort(fmt.Errorf("the clients stopped: %w", werr))
	}
	if runCtx.Err() == nil {
		return summary.Used, nil
	}
	reason := "interrupted by a signal"
	if ctx.Err() == nil {
		reason = context.Cause(runCtx).Error()
	}
	r.say("stopping: %s; healing every fault…", reason)
	r.interrupted(ctx, reason)
	if ctx.Err() != nil {
		return summary.Used, r.interruptedErr()
	}
	return summary.Used, &HarnessError{Err: errors.New(reason)}
}

// end is the run's normal end: heal every fault, wait for health, record
// what the nemesis did, the final reads, then close the records.
func (r *run) end(ctx context.Context, cl *runCluster, admin *topology.Admin, used workloads.Used) error {
	if r.faults.nem != nil {
		r.say("healing every fault…")
		r.faults.heal(ctx)
	}
	r.say("waiting for the cluster to be healthy…")
	hstart := time.Now()
	healthy := true
	if _, err := admin.WaitHealthy(ctx, cl.addrs(), topology.Expect{Masters: 0, Replicas: r.s.Cluster.Replicas}, r.s.Cluster.HealthTimeout); err != nil {
		r.say("cluster not healthy at the end: %v", err)
		healthy = false
	}
	if r.faults.nem != nil {
		if err := writeNemesis(r.dir, r.faults.nem.Results(), time.Since(hstart), healthy); err != nil {
			r.log.Error(checker.NemesisFile, "err", err)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := workloads.Final(fctx, r.s.Client, cl.addrs(), r.rec.rec, used); err != nil {
		r.say("final reads: %v", err)
	}
	fcancel()
	if ctx.Err() != nil {
		// A signal during the health gate or the final reads.
		r.interrupted(ctx, "interrupted by a signal at the end of the run")
		return r.interruptedErr()
	}
	if err := r.rec.close(ctx); err != nil {
		return harnessErr("records: %w", err)
	}
	r.say("%d ops recorded in %s; checking…", r.rec.rec.completions.Load(), time.Since(r.rec.start).Round(time.Millisecond))
	return nil
}

// interrupted records why the run stopped early, after the heals and the
// last records: a run dir without it that ended early is one a SIGKILL
// stopped, and Judge tells that from its unhealed faults.
func (r *run) interrupted(ctx context.Context, reason string) {
	healErr := r.faults.heal(ctx)
	if nem := r.faults.runner(); nem != nil {
		if err := writeNemesis(r.dir, nem.Results(), 0, false); err != nil {
			r.log.Error(checker.NemesisFile, "err", err)
		}
	}
	cerr := r.rec.close(ctx)
	it := Interruption{Reason: reason, At: r.rec.hw.Now(), Healed: healErr == nil}
	if healErr != nil {
		it.HealError = healErr.Error()
	}
	if cerr != nil {
		it.HistoryError = cerr.Error()
	}
	if err := writeInterruption(r.dir, it); err != nil {
		r.log.Error(InterruptedFile, "err", err)
	}
	r.log.Warn("interrupted", "reason", reason)
}

// interruptedErr is the error of a run a signal stopped.
func (r *run) interruptedErr() error {
	return harnessErr("interrupted: the history so far is in %s (harness check judges it: unknown, interrupted)", r.dir)
}

// collectLogs copies the nodes' logs into the run dir; it survives Ctrl-C.
func (r *run) collectLogs(ctx context.Context, cl *runCluster) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	cl.collectLogs(lctx, r.dir, r.log)
}

// judge checks the history, writes results.json and the report, and the
// store's index of runs.
func (r *run) judge(ctx context.Context) (*Outcome, error) {
	out, err := Judge(ctx, r.dir, r.s, "")
	if err != nil {
		return r.outcome(), err
	}
	if ierr := reports.WriteIndex(r.o.Store); ierr != nil {
		r.log.Warn("store index", "err", ierr)
	}
	out.Scenario = r.s
	return out, nil
}

// teardown removes the cluster the run made (unless --keep, or the
// cluster is an existing one) under a context of its own, so that it
// survives Ctrl-C, and says when the cluster was asked for, healthy, and
// torn down.
func (r *run) teardown(ctx context.Context, cl *runCluster) (Timing, error) {
	t := Timing{ProvisionStart: cl.asked, Healthy: cl.healthy}
	if cl.release != nil {
		defer cl.release()
	}
	if cl.ext != nil {
		// Nothing of the cluster is removed: its network is healed (the
		// run's chain, whatever the nemesis did or failed to undo).
		defer cl.ext.Close()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cl.ext.Down(cctx, cl.c); err != nil {
			r.log.Error("heal the network of the existing cluster", "err", err)
			return t, harnessErr("heal the network of the existing cluster: %w", err)
		}
		return t, nil
	}
	if r.o.Keep || cl.backend == nil {
		if cl.backend != nil {
			r.say("kept cluster %s: harness --state-dir %s cluster status --name %s", cl.c.Name, cl.store.Dir, cl.c.Name)
		}
		return t, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	t.TeardownStart = time.Now()
	err := cl.backend.Down(cctx, cl.c)
	t.TeardownEnd = time.Now()
	if err != nil {
		r.log.Error("teardown", "err", err)
		return t, harnessErr("teardown: %w", err)
	}
	os.RemoveAll(cl.store.Dir) // the cluster's record and lock: nothing left to find
	return t, nil
}

func workloadNames(c workloads.Config) []string {
	var out []string
	for _, w := range c.Workloads {
		out = append(out, w.Name)
	}
	return out
}

// IsHarnessError reports whether err means the harness could not do its job.
func IsHarnessError(err error) bool {
	var he *HarnessError
	return errors.As(err, &he)
}
