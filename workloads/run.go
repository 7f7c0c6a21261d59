package workloads

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// Recorder receives the history's records; *history.Writer is one. Append
// stamps the time when op.Time is 0.
type Recorder interface {
	Append(history.Op) (history.Op, error)
	Now() int64
}

// Summary is what Run did.
type Summary struct {
	// OK, Fail and Info count the completions by type.
	OK   int64 `json:"ok"`
	Fail int64 `json:"fail"`
	Info int64 `json:"info"`
	// Workloads counts them per key space ("register", "pipeline-kv"…).
	Workloads map[string]Counts `json:"workloads"`
	// Duration is how long the workers ran.
	Duration time.Duration `json:"duration_ns"`
	// Used is what Final needs.
	Used Used `json:"used"`
}

// Ops is the number of completed ops.
func (s Summary) Ops() int64 { return s.OK + s.Fail + s.Info }

// Counts are completions by type.
type Counts struct {
	OK   int64 `json:"ok"`
	Fail int64 `json:"fail"`
	Info int64 `json:"info"`
}

// Used is what Run touched, so that Final reads exactly that.
type Used struct {
	// Tags lists, per key space (a workload's name; "pipeline-<of>" for the
	// pipeline workload), the hash tags Run sent ops to, e.g. "{register:12}",
	// in the order of their numbers.
	Tags map[string][]string `json:"tags"`
	// NextProcess is the first process id Run did not use: Final's ops
	// take theirs from there, so no process outlives an info.
	NextProcess int `json:"next_process"`
}

// Run drives the workloads of cfg against the cluster reachable at addrs
// until ctx ends (the run's time limit), recording every invoke and
// completion to rec. Ops under way when ctx ends finish, within the op
// timeout, and are recorded. The error is a bad config or a failing
// recorder (then the workers stop at once); errors of Redis are recorded,
// never returned.
func Run(ctx context.Context, cfg Config, addrs []string, rec Recorder) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, fmt.Errorf("workloads: %w", err)
	}
	if len(addrs) == 0 {
		return Summary{}, errors.New("workloads: no node addresses to connect to")
	}
	cfg = cfg.WithDefaults()
	cl := newClient(cfg, addrs)
	defer cl.close()
	r := newRunner(cfg, cl, rec)

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		errOnce sync.Once
		recErr  error
	)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(ctx)
	}()
	start := time.Now()
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = r.newWorker(i)
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			if err := r.work(ctx, w); err != nil {
				errOnce.Do(func() { recErr = err })
				stop()
			}
		}(workers[i])
	}
	wg.Wait()
	stop()
	<-progressDone
	if cfg.Progress != nil {
		cfg.Progress(r.ok.Load(), r.fail.Load(), r.info.Load())
	}
	sum := r.summary(workers, time.Since(start))
	if recErr != nil {
		return sum, fmt.Errorf("workloads: %w", recErr)
	}
	return sum, nil
}

// runner is what the workers of one Run share.
type runner struct {
	cfg  Config
	cl   *client
	rec  Recorder
	ids  Processes
	pace *pacer

	ok, fail, info atomic.Int64
	byType         []*[3]atomic.Int64 // per spec: ok, fail, info
}

func newRunner(cfg Config, cl *client, rec Recorder) *runner {
	r := &runner{cfg: cfg, cl: cl, rec: rec, ids: ProcessesOf(cfg)}
	for range cfg.Workloads {
		r.byType = append(r.byType, new([3]atomic.Int64))
	}
	if cfg.Rate > 0 {
		r.pace = &pacer{every: time.Duration(float64(time.Second) / cfg.Rate)}
	}
	return r
}

// worker is one client: one op outstanding per process, each process one
// lane of the worker (a pipeline batch uses several lanes at once).
type worker struct {
	idx  int
	g    *gen
	gens []generator // per spec
	ks   []*keyspace // per spec
	// incarnation counts, per lane, the processes retired after an info.
	incarnation []int
	maxProcess  int
	// stale, when set, is the start of the worker's last attempt that
	// failed in a way that says the slot map may be out of date: before
	// its next op the map is readied for it (client.prepare), as the
	// retries of an op are.
	stale time.Time
}

func (r *runner) newWorker(i int) *worker {
	w := &worker{idx: i, g: newGen(r.cfg.Seed, i, r.cfg.Concurrency), incarnation: make([]int, r.ids.Lanes), maxProcess: -1}
	per := r.cfg.OpsPerKey / r.cfg.Concurrency
	for _, s := range r.cfg.Workloads {
		ks := newKeyspace(s.space(), s.keys(r.cfg.Keys), per)
		w.ks = append(w.ks, ks)
		w.gens = append(w.gens, builderOf(s).generator(s, ks))
	}
	return w
}

