package checker

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// VisualizationFile is where Linearizable writes porcupine's visualization
// of the keys it found not linearizable, inside Input.Dir.
const VisualizationFile = "linearizability.html"

// Linearizable checks every key of its workloads for linearizability with
// porcupine, one partition per key, keys in parallel on every core. A key's
// model follows from its ops' f: read/write/cas → register (integers, null
// before the first write), get/put/append → kv (strings, null reads as "").
type Linearizable struct {
	Workloads []string
	Options   Options
}

// Name is "linearizable".
func (c *Linearizable) Name() string { return "linearizable" }

// LinearizableResult is results.json's checkers.linearizable.
type LinearizableResult struct {
	Valid  Valid  `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// Keys is how many keys were checked, by model; Ops how many operations
	// went into the models (fails other than cas-mismatch and reads of
	// unknown outcome say nothing and are left out).
	Keys   int            `json:"keys"`
	Models map[string]int `json:"models"`
	Ops    int            `json:"ops"`
	// DirectKeys are the keys shown linearizable, with no search, by the
	// walk of their ops in time order (direct.go), its order checked op by
	// op (most keys of a healthy run); the others were searched.
	DirectKeys int `json:"direct_keys"`
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// InvalidKeys are the keys shown not linearizable (the first
	// MaxListed, sorted; InvalidCount is exact). Failures explain the first
	// Options.MaxWitnesses of them, each by a minimal witness.
	InvalidKeys  []string                   `json:"invalid_keys,omitempty"`
	InvalidCount int                        `json:"invalid_count"`
	Failures     []LinearizabilityViolation `json:"failures,omitempty"`
	// Undecided are the keys the search did not decide: its time budget
	// ran out or its memory ceiling was reached. UndecidedWhy says why for
	// each of them, and how far its search got.
	Undecided      []string     `json:"undecided,omitempty"`
	UndecidedCount int          `json:"undecided_count"`
	UndecidedWhy   []SkippedKey `json:"undecided_why,omitempty"`
	// Skipped are keys no model fits (mixed or unknown f, values of the
	// wrong type), with why.
	Skipped      []SkippedKey `json:"skipped,omitempty"`
	SkippedCount int          `json:"skipped_count"`
	// Visualization is porcupine's drawing of the failures' witnesses, a
	// file name in the run directory; VisualizationError why it could not
	// be written.
	Visualization      string `json:"visualization,omitempty"`
	VisualizationError string `json:"visualization_error,omitempty"`
	// BudgetS is the search's time budget and MemoryCeiling its memory
	// ceiling (bytes); SearchS the time the verdict took and PeakMemory the
	// most memory the runtime held meanwhile (bytes). DurationS is the
	// whole check, explanation included.
	BudgetS       float64 `json:"budget_s"`
	MemoryCeiling int64   `json:"memory_ceiling"`
	SearchS       float64 `json:"search_s"`
	PeakMemory    int64   `json:"peak_memory"`
	DurationS     float64 `json:"duration_s"`
	// ExplainBudgetS is the explanation's time budget, for all failing keys
	// together; ExplainS what it took; ExplainCut, when set, says what cut
	// it short (its budget, its memory ceiling). The verdict never waits on
	// the explanation and never changes with it.
	ExplainBudgetS float64 `json:"explain_budget_s,omitempty"`
	ExplainS       float64 `json:"explain_s,omitempty"`
	ExplainCut     string  `json:"explain_cut,omitempty"`
}

// Verdict is the result's verdict.
func (r *LinearizableResult) Verdict() Valid { return r.Valid }

// LinearizabilityViolation explains one key that is not linearizable by a
// witness: a few of its ops that cannot be linearized even when every
// other write of the key is taken to have happened at any time after its
// invocation, or not at all, and every other read is left out; without
// any one of them, they can (1-minimal). Linearized, State, Last and Stuck
// tell the witness's story: the longest order the model accepts, the
// value after it, and the ops that could not come next.
type LinearizabilityViolation struct {
	Key   string `json:"key"`
	Model string `json:"model"`
	Ops   int    `json:"ops"`
	// Witness is the invoke-record indexes of the witness's ops, in history
	// order; WitnessStory one line per op, in the same order; WitnessOps
	// the ops themselves. WitnessMinimal says whether removing any one op
	// was shown to make the rest linearizable; WitnessNote why not, when
	// it is not (the shrink's budget ran out, a check was undecided).
	// WitnessChecks is how many porcupine checks the shrinking took.
	Witness        []int64  `json:"witness,omitempty"`
	WitnessStory   []string `json:"witness_story,omitempty"`
	WitnessOps     []OpRef  `json:"witness_ops,omitempty"`
	WitnessMinimal bool     `json:"witness_minimal"`
	WitnessNote    string   `json:"witness_note,omitempty"`
	WitnessChecks  int      `json:"witness_checks,omitempty"`
	// Linearized is the length of the longest order of the witness's ops
	// (and the other writes it needs) that the model accepts; State the
	// register's or string's value after it.
	Linearized int    `json:"linearized"`
	State      string `json:"state"`
	// Last are the final ops of that order (up to 5), in order.
	Last []OpRef `json:"last,omitempty"`
	// Stuck is the op that had to come next (the earliest to complete of
	// those left) and the ops concurrent with it; none fits the state.
	Stuck []OpRef `json:"stuck,omitempty"`
	// Detail is set when the explanation could not be computed in full.
	Detail string `json:"detail,omitempty"`
}

// SkippedKey is a key and a reason: one no model could judge, or one the
// search left undecided.
type SkippedKey struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// linKind is what a modelled op does.
type linKind uint8

const (
	regRead        linKind = iota // read → a
	regWrite                      // write a
	regCAS                        // cas a → b, ok or unknown outcome
	regCASMismatch                // cas a → b that found the value was not a
	kvGet                         // get → s
	kvPut                         // put s
	kvAppend                      // append s
)

// regNil is the register's value before the first write (a read of null).
const regNil = math.MinInt64

// linOp is a porcupine input: one operation in the model's terms. Inputs
// are pointers into a per-key slab, and next holds the state a write leads
// to already boxed, so a step allocates nothing but kv appends.
type linOp struct {
	kind linKind
	info bool // outcome unknown: it may take effect any time after its invocation
	// pos is the op's position in its key's ops, which are in history order.
	pos  int32
	a, b int64
	s    string
	next any
	// op is the index in Input.Operations; proc, call and ret its process
	// and interval, for porcupine.
	op, proc  int32
	call, ret int64
}

// linInit is every key's initial state: null, i.e. regNil or "".
type linInit struct{}

var (
	linSeed        = maphash.MakeSeed()
	linInitBox any = linInit{}
)

func regState(s any) int64 {
	if v, ok := s.(int64); ok {
		return v
	}
	return regNil
}

func kvState(s any) string {
	if v, ok := s.(string); ok {
		return v
	}
	return ""
}

// linModel is the porcupine model of both register and kv keys. Once stop
// is set, every step fails so that the search ends at once; the caller
// then discards the (meaningless) answer. reached, when not nil, records
// the furthest op (its pos + 1) the search has placed: how far it got.
func linModel(stop *atomic.Bool, reached *atomic.Int32) porcupine.Model {
	m := linModelBase()
	m.Step = func(state, input, _ any) (bool, any) {
		if stop.Load() {
			return false, state
		}
		op := input.(*linOp)
		ok, next := linStep(state, op)
		if ok && reached != nil && op.pos >= reached.Load() {
			reached.Store(op.pos + 1)
		}
		return ok, next
	}
	return m
}

func linModelBase() porcupine.Model {
	return porcupine.Model{
		Init:              func() any { return linInitBox },
		Hash:              linHash,
		DescribeOperation: func(input, _ any) string { return describeLinOp(input.(*linOp)) },
		DescribeState:     describeLinState,
		DescribeOperationMetadata: func(m any) string {
			if s, ok := m.(string); ok {
				return s
			}
			return ""
		},
	}
}

// linHash is the model's hash of a state.
func linHash(state any) uint64 {
	switch v := state.(type) {
	case int64:
		return uint64(v) * 0x9E3779B97F4A7C15
	case string:
		return maphash.String(linSeed, v)
	}
	return 0
}

// linStep is the model's step: whether op fits state, and the state after.
func linStep(state any, op *linOp) (bool, any) {
	switch op.kind {
	case regRead:
		return regState(state) == op.a, state
	case regWrite, kvPut:
		return true, op.next
	case regCAS:
		if regState(state) == op.a {
			return true, op.next
		}
		// A cas of unknown outcome may have found another value.
		return op.info, state
	case regCASMismatch:
		return regState(state) != op.a, state
	case kvGet:
		return kvState(state) == op.s, state
	case kvAppend:
		return true, kvState(state) + op.s
	}
	return false, state
}

func describeLinState(state any) string {
	switch v := state.(type) {
	case int64:
		if v == regNil {
			return "null"
		}
		return strconv.FormatInt(v, 10)
	case string:
		return shortQuote(v)
	}
	return "null"
}

func shortQuote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:30]) + "…" + strconv.Quote(s[len(s)-30:]) + fmt.Sprintf(" (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

func describeLinOp(op *linOp) string {
	reg := func(v int64) string { return describeLinState(v) }
	var s string
	switch op.kind {
	case regRead:
		s = "read → " + reg(op.a)
	case regWrite:
		s = "write " + reg(op.a)
	case regCAS:
		s = "cas " + reg(op.a) + " → " + reg(op.b)
	case regCASMismatch:
		s = "cas " + reg(op.a) + " → " + reg(op.b) + " (mismatch)"
	case kvGet:
		s = "get → " + shortQuote(op.s)
	case kvPut:
		s = "put " + shortQuote(op.s)
	case kvAppend:
		s = "append " + shortQuote(op.s)
	}
	if op.info {
		s += " (info)"
	}
	return s
}

// linKey is one key's history in the model's terms.
type linKey struct {
	key   string
	model string
	slab  []linOp
	ops   []porcupine.Operation // made by operations
	skip  string
	// n counts the key's operations; reg and kv those of each model's f.
	n, reg, kv int
	// verdict after the walk or the search; direct when the walk
	// (linearizeDirect) found the key's linearization
	res    porcupine.CheckResult
	direct bool
	// stop ends the key's search (the memory ceiling, cancellation);
	// reached is how far it got (see linModel); why says why the key was
	// left undecided; done is closed when its search returns.
	stop    atomic.Bool
	reached atomic.Int32
	why     string
	done    chan struct{}
	started time.Time
}

// Check runs the search: the verdict under the check's time budget and
// memory ceiling, then, for the keys found not linearizable, the
// explanation (witnesses, drawing) under budgets of its own, which never
// change the verdict.
func (c *Linearizable) Check(ctx context.Context, in *Input) Result {
	started := time.Now()
	budget := c.Options.timeout()
	ceiling := c.Options.checkMemory()
	res := &LinearizableResult{Models: map[string]int{}, OpsJudged: map[string]int{}, BudgetS: budget.Seconds(), MemoryCeiling: ceiling}
	defer func() { res.DurationS = time.Since(started).Seconds() }()
	defer limitMemory(ceiling)()

	keys := c.prepare(in)
	var jobs []*linKey
	for _, k := range keys {
		if k.skip != "" {
			res.SkippedCount++
			res.Skipped = capped(res.Skipped, SkippedKey{Key: k.key, Reason: k.skip})
			continue
		}
		res.Keys++
		res.Models[k.model]++
		res.Ops += len(k.slab)
		res.OpsJudged[judgedSpace(c.Options.Only, k.key)] += len(k.slab)
		jobs = append(jobs, k)
	}
	if len(keys) == 0 {
		res.Valid = Unknown
		res.Reason = fmt.Sprintf("no operations of %v in the history", c.Workloads)
		return res
	}

	peak := decide(ctx, in, jobs, budget, started.Add(budget), ceiling, !c.Options.searchOnly)
	res.PeakMemory = peak.held
	res.SearchS = time.Since(started).Seconds()

	var invalid, undecided []*linKey
	for _, k := range jobs {
		if k.direct {
			res.DirectKeys++
		}
		switch k.res {
		case porcupine.Illegal:
			invalid = append(invalid, k)
		case porcupine.Unknown:
			undecided = append(undecided, k)
		}
	}
	res.InvalidCount, res.UndecidedCount = len(invalid), len(undecided)
	for _, k := range invalid {
		res.InvalidKeys = capped(res.InvalidKeys, k.key)
	}
	for _, k := range undecided {
		res.Undecided = capped(res.Undecided, k.key)
		res.UndecidedWhy = capped(res.UndecidedWhy, SkippedKey{Key: k.key, Reason: k.why})
	}

	var reasons []string
	switch {
	case len(invalid) > 0:
		res.Valid = False
		reasons = append(reasons, fmt.Sprintf("%d of %d keys are not linearizable", len(invalid), len(jobs)))
	case len(undecided) > 0 || res.SkippedCount > 0:
		res.Valid = Unknown
	default:
		res.Valid = True
	}
	if len(undecided) > 0 {
		reasons = append(reasons, undecidedReason(undecided, res.Undecided))
	}
	if res.SkippedCount > 0 {
		reasons = append(reasons, fmt.Sprintf("%d keys fit no model (%s: %s)", res.SkippedCount, res.Skipped[0].Key, res.Skipped[0].Reason))
	}
	res.Reason = joinReasons(reasons)

	if len(invalid) > 0 && ctx.Err() == nil {
		c.explain(ctx, in, invalid, res)
	}
	return res
}

// undecidedReason says which keys were left undecided and why: the first
// key's own story (how far its search got), then the count by cause.
func undecidedReason(undecided []*linKey, listed []string) string {
	causes := map[string]int{}
	var order []string
	for _, k := range undecided {
		cause, _, _ := strings.Cut(k.why, ":")
		if causes[cause] == 0 {
			order = append(order, cause)
		}
		causes[cause]++
	}
	first := undecided[0]
	for _, k := range undecided {
		if strings.HasPrefix(k.why, "stopped at the memory ceiling") {
			first = k // the most telling one
			break
		}
	}
	s := fmt.Sprintf("%d keys undecided (%s): %s %s", len(undecided), keyList(listed, len(undecided)), first.key, first.why)
	if len(order) > 1 {
		var parts []string
		for _, c := range order {
			parts = append(parts, fmt.Sprintf("%d %s", causes[c], c))
		}
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func keyList(keys []string, total int) string {
	const show = 5
	if len(keys) > show {
		return fmt.Sprintf("%v… %d in all", keys[:show], total)
	}
	return fmt.Sprint(keys)
}

// progress says how far k's search got: the furthest op it placed.
func (k *linKey) progress(in *Input) string {
	r := int(k.reached.Load())
	if r == 0 || len(k.slab) == 0 {
		return fmt.Sprintf("its search had placed none of its %d ops", len(k.slab))
	}
	o := in.Operations[k.slab[r-1].op]
	return fmt.Sprintf("its search had placed ops up to op %d of %d (record #%d, invoked at %s)", r, len(k.slab), o.Invoke.Index, nsText(o.Invoke.Time))
}

// nsText writes a history time (ns since the run started) for people.
func nsText(ns int64) string {
	switch {
	case ns >= 1e6 || ns <= -1e6:
		return fmt.Sprintf("%.3f s", float64(ns)/1e9)
	case ns >= 1e3 || ns <= -1e3:
		return fmt.Sprintf("%.3f ms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%d ns", ns)
}

// settleGrace bounds how long the search goes on once a key is shown not
// linearizable: the verdict is settled, and the other keys are searched
// only for the evidence (how many keys fail), which must not hold the
// verdict back by the whole budget. They get as long again as the
// verdict took, within these bounds.
const (
	minSettleGrace = 100 * time.Millisecond
	maxSettleGrace = time.Second
)

// decide searches every key, biggest first, on every core, until deadline
// (or a grace after a key is found not linearizable), under the
// memory ceiling. With direct, each key is first walked in time order
// (linearizeDirect); a key the walk orders is linearizable and is not
// searched. When the runtime's memory passes the ceiling,
// the biggest key being searched is stopped (its search holds the most:
// porcupine's cache keeps a bitset of its ops per state it visits), its
// memory collected, and the others go on. It returns the peak memory seen.
func decide(ctx context.Context, in *Input, jobs []*linKey, budget time.Duration, deadline time.Time, ceiling int64, direct bool) memSample {
	if overCeiling(currentMem(), ceiling) {
		// The loaded history alone fills the ceiling: no search could run
		// under it, and stopping the keys one by one would only collect
		// garbage a thousand times.
		m := currentMem()
		for _, k := range jobs {
			k.res, k.ops, k.slab = porcupine.Unknown, nil, nil
			k.why = fmt.Sprintf("not searched: the loaded history alone fills the memory ceiling of %s (live heap %s, runtime holding %s); raise --check-memory", SizeText(ceiling), SizeText(m.live), SizeText(m.held))
		}
		return m
	}
	order := append([]*linKey(nil), jobs...)
	sort.SliceStable(order, func(i, j int) bool { return len(order[i].slab) > len(order[j].slab) })
	var mu sync.Mutex
	inflight := map[*linKey]bool{}
	stopAll := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for k := range inflight {
			if !k.stop.Load() {
				k.why = "cancelled: the check was interrupted"
				k.stop.Store(true)
			}
		}
	})
	defer stopAll()
	watch := watchMemory(func(m memSample) bool { return overCeiling(m, ceiling) }, func(m memSample) bool {
		mu.Lock()
		var big *linKey
		for k := range inflight {
			if !k.stop.Load() && (big == nil || len(k.slab) > len(big.slab)) {
				big = k
			}
		}
		if big == nil {
			mu.Unlock()
			return false
		}
		big.why = fmt.Sprintf("stopped at the memory ceiling of %s (runtime holding %s, live heap %s) after %.1f s of search",
			SizeText(ceiling), SizeText(m.held), SizeText(m.live), time.Since(big.started).Seconds())
		big.stop.Store(true)
		mu.Unlock()
		select { // its search unwinds in moments; then its cache is garbage
		case <-big.done:
		case <-time.After(2 * time.Second):
		}
		return true
	})

	// Once a key is shown not linearizable the verdict is settled: the
	// other keys get settleGrace more, for the evidence, and no longer.
	begun := time.Now()
	var settled string // the key that settled it, under mu
	var settleAt time.Time
	var settleTimer *time.Timer
	settle := func(k *linKey) {
		mu.Lock()
		defer mu.Unlock()
		if settled != "" {
			return
		}
		grace := min(max(time.Since(begun), minSettleGrace), maxSettleGrace)
		settled, settleAt = k.key, time.Now().Add(grace)
		settleTimer = time.AfterFunc(grace, func() {
			mu.Lock()
			defer mu.Unlock()
			for k := range inflight {
				if !k.stop.Load() {
					k.why = fmt.Sprintf("not needed for the verdict: the search stopped %s after %s was found not linearizable, %.1f s into this key", grace.Round(time.Millisecond), settled, time.Since(k.started).Seconds())
					k.stop.Store(true)
				}
			}
		})
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if settleTimer != nil {
			settleTimer.Stop()
		}
	}()

	next := make(chan *linKey)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				mu.Lock()
				by, at := settled, settleAt
				mu.Unlock()
				switch {
				case ctx.Err() != nil:
					k.res, k.why = porcupine.Unknown, "cancelled: not searched before the check was interrupted"
					continue
				case by != "" && !time.Now().Before(at):
					k.res, k.why = porcupine.Unknown, fmt.Sprintf("not searched, not needed for the verdict: %s was found not linearizable", by)
					continue
				}
				// From here the key is in flight: cancellation, the
				// settled verdict's grace and the memory ceiling stop its
				// walk and its search alike, through k.stop.
				k.done, k.started = make(chan struct{}), time.Now()
				mu.Lock()
				inflight[k] = true
				mu.Unlock()
				if direct {
					// The walk may take a quarter of the budget at most,
					// and leaves the rest to the search.
					walkEnd := time.Now().Add(budget / 4)
					_, k.direct = linearizeDirect(k.slab, func() bool {
						now := time.Now()
						return k.stop.Load() || now.After(deadline) || now.After(walkEnd)
					})
				}
				searched := false
				switch left := time.Until(deadline); {
				case k.direct:
					k.res = porcupine.Ok
				case k.stop.Load():
				case left <= 0:
					k.res, k.why = porcupine.Unknown, "not searched: the search budget ran out before its search began"
				default:
					k.res = porcupine.CheckOperationsTimeout(linModel(&k.stop, &k.reached), k.operations(), left)
					searched = true
				}
				mu.Lock()
				delete(inflight, k)
				stopped := k.stop.Load()
				mu.Unlock()
				close(k.done)
				switch {
				case k.direct:
				case stopped:
					k.res = porcupine.Unknown
					k.why += "; " + k.progress(in)
				case searched && k.res == porcupine.Unknown:
					k.why = fmt.Sprintf("the search budget of %s ran out after %.1f s on it", budget, time.Since(k.started).Seconds())
					k.why += "; " + k.progress(in)
				}
				if k.res == porcupine.Illegal {
					settle(k)
				}
				if k.res != porcupine.Illegal {
					k.ops, k.slab = nil, nil // only failures are explained
				}
			}
		}()
	}
	for _, k := range order {
		next <- k
	}
	close(next)
	wg.Wait()
	return watch.Stop()
}

// prepare turns the workloads' operations into model inputs, per key,
// keys sorted. It walks the history in file order, twice (count, then
// fill), rather than key by key: the history is large, and memory read in
// order is read several times faster.
func (c *Linearizable) prepare(in *Input) []*linKey {
	sel := newSelector(c.Workloads, c.Options.Only)
	byKey := map[string]*linKey{} // nil: a key of another workload
	var keys []*linKey
	// Count first, so that every slab is allocated once at its size.
	for i := range in.Operations {
		key := in.Operations[i].Invoke.Key
		k, seen := byKey[key]
		if !seen {
			if sel.match(key) {
				k = &linKey{key: key}
				keys = append(keys, k)
			}
			byKey[key] = k
		}
		if k != nil {
			k.n++
		}
	}
	for i := range in.Operations {
		o := &in.Operations[i]
		k := byKey[o.Invoke.Key]
		if k == nil || k.skip != "" {
			continue
		}
		if k.slab == nil {
			k.slab = make([]linOp, 0, k.n)
		}
		k.add(o, int32(i))
	}
	for _, k := range keys {
		k.finish()
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	return keys
}

func (k *linKey) fail(format string, a ...any) {
	k.skip = fmt.Sprintf(format, a...)
	k.slab = nil
}

func (k *linKey) add(o *history.Operation, i int32) {
	switch o.Invoke.F {
	case "read", "write", "cas":
		k.reg++
	case "get", "put", "append":
		k.kv++
	default:
		k.fail("f %q is neither a register op (read, write, cas) nor a kv op (get, put, append)", o.Invoke.F)
		return
	}
	lo, keep, err := toLinOp(o)
	switch {
	case err != nil:
		k.fail("record %d: %v", o.Invoke.Index, err)
		return
	case !keep:
		return
	}
	lo.op, lo.proc, lo.call, lo.ret = i, int32(o.Invoke.Process), o.Invoke.Time, returnTime(*o)
	if lo.ret < lo.call {
		k.fail("record %d completes before its invocation (time %d < %d)", o.Complete.Index, lo.ret, lo.call)
		return
	}
	k.slab = append(k.slab, lo)
}

// finish picks the key's model and makes porcupine's operations, pointing
// into the slab, which no longer grows.
func (k *linKey) finish() {
	switch {
	case k.skip != "":
		return
	case k.reg > 0 && k.kv > 0:
		k.fail("mixes register ops (read, write, cas) with kv ops (get, put, append)")
		return
	case k.reg > 0:
		k.model = "register"
	default:
		k.model = "kv"
	}
	for j := range k.slab {
		k.slab[j].pos = int32(j)
	}
}

// operations are the key's ops as porcupine takes them, pointing into the
// slab. They are made when the key's search starts, not with the slab:
// only the keys being searched (and those explained) hold them, which
// keeps a large history's check a sixth smaller.
func (k *linKey) operations() []porcupine.Operation {
	if k.ops != nil || len(k.slab) == 0 {
		return k.ops
	}
	k.ops = make([]porcupine.Operation, len(k.slab))
	for j := range k.slab {
		p := &k.slab[j]
		k.ops[j] = porcupine.Operation{ClientId: int(p.proc), Input: p, Output: p, Call: p.call, Return: p.ret}
	}
	return k.ops
}

// toLinOp turns an operation into a model input; keep is false for those
// that say nothing: failed ops (but cas-mismatch) and reads of unknown
// outcome.
func toLinOp(o *history.Operation) (lo linOp, keep bool, err error) {
	t := o.Type()
	lo.info = t == history.Info
	switch o.Invoke.F {
	case "read":
		if t != history.OK {
			return lo, false, nil
		}
		lo.kind = regRead
		lo.a, err = regValue(o.Complete.Value)
	case "write":
		if t == history.Fail {
			return lo, false, nil
		}
		lo.kind = regWrite
		lo.a, err = regValue(o.Invoke.Value)
		if err == nil && lo.a == regNil {
			err = fmt.Errorf("write of null")
		}
		lo.next = lo.a
	case "cas":
		if t == history.Fail && o.Complete.Error != "cas-mismatch" {
			return lo, false, nil
		}
		lo.kind = regCAS
		if t == history.Fail {
			lo.kind = regCASMismatch
		}
		pair, ok := o.Invoke.Value.([]any)
		if !ok || len(pair) != 2 {
			return lo, false, fmt.Errorf("cas value %v: want [old, new]", o.Invoke.Value)
		}
		if lo.a, err = regValue(pair[0]); err == nil {
			lo.b, err = regValue(pair[1])
		}
		if err == nil && lo.b == regNil {
			err = fmt.Errorf("cas to null")
		}
		lo.next = lo.b
	case "get":
		if t != history.OK {
			return lo, false, nil
		}
		lo.kind = kvGet
		lo.s, err = kvValue(o.Complete.Value)
	case "put", "append":
		if t == history.Fail {
			return lo, false, nil
		}
		lo.kind = kvPut
		if o.Invoke.F == "append" {
			lo.kind = kvAppend
		}
		lo.s, err = kvValue(o.Invoke.Value)
		lo.next = lo.s
	}
	return lo, err == nil, err
}

func regValue(v any) (int64, error) {
	if v == nil {
		return regNil, nil
	}
	n, ok := history.Int(v)
	if !ok {
		if s, isStr := v.(string); isStr {
			if m, err := strconv.ParseInt(s, 10, 64); err == nil {
				n, ok = m, true
			}
		}
	}
	if !ok || n == regNil {
		return 0, fmt.Errorf("register value %v is not an integer", v)
	}
	return n, nil
}

func kvValue(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	}
	if n, ok := history.Int(v); ok {
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("kv value %v is not a string", v)
}
