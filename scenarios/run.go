package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/reports"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/workloads"
)

// Options are the run's settings that are not part of the scenario.
type Options struct {
	// Backend overrides the scenario's backend when not empty.
	Backend string
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

// Run carries out one run of s: provision, clients, heal, final reads,
// check, teardown. The run dir holds whatever was done, even on error.
//
// A run that ends early — a signal (ctx), a fault whose inject failed, the
// clients stopping on an error, a panic — ends in this order: the clients
// stop issuing ops and every fault is healed at once, beside them (a
// paused node resumes while ops to it are still timing out); the heals are
// recorded in the history; then the last topology sample is taken and the
// history closed; interrupted.json says why the run stopped, so that
// harness check judges the dir as interrupted, never as invalid because of
// a fault the harness itself left in place. Such a run is a HarnessError.
func Run(ctx context.Context, s *Scenario, o Options) (out *Outcome, err error) {
	if o.Backend != "" {
		s.Backend = o.Backend
	}
	if err := s.Resolve(); err != nil {
		return nil, &HarnessError{Err: err}
	}
	if o.Store == "" {
		o.Store = "store"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	// An existing cluster is asked before anything is made: a wrong
	// --addr leaves no run dir and does not move latest.
	var ext *runCluster
	if o.Addr != "" {
		if ext, err = external(ctx, s, o.Addr); err != nil {
			return nil, err
		}
	} else if err := nemesis.ValidateNames(s.Nemesis.Timeline, topology.Spec{Masters: s.Cluster.Masters, Replicas: s.Cluster.Replicas}.Nodes()); err != nil {
		return nil, &HarnessError{Err: err}
	}
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
	defer logf.Close()
	log := slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("run", "scenario", s.Name, "seed", s.Seed, "dir", dir)
	say := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(o.Progress, msg)
		log.Info(msg)
	}
	say("run %s seed %d → %s", s.Name, s.Seed, dir)

	// The cluster.
	cl := ext
	if cl != nil {
		say("cluster: existing, %d nodes via %s (no provisioning, no teardown)", len(cl.members), o.Addr)
		if label, err := recordServer(ctx, dir, ranRecord(nil, nil), cl.admin, cl.members); err == nil {
			say("server: %s", label)
		}
	} else if cl, err = provision(ctx, s, o, dir, say); err != nil {
		log.Error("provision", "err", err)
		return &Outcome{Dir: dir}, err
	}
	logsCollected := false
	defer func() {
		// Teardown survives Ctrl-C: it runs under its own context.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if cl.release != nil {
			defer cl.release()
		}
		if !logsCollected {
			cl.collectLogs(cctx, dir, log)
		}
		if out != nil {
			out.Timing.ProvisionStart, out.Timing.Healthy = cl.asked, cl.healthy
		}
		if o.Keep || cl.backend == nil {
			if cl.backend != nil {
				say("kept cluster %s: harness --state-dir %s cluster status --name %s", cl.c.Name, cl.store.Dir, cl.c.Name)
			}
			return
		}
		tstart := time.Now()
		derr := cl.backend.Down(cctx, cl.c)
		if out != nil {
			out.Timing.TeardownStart, out.Timing.TeardownEnd = tstart, time.Now()
		}
		if derr != nil {
			log.Error("teardown", "err", derr)
			if err == nil {
				err = harnessErr("teardown: %w", derr)
			}
			return
		}
		os.RemoveAll(cl.store.Dir) // the cluster's record and lock: nothing left to find

	}()
	admin := topology.NewAdmin()
	defer admin.Close()

	// Every fault's target is resolved against the cluster before the
	// first op: a fault that could not happen makes no run at all.
	var env *nemesis.Env
	if len(s.Nemesis.Timeline) > 0 {
		env = &nemesis.Env{
			Cluster: cl.c, Backend: cl.backend, Admin: admin,
			Rand: rand.New(rand.NewPCG(uint64(s.Seed), 0x6e656d)), Log: log,
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		terr := env.CheckTargets(tctx, s.Nemesis.Timeline)
		cancel()
		if terr != nil && ctx.Err() != nil {
			return &Outcome{Dir: dir}, harnessErr("interrupted before the run started")
		}
		if terr != nil {
			log.Error("nemesis targets", "err", terr)
			return &Outcome{Dir: dir}, &HarnessError{Err: terr}
		}
	}

	// History and topology monitor.
	hf, err := os.Create(filepath.Join(dir, history.File))
	if err != nil {
		return &Outcome{Dir: dir}, harnessErr("%s: %w", history.File, err)
	}
	start := time.Now()
	hw := history.NewWriter(hf, start)
	rec := &countingRecorder{Writer: hw}
	mctx, stopMonitor := context.WithCancel(context.WithoutCancel(ctx))
	var mwg sync.WaitGroup
	tf, err := os.Create(filepath.Join(dir, "topology.jsonl"))
	if err != nil {
		hw.Close()
		stopMonitor()
		return &Outcome{Dir: dir}, harnessErr("topology.jsonl: %w", err)
	}
	tenc := json.NewEncoder(tf)
	mwg.Add(1)
	go func() {
		defer mwg.Done()
		admin.Monitor(mctx, 250*time.Millisecond, cl.addrs, hw.Now, func(smp topology.Sample) { tenc.Encode(smp) })
	}()

	// runCtx ends the clients and the nemesis early: on a signal (ctx), on
	// a failed inject, on the clients' own error.
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)

	// The nemesis, beside the clients. heal heals every fault, once: when
	// runCtx ends (at once, while the clients wind down), at the normal
	// end, or deferred on a panic.
	var nem *nemesis.Runner
	var healOnce sync.Once
	var healErr error
	heal := func() {
		healOnce.Do(func() {
			if nem == nil {
				return
			}
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if healErr = nem.HealAll(hctx); healErr != nil {
				say("heal: %v", healErr)
			}
		})
	}
	// closeAll ends the records, once: the last topology sample (after
	// every heal), then the history.
	var closeOnce sync.Once
	var closeErr error
	closeAll := func() error {
		closeOnce.Do(func() {
			stopMonitor()
			mwg.Wait()
			// The last sample is the converged view the slots checker
			// judges: take it now, after the heals (and, at the normal
			// end, the health gate and the final reads).
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			tenc.Encode(topology.SampleOf(admin.Snapshot(sctx, cl.addrs()), hw.Now()))
			cancel()
			tf.Close()
			closeErr = hw.Close()
		})
		return closeErr
	}
	// interrupted records why the run stopped early, after the heals and
	// the last records: a run dir without it that ended early is one a
	// SIGKILL stopped, and Judge tells that from its unhealed faults.
	interrupted := func(reason string) {
		heal()
		if nem != nil {
			if werr := writeNemesis(dir, nem.Results(), 0, false); werr != nil {
				log.Error("nemesis.json", "err", werr)
			}
		}
		cerr := closeAll()
		it := Interruption{Reason: reason, At: hw.Now(), Healed: healErr == nil}
		if healErr != nil {
			it.HealError = healErr.Error()
		}
		if cerr != nil {
			it.HistoryError = cerr.Error()
		}
		if werr := writeInterruption(dir, it); werr != nil {
			log.Error(InterruptedFile, "err", werr)
		}
		log.Warn("interrupted", "reason", reason)
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			interrupted(fmt.Sprintf("the harness panicked: %v", p))
			out, err = &Outcome{Dir: dir}, harnessErr("panic: %v (stack in %s)", p, filepath.Join(dir, "harness.log"))
		}
	}()

	if env != nil {
		env.Rec = rec
		cl.setEnv(env)
		say("nemesis: %d faults scheduled", len(s.Nemesis.Timeline))
		nem = nemesis.Start(runCtx, env, s.Nemesis.Timeline)
		go func() {
			select {
			case <-nem.Failed():
				abort(errors.New(nem.Failure()))
			case <-runCtx.Done():
			}
		}()
	}
	// A run that ends early heals now, not after the clients have
	// returned: their ops in flight take up to the op timeout.
	// (At the normal end heal has run before runCtx ends: this does nothing.)
	go func() {
		<-runCtx.Done()
		heal()
	}()

	// The clients, for the time limit.
	say("running %s for %s with %d clients…", workloadNames(s.Client), s.TimeLimit, s.Client.Concurrency)
	wctx, cancel := context.WithTimeout(runCtx, s.TimeLimit)
	pdone := make(chan struct{})
	go progress(wctx, pdone, o, rec, start, s.TimeLimit)
	summary, werr := workloads.Run(wctx, s.Client, cl.addrs(), rec)
	cancel()
	<-pdone
	// Every process from here on is a final read's: replay cuts there.
	if ferr := writeFinal(dir, summary.Used); ferr != nil {
		log.Error(finalFile, "err", ferr)
	}
	if werr != nil && runCtx.Err() == nil {
		log.Error("workloads", "err", werr)
		abort(fmt.Errorf("the clients stopped: %w", werr))
	}
	if runCtx.Err() != nil {
		reason := "interrupted by a signal"
		if ctx.Err() == nil {
			reason = context.Cause(runCtx).Error()
		}
		say("stopping: %s; healing every fault…", reason)
		interrupted(reason)
		if ctx.Err() != nil {
			return &Outcome{Dir: dir}, harnessErr("interrupted: the history so far is in %s (harness check judges it: unknown, interrupted)", dir)
		}
		return &Outcome{Dir: dir}, &HarnessError{Err: errors.New(reason)}
	}

	// The end: heal every fault, wait for health, final reads.
	var recovery time.Duration
	healthy := false
	if nem != nil {
		say("healing every fault…")
		heal()
	}
	say("waiting for the cluster to be healthy…")
	hstart := time.Now()
	if _, herr := admin.WaitHealthy(ctx, cl.addrs(), topology.Expect{Masters: 0, Replicas: s.Cluster.Replicas}, s.Cluster.HealthTimeout); herr != nil {
		say("cluster not healthy at the end: %v", herr)
	} else {
		healthy = true
	}
	recovery = time.Since(hstart)
	if nem != nil {
		if werr := writeNemesis(dir, nem.Results(), recovery, healthy); werr != nil {
			log.Error("nemesis.json", "err", werr)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	if ferr := workloads.Final(fctx, s.Client, cl.addrs(), rec, summary.Used); ferr != nil {
		say("final reads: %v", ferr)
	}
	fcancel()
	if ctx.Err() != nil {
		// A signal during the health gate or the final reads.
		interrupted("interrupted by a signal at the end of the run")
		return &Outcome{Dir: dir}, harnessErr("interrupted: the history so far is in %s (harness check judges it: unknown, interrupted)", dir)
	}
	if cerr := closeAll(); cerr != nil {
		return &Outcome{Dir: dir}, harnessErr("history: %w", cerr)
	}
	say("%d ops recorded in %s; checking…", rec.completions.Load(), time.Since(start).Round(time.Millisecond))
	// Node logs before the report, which links them and reads the version.
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	cl.collectLogs(lctx, dir, log)
	lcancel()
	logsCollected = true
	out, err = Judge(ctx, dir, s, "")
	if err == nil {
		if ierr := reports.WriteIndex(o.Store); ierr != nil {
			log.Warn("store index", "err", ierr)
		}
	}
	if err != nil {
		return &Outcome{Dir: dir}, err
	}
	return out, nil
}

func workloadNames(c workloads.Config) []string {
	var out []string
	for _, w := range c.Workloads {
		out = append(out, w.Name)
	}
	return out
}

// countingRecorder counts completions for the progress line.
type countingRecorder struct {
	*history.Writer
	completions, ok, fail, info atomic.Int64
}

func (r *countingRecorder) Append(op history.Op) (history.Op, error) {
	switch op.Type {
	case history.OK:
		r.ok.Add(1)
		r.completions.Add(1)
	case history.Fail:
		r.fail.Add(1)
		r.completions.Add(1)
	case history.Info:
		if op.IsClient() {
			r.info.Add(1)
			r.completions.Add(1)
		}
	}
	return r.Writer.Append(op)
}

// progress prints elapsed, ops/s and outcomes: one line rewritten in place
// on a terminal, a plain line every 5 s otherwise.
func progress(ctx context.Context, done chan<- struct{}, o Options, r *countingRecorder, start time.Time, limit time.Duration) {
	defer close(done)
	every := 5 * time.Second
	if o.TTY {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastN := start, int64(0)
	line := func(end string) {
		now := time.Now()
		n := r.completions.Load()
		rate := float64(n-lastN) / now.Sub(last).Seconds()
		last, lastN = now, n
		fmt.Fprintf(o.Progress, "%s%5s/%s  %7.0f ops/s  ok %d  fail %d  info %d%s",
			map[bool]string{true: "\r", false: ""}[o.TTY], now.Sub(start).Round(time.Second), limit, rate, r.ok.Load(), r.fail.Load(), r.info.Load(), end)
	}
	for {
		select {
		case <-ctx.Done():
			if o.TTY {
				line("\n")
			}
			return
		case <-t.C:
			if o.TTY {
				line("")
			} else {
				line("\n")
			}
		}
	}
}

// runCluster is the cluster a run uses: made by a backend, or given by address.
type runCluster struct {
	backend topology.Backend // nil for --addr
	store   topology.Store
	c       *topology.Cluster
	admin   *topology.Admin
	seed    string
	mu      sync.Mutex
	members []string
	env     *nemesis.Env // set while a nemesis may change the members
	// asked and healthy are when the cluster was asked for and when it
	// was first healthy (zero for --addr).
	asked, healthy time.Time
	// release ends the run's hold on its cluster (topology.Store.Hold).
	release func()
}

func (r *runCluster) setEnv(env *nemesis.Env) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env = env
}

// addrs is the cluster's current members (re-discovered: failovers and
// membership changes move them).
func (r *runCluster) addrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.env != nil {
		return r.env.Addrs()
	}
	if r.c != nil {
		return r.c.Addrs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if found, err := r.admin.Discover(ctx, r.seed); err == nil {
		r.members = found
	}
	return append([]string(nil), r.members...)
}

// external is the existing cluster at addr (--addr), asked before the run
// makes anything: an address where no cluster answers is refused here.
func external(ctx context.Context, s *Scenario, addr string) (*runCluster, error) {
	a := topology.NewAdmin()
	found, err := a.Discover(ctx, addr)
	if err != nil {
		return nil, harnessErr("--addr %s: %w", addr, err)
	}
	if err := nemesis.Validate(s.Nemesis, nil); err != nil {
		return nil, &HarnessError{Err: err}
	}
	rc := &runCluster{admin: a, seed: addr, members: found}
	if !s.Nemesis.Empty() {
		// Faults that speak only Redis (failover, reshard) act on it.
		rc.c = &topology.Cluster{Name: "external", Backend: "external"}
		for _, addr := range found {
			host, _, _ := strings.Cut(addr, ":")
			rc.c.Nodes = append(rc.c.Nodes, topology.Node{Name: addr, Addr: addr, Host: host})
		}
	}
	return rc, nil
}

func provision(ctx context.Context, s *Scenario, o Options, dir string, say func(string, ...any)) (*runCluster, error) {
	store := topology.Store{Dir: filepath.Join(dir, "state")}
	server, err := resolveServer(ctx, s, o)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	b, why, err := backends.Select(ctx, s.Backend, store)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	say("%s", why)
	if err := nemesis.Validate(s.Nemesis, b); err != nil {
		return nil, &HarnessError{Err: err}
	}
	spec := topology.Spec{
		Name: clusterName(s), Masters: s.Cluster.Masters, Replicas: s.Cluster.Replicas,
		Image: s.Cluster.Image, Config: s.Cluster.Config, RunID: filepath.Base(dir), Server: server,
	}
	start := time.Now()
	c, err := b.Up(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return nil, harnessErr("interrupted while the nodes were being started (removed again)")
		}
		return nil, harnessErr("cluster up: %w", err)
	}
	rc := &runCluster{backend: b, store: store, c: c, admin: topology.NewAdmin(), asked: start}
	// Held while the run lasts: harness cleanup, run beside it, leaves the
	// cluster alone; a SIGKILL drops the hold, and cleanup then takes it.
	if release, herr := store.Hold(c.Name); herr == nil {
		rc.release = release
	} else {
		say("warning: %v: harness cleanup may take this cluster while the run goes on", herr)
	}
	plan, err := topology.PlanCreate(c.Nodes, spec.Masters, spec.Replicas)
	if err == nil {
		_, err = rc.admin.Create(ctx, plan, s.Cluster.HealthTimeout)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		rc.collectLogs(cctx, dir, nil)
		b.Down(cctx, c)
		if rc.release != nil {
			rc.release()
		}
		if ctx.Err() != nil {
			// Not the cluster's fault: the wait was cut short.
			return nil, harnessErr("interrupted while the cluster was being created (removed again)")
		}
		return nil, harnessErr("cluster never became healthy: %w", err)
	}
	rc.healthy = time.Now()
	say("cluster %s: %d masters × %d replicas healthy in %s", c.Name, spec.Masters, spec.Replicas, time.Since(start).Round(time.Millisecond))
	if label, err := recordServer(ctx, dir, ranRecord(c, server), rc.admin, c.Addrs()); err != nil {
		say("warning: %v", err)
	} else {
		say("server: %s", label)
	}
	return rc, nil
}

// clusterName is unique per run and fits the 40-character limit.
func clusterName(s *Scenario) string {
	name := s.Name
	if len(name) > 24 {
		name = name[:24]
	}
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1_000_000_000)
}

// collectLogs copies every node's log into dir/nodes/<node>/redis.log.
func (r *runCluster) collectLogs(ctx context.Context, dir string, log *slog.Logger) {
	if r.backend == nil {
		return
	}
	for _, n := range r.c.Nodes {
		b, err := r.backend.Logs(ctx, r.c, n.Name)
		if err == nil {
			nd := filepath.Join(dir, "nodes", n.Name)
			if err = os.MkdirAll(nd, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(nd, "redis.log"), b, 0o644)
			}
		}
		if err != nil && log != nil {
			log.Warn("node log", "node", n.Name, "err", err)
		}
	}
}

// IsHarnessError reports whether err means the harness could not do its job.
func IsHarnessError(err error) bool {
	var he *HarnessError
	return errors.As(err, &he)
}