// process is the process id of a lane: unique in the run, and fresh after
// every info (Jepsen's rule: a process that saw info never runs again).
func (r *runner) process(w *worker, lane int) int {
	p := r.ids.Process(w.idx, lane, w.incarnation[lane])
	w.maxProcess = max(w.maxProcess, p)
	return p
}

// Processes is how Run numbers its processes: each worker has Lanes lanes
// (one op outstanding per lane), and a lane takes a fresh process after
// every info. Readers of a history (replay) use it to map a process back
// to its worker and lane instead of re-deriving the rule.
type Processes struct {
	Concurrency int // workers
	Lanes       int // processes per worker: the longest pipeline batch, or 1
}

// ProcessesOf is the numbering Run uses for cfg (defaults filled).
func ProcessesOf(cfg Config) Processes {
	cfg = cfg.WithDefaults()
	ps := Processes{Concurrency: cfg.Concurrency, Lanes: 1}
	for _, s := range cfg.Workloads {
		if registry[s.Name].pipeline {
			ps.Lanes = max(ps.Lanes, s.Pipeline)
		}
	}
	return ps
}

// Process is the process id of worker's lane in its incarnation-th life
// (the number of infos that lane has seen).
func (ps Processes) Process(worker, lane, incarnation int) int {
	return (incarnation*ps.Concurrency+worker)*ps.Lanes + lane
}

// Lineage is the inverse of Process, for a process Run used. Final's
// processes (Summary.Used.NextProcess on) are not Run's: Lineage maps them
// to a lane all the same, so callers must cut them off first.
func (ps Processes) Lineage(process int) (worker, lane, incarnation int) {
	x := process / ps.Lanes
	return x % ps.Concurrency, process % ps.Lanes, x / ps.Concurrency
}

// pickSpec chooses the workload of the next op by weight.
func (r *runner) pickSpec(g *gen) int {
	total := 0
	for _, s := range r.cfg.Workloads {
		total += s.Weight
	}
	x := g.rng.IntN(total)
	for i, s := range r.cfg.Workloads {
		if x < s.Weight {
			return i
		}
		x -= s.Weight
	}
	return len(r.cfg.Workloads) - 1
}

// work runs one worker until ctx ends or recording fails.
func (r *runner) work(ctx context.Context, w *worker) error {
	for ctx.Err() == nil {
		i, calls, batch := r.next(w)
		if err := r.pace.wait(ctx, len(calls)); err != nil {
			return nil
		}
		if err := r.execute(ctx, w, i, calls, batch); err != nil {
			return err
		}
	}
	return nil
}

// next generates the worker's next ops: one, or a pipeline batch. It
// depends on the worker's past alone, never on replies or timing.
func (r *runner) next(w *worker) (spec int, calls []*call, batch bool) {
	spec = r.pickSpec(w.g)
	s := r.cfg.Workloads[spec]
	n := 1
	if batch = registry[s.Name].pipeline; batch {
		n = s.Pipeline
	}
	calls = make([]*call, n)
	for j := range calls {
		calls[j] = w.gens[spec].next(w.g)
	}
	return spec, calls, batch
}

// execute records the invokes of calls, runs them (in one pipeline when
// batch is set), and records their completions.
func (r *runner) execute(ctx context.Context, w *worker, spec int, calls []*call, batch bool) error {
	if !w.stale.IsZero() {
		key := calls[0].key
		if batch {
			key = ""
		}
		r.cl.prepare(ctx, key, w.stale, false)
		w.stale = time.Time{}
	}
	procs := make([]int, len(calls))
	for j, c := range calls {
		procs[j] = r.process(w, j)
		if _, err := r.rec.Append(history.Op{Process: procs[j], Type: history.Invoke, F: c.f, Key: c.key, Value: c.value}); err != nil {
			return fmt.Errorf("record invoke: %w", err)
		}
	}
	var res []result
	if batch {
		res = r.cl.doBatch(ctx, calls)
	} else {
		res = []result{r.cl.do(ctx, calls[0])}
	}
	for j, c := range calls {
		x := res[j]
		if _, err := r.rec.Append(history.Op{Process: procs[j], Type: x.typ, F: c.f, Key: c.key, Value: x.value,
			Error: x.err, Node: x.node, Redirects: x.redirects}); err != nil {
			return fmt.Errorf("record completion: %w", err)
		}
		r.count(spec, x.typ)
		if x.stale.After(w.stale) {
			w.stale = x.stale
		}
		if x.typ == history.Info {
			w.incarnation[j]++
		}
	}
	return nil
}

