package nemesis

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// Result is what became of one action of the timeline. Times are history
// times: ns since the run started.
type Result struct {
	Action Action `json:"action"`
	// Fault describes the fault once in effect; Nodes are the nodes it touched.
	Fault string   `json:"fault,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Scheduled is when it was due (Action.At); Started when its inject
	// began (its offset, give or take the timer); Effect when it was in
	// effect (0 if it never was), and Latency the difference between
	// Effect and Scheduled: how long the inject itself took, a failover's
	// wait for agreement included.
	Scheduled int64         `json:"scheduled_ns"`
	Started   int64         `json:"started_ns,omitempty"`
	Effect    int64         `json:"effect_ns,omitempty"`
	Latency   time.Duration `json:"latency_ns,omitempty"`
	// Error says why it did not take effect.
	Error string `json:"error,omitempty"`
	// Healed is when its heal ended, HealTook how long the heal took, and
	// HealError why it failed (the heal at the end of the run retries it).
	Healed    int64         `json:"healed_ns,omitempty"`
	HealTook  time.Duration `json:"heal_took_ns,omitempty"`
	HealError string        `json:"heal_error,omitempty"`
}

// Runner runs a timeline beside the clients: each action at its offset from
// the start of the run (the Recorder's clock), each fault healed after its
// For, every action recorded in the history as process -1 records.
//
// Every inject starts at its action's At, and every heal at At+For, each
// in a goroutine of its own: an action due while an earlier one is still
// being injected (a failover waiting for every node to agree, a kill
// waiting for the process to die) starts on time instead of after it. The
// one wait is a heal's for its own inject: a fault is healed once it is in
// effect, so a heal due before its inject has ended starts when it ends
// (and an inject that failed leaves nothing to heal).
//
// Actions that overlap, on the same nodes or not, simply both act, as
// scheduled: a kill 100 ms into a failover of the same shard kills while
// the failover is under way, and a heal and an inject due at the same
// offset run together. The scenario asked for exactly that; the runner
// neither orders nor refuses them. Their records (and Results' Effect and
// Healed) come in the order things happened, which is not always the
// timeline's; each record names its action. Choices of nodes draw from the
// Env's Rand one after another, in the order the injects reach them:
// actions due at the same offset with random targets may choose
// differently in a replay.
type Runner struct {
	env    *Env
	start  time.Time // the clock when env.Rec is nil
	cancel context.CancelFunc
	done   chan struct{}
	uses   map[topology.Ability]bool
	// injected[i] is closed once action i's inject has ended and been
	// recorded, in effect or not; healing[i] admits one heal of action i at
	// a time, so that a heal stopped late and HealAll's do not both record.
	injected []chan struct{}
	healing  []chan struct{}

	// failed is closed, once, when an inject fails while the run goes on;
	// failure says which and why.
	failed   chan struct{}
	failOnce sync.Once
	failure  string

	mu      sync.Mutex
	results []Result
	open    map[int]Fault // by action index
	order   []int         // open faults' indexes, in the order they took effect
	closed  bool          // HealAll has taken the open faults
}

// lateHealWithin bounds the heal of a fault that took effect after HealAll
// had healed the rest (an inject that ignored the end of the run).
const lateHealWithin = time.Minute

// Start runs the timeline (as Resolve returns it) in the background until
// its end or ctx's. The caller must defer HealAll, with a context of its
// own (context.WithoutCancel and a timeout), so that every fault is healed
// whatever ends the run.
func Start(ctx context.Context, env *Env, timeline []Action) *Runner {
	rctx, cancel := context.WithCancel(ctx)
	r := &Runner{env: env, start: time.Now(), cancel: cancel, done: make(chan struct{}), failed: make(chan struct{}),
		uses: map[topology.Ability]bool{}, results: make([]Result, len(timeline)), open: map[int]Fault{},
		injected: make([]chan struct{}, len(timeline)), healing: make([]chan struct{}, len(timeline))}
	for i, a := range timeline {
		r.results[i] = Result{Action: a, Scheduled: int64(a.At)}
		r.injected[i] = make(chan struct{})
		r.healing[i] = make(chan struct{}, 1)
		if k, err := Lookup(a.Do); err == nil {
			// HealAll's sweep heals by ability. Params that do not decode
			// (Resolve refuses them; only a caller that skipped it has
			// such) make the inject fail and say why; the sweep still
			// covers what the kind uses with its defaults.
			p, perr := k.WithDefaults(a.Params)
			if perr != nil {
				p = k.defaults()
			}
			for _, ab := range k.Abilities(p) {
				r.uses[ab] = true
			}
		}
	}
	go r.run(rctx, timeline)
	return r
}

// Done is closed when the timeline has run out (or was stopped) and every
// inject and heal it started has returned.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Failed is closed when an inject fails while the run goes on (not one
// stopped by the end of the run): a fault the scenario asked for did not
// happen, so the run's verdict would not mean what it says. Failure says
// which.
func (r *Runner) Failed() <-chan struct{} { return r.failed }

// Failure is one line naming the first action whose inject failed during
// the run and why ("" when none did).
func (r *Runner) Failure() string {
	select {
	case <-r.failed:
		return r.failure
	default:
		return ""
	}
}

// Results returns what became of each action so far, in timeline order.
func (r *Runner) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

func (r *Runner) now() int64 {
	if r.env.Rec != nil {
		return r.env.Rec.Now()
	}
	return int64(time.Since(r.start))
}

type event struct {
	at   time.Duration
	heal bool
	i    int
}

// run starts each event at its time, each in its own goroutine, and
// returns once every one it started has returned.
func (r *Runner) run(ctx context.Context, timeline []Action) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(r.done)
	}()
	var events []event
	for i, a := range timeline {
		events = append(events, event{at: a.At, i: i})
		if a.For > 0 {
			events = append(events, event{at: a.At + a.For, heal: true, i: i})
		}
	}
	// In time order; at the same time heals are started first, then by action.
	sort.SliceStable(events, func(i, j int) bool {
		a, b := events[i], events[j]
		if a.at != b.at {
			return a.at < b.at
		}
		return a.heal && !b.heal
	})
	for _, ev := range events {
		if wait := time.Duration(int64(ev.at) - r.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !ev.heal {
				r.inject(ctx, ev.i)
				return
			}
			select {
			case <-r.injected[ev.i]:
			case <-ctx.Done():
				return // the run is ending: HealAll heals it
			}
			r.heal(ctx, ev.i, false)
		}()
	}
}

// inject puts action i in effect and records it.
func (r *Runner) inject(ctx context.Context, i int) {
	defer close(r.injected[i])
	started := r.now()
	r.mu.Lock()
	res := &r.results[i]
	res.Started = started
	a, scheduled := res.Action, res.Scheduled
	r.mu.Unlock()
	log := r.env.log().With("action", i, "fault", a.Do, "target", a.Target)
	var fault Fault
	err := safely(func() error {
		n, err := New(a.Do, a.Params)
		if err != nil {
			return err
		}
		fault, err = n.Inject(ctx, r.env, Target(a.Target))
		return err
	})
	if err == nil && fault == nil {
		err = errors.New("the nemesis returned no fault")
	}
	at := r.now()
	value := r.value(i, a, fault, false)
	value["scheduled_ns"] = scheduled
	value["started_ns"] = started
	value["for_ns"] = int64(a.For) // 0: no heal before the end of the run
	op := history.Op{Process: history.NemesisProcess, Type: history.Info, F: a.Do, Time: at, Value: value}
	r.mu.Lock()
	res = &r.results[i]
	late := false
	if err != nil {
		res.Error = err.Error()
		op.Error = err.Error()
	} else {
		res.Fault, res.Effect, res.Latency = fault.String(), at, time.Duration(at-res.Scheduled)
		res.Nodes = nodesOfFault(fault)
		value["latency_ns"] = int64(res.Latency)
		r.open[i] = fault
		r.order = append(r.order, i)
		late = r.closed
	}
	r.mu.Unlock()
	r.record(op)
	if err != nil {
		log.Warn("fault not injected", "error", err)
		if ctx.Err() == nil {
			line, _, _ := strings.Cut(err.Error(), "\n") // a panic's stack stays in the log
			r.failOnce.Do(func() {
				r.failure = fmt.Sprintf("nemesis action %d (%s) failed: %s", i+1, a, line)
				close(r.failed)
			})
		}
		return
	}
	log.Info("fault in effect", "what", fault.String(), "latency", time.Duration(at)-a.At)
	if late {
		// HealAll has come and gone while this inject ignored the end of
		// the run: heal it now, or nobody will.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lateHealWithin)
		defer cancel()
		r.heal(hctx, i, true)
	}
}

// heal heals action i's fault, if open, and records it. During the run
// (final false) a heal stopped by the run's end stays open for HealAll.
func (r *Runner) heal(ctx context.Context, i int, final bool) error {
	r.mu.Lock()
	a := r.results[i].Action
	r.mu.Unlock()
	select {
	case r.healing[i] <- struct{}{}:
	case <-ctx.Done():
		if !final {
			return ctx.Err()
		}
		return fmt.Errorf("action %d (%s): an earlier heal of it is still running: %w", i+1, a.Do, ctx.Err())
	}
	defer func() { <-r.healing[i] }()
	r.mu.Lock()
	fault, ok := r.open[i]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	start := r.now()
	err := safely(func() error { return fault.Heal(ctx) })
	if err != nil && !final && ctx.Err() != nil {
		return err // the run is ending: HealAll heals it
	}
	at := r.now()
	value := r.value(i, a, fault, true)
	op := history.Op{Process: history.NemesisProcess, Type: history.Info, F: a.Do, Time: at, Value: value}
	r.mu.Lock()
	res := &r.results[i]
	res.Healed, res.HealTook, res.HealError = at, time.Duration(at-start), ""
	if err != nil {
		res.HealError, op.Error = err.Error(), err.Error()
	} else {
		delete(r.open, i)
		r.order = slices.DeleteFunc(r.order, func(x int) bool { return x == i })
	}
	r.mu.Unlock()
	r.record(op)
	log := r.env.log().With("action", i, "fault", a.Do)
	if err != nil {
		log.Warn("heal failed", "what", fault.String(), "error", err)
		return fmt.Errorf("action %d (%s): %w", i+1, a.Do, err)
	}
	log.Info("fault healed", "what", fault.String(), "took", time.Duration(at-start))
	return nil
}

// value is the record's value: target, nodes, params and the fault's details.
func (r *Runner) value(i int, a Action, f Fault, heal bool) map[string]any {
	v := map[string]any{"action": int64(i), "target": a.Target}
	for k, p := range a.Params {
		v[k] = p
	}
	if heal {
		v["heal"] = true
	}
	if f != nil {
		v["fault"] = f.String()
		v["nodes"] = nodesOfFault(f)
		if d, ok := f.(Described); ok && len(d.Details()) > 0 {
			v["details"] = d.Details()
		}
	}
	return v
}

func nodesOfFault(f Fault) []string {
	if d, ok := f.(Described); ok {
		if n := d.Nodes(); n != nil {
			return n
		}
	}
	return []string{}
}

func (r *Runner) record(op history.Op) {
	if r.env.Rec == nil {
		return
	}
	if _, err := r.env.Rec.Append(op); err != nil {
		r.env.log().Error("record nemesis op", "op", op.String(), "error", err)
	}
}

// safely runs f, turning a panic into an error: a fault that panics must
// not take the run, and with it the heal, down.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return f()
}

// HealAll stops the timeline, waits (as long as ctx allows) for the injects
// and heals under way, and heals every fault still open, the last to take
// effect first, recording each heal; then, as a safety net, it removes
// every network rule of the cluster and resumes and restarts every node, if
// the timeline used such faults. It returns every heal's error. Call it
// deferred, with a context that outlives the run's (context.WithoutCancel
// plus a timeout): on normal end, error, panic and signal alike. Later
// calls do nothing. A fault whose inject ignored the end of the run and
// takes effect after HealAll gave up waiting is healed as soon as it does.
func (r *Runner) HealAll(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		// An inject that ignores its context; heal what is open anyway.
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	order := slices.Clone(r.order)
	r.mu.Unlock()

	var errs []error
	for k := len(order) - 1; k >= 0; k-- {
		if err := r.heal(ctx, order[k], true); err != nil {
			errs = append(errs, err)
		}
	}
	env := r.env
	if env.Backend != nil && (r.uses[topology.AbilityPartition] || r.uses[topology.AbilityNetem]) {
		if net, ok := env.Backend.(topology.Network); ok {
			err := safely(func() error { return net.HealNetwork(ctx, env.cluster()) })
			if err != nil {
				errs = append(errs, fmt.Errorf("heal the network: %w", err))
			}
		}
	}
	if env.Backend != nil && r.uses[topology.AbilityLifecycle] {
		if lc, ok := env.Backend.(topology.Lifecycle); ok {
			c := env.cluster()
			err := each(len(c.Nodes), func(i int) error {
				return safely(func() error {
					return errors.Join(lc.Resume(ctx, c, c.Nodes[i].Name), lc.Restart(ctx, c, c.Nodes[i].Name))
				})
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("resume and restart every node: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