func (r *runner) count(spec int, t history.Type) {
	k := 0
	switch t {
	case history.OK:
		r.ok.Add(1)
	case history.Fail:
		r.fail.Add(1)
		k = 1
	default:
		r.info.Add(1)
		k = 2
	}
	r.byType[spec][k].Add(1)
}

// progress calls cfg.Progress every second until ctx ends.
func (r *runner) progress(ctx context.Context) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.cfg.Progress(r.ok.Load(), r.fail.Load(), r.info.Load())
		}
	}
}

func (r *runner) summary(workers []*worker, d time.Duration) Summary {
	s := Summary{OK: r.ok.Load(), Fail: r.fail.Load(), Info: r.info.Load(), Duration: d,
		Workloads: map[string]Counts{}, Used: Used{Tags: map[string][]string{}}}
	for i, spec := range r.cfg.Workloads {
		c := r.byType[i]
		s.Workloads[spec.space()] = Counts{OK: c[0].Load(), Fail: c[1].Load(), Info: c[2].Load()}
		var ns []int
		for _, w := range workers {
			ns = append(ns, w.ks[i].used()...)
		}
		slices.Sort(ns)
		ns = slices.Compact(ns)
		tags := make([]string, len(ns))
		for j, n := range ns {
			tags[j] = tag(spec.space(), n)
		}
		if len(tags) > 0 {
			s.Used.Tags[spec.space()] = tags
		}
	}
	for _, w := range workers {
		s.Used.NextProcess = max(s.Used.NextProcess, w.maxProcess+1)
	}
	return s
}

// pacer spaces ops evenly to a rate shared by all workers. A nil pacer
// does not wait.
type pacer struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

// wait blocks until n more ops may start, or ctx ends.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p == nil {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(time.Duration(n) * p.every)
	p.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// finalRetry is the policy of the final reads: a read has no effect, so
// every error is retried, within ctx.
func finalRetry(p RetryPolicy) RetryPolicy {
	p.MaxRetries = max(p.MaxRetries, 30)
	p.RetryOn = Kinds()
	return p
}

// Final reads, after the cluster has healed, every key Run used (used is
// Summary.Used) with each workload's read: GET for register, kv and
// counter, SMEMBERS for set, LRANGE for each list-append key, MGET for
// multikey. Each read is an op of its own, recorded like Run's, under
// processes from used.NextProcess on; it is retried on any error until it
// succeeds, its retries run out or ctx ends. The error says how many reads
// did not succeed (they are recorded all the same), or that recording failed.
func Final(ctx context.Context, cfg Config, addrs []string, rec Recorder, used Used) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("workloads: %w", err)
	}
	if len(addrs) == 0 {
		return errors.New("workloads: final reads: no node addresses to connect to")
	}
	cfg = cfg.WithDefaults()
	cfg.Retry = finalRetry(cfg.Retry)
	var jobs []*call
	for _, s := range cfg.Workloads {
		for _, t := range used.Tags[s.space()] {
			jobs = append(jobs, builderOf(s).final(t)...)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	cl := newClient(cfg, addrs)
	defer cl.close()
	queue := make(chan *call)
	var (
		mu        sync.Mutex
		failed    int
		firstFail string
		recErr    error
	)
	n := min(cfg.Concurrency, len(jobs))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := used.NextProcess + i
			for j := range queue {
				if ctx.Err() != nil {
					mu.Lock()
					failed++
					firstFail = cmp.Or(firstFail, j.key+": not read: "+ctx.Err().Error())
					mu.Unlock()
					continue
				}
				if _, err := rec.Append(history.Op{Process: p, Type: history.Invoke, F: j.f, Key: j.key, Value: j.value}); err != nil {
					mu.Lock()
					recErr = cmp.Or(recErr, fmt.Errorf("record invoke: %w", err))
					mu.Unlock()
					continue
				}
				x := cl.do(ctx, j)
				_, err := rec.Append(history.Op{Process: p, Type: x.typ, F: j.f, Key: j.key, Value: x.value,
					Error: x.err, Node: x.node, Redirects: x.redirects})
				mu.Lock()
				if err != nil {
					recErr = cmp.Or(recErr, fmt.Errorf("record completion: %w", err))
				}
				if x.typ != history.OK {
					failed++
					if firstFail == "" {
						firstFail = j.key + ": " + x.err
					}
				}
				mu.Unlock()
				if x.typ == history.Info {
					p += n
				}
			}
		}(i)
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	if recErr != nil {
		return fmt.Errorf("workloads: final reads: %w", recErr)
	}
	if failed > 0 {
		return fmt.Errorf("workloads: %d of %d final reads did not succeed (first: %s)", failed, len(jobs), firstFail)
	}
	return nil
}
