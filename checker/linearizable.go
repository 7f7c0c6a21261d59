package checker

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// VisualizationFile is where Linearizable writes porcupine's visualization
// of the keys it found not linearizable, inside Input.Dir.
const VisualizationFile = "linearizability.html"

// maxVisualized caps the keys whose failures are explained and drawn: the
// verdict covers every key, the evidence the first ones in key order.
const maxVisualized = 10

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
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// InvalidKeys are the keys shown not linearizable (the first
	// MaxListed, sorted; InvalidCount is exact). Failures explain the first
	// few of them.
	InvalidKeys  []string                   `json:"invalid_keys,omitempty"`
	InvalidCount int                        `json:"invalid_count"`
	Failures     []LinearizabilityViolation `json:"failures,omitempty"`
	// Undecided are the keys the time budget ran out on.
	Undecided      []string `json:"undecided,omitempty"`
	UndecidedCount int      `json:"undecided_count"`
	// Skipped are keys no model fits (mixed or unknown f, values of the
	// wrong type), with why.
	Skipped      []SkippedKey `json:"skipped,omitempty"`
	SkippedCount int          `json:"skipped_count"`
	// Visualization is porcupine's drawing of the failures, a file name in
	// the run directory; VisualizationError why it could not be written.
	Visualization      string  `json:"visualization,omitempty"`
	VisualizationError string  `json:"visualization_error,omitempty"`
	BudgetS            float64 `json:"budget_s"`
	DurationS          float64 `json:"duration_s"`
}

// Verdict is the result's verdict.
func (r *LinearizableResult) Verdict() Valid { return r.Valid }

// LinearizabilityViolation explains one key that is not linearizable: the
// longest linearizable prefix the search found, the model's state after it,
// and the ops that could not come next.
type LinearizabilityViolation struct {
	Key   string `json:"key"`
	Model string `json:"model"`
	Ops   int    `json:"ops"`
	// Linearized is the length of the longest linearizable prefix; State
	// the register's or string's value after it.
	Linearized int    `json:"linearized"`
	State      string `json:"state"`
	// Last are the final ops of that prefix (up to 5), in order.
	Last []OpRef `json:"last,omitempty"`
	// Stuck is the op that had to come next (the earliest to complete of
	// those left) and the ops concurrent with it; none fits the state.
	Stuck []OpRef `json:"stuck,omitempty"`
	// Detail is set when the explanation could not be computed.
	Detail string `json:"detail,omitempty"`
}

// SkippedKey is a key no model could judge.
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

// linModel is the porcupine model of both register and kv keys. Once
// cancelled, every step fails so that the search ends at once; the caller
// then discards the (meaningless) answer.
func linModel(cancelled *atomic.Bool) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return linInitBox },
		Step: func(state, input, _ any) (bool, any) {
			if cancelled.Load() {
				return false, state
			}
			op := input.(*linOp)
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
		},
		Hash: func(state any) uint64 {
			switch v := state.(type) {
			case int64:
				return uint64(v) * 0x9E3779B97F4A7C15
			case string:
				return maphash.String(linSeed, v)
			}
			return 0
		},
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
	ops   []porcupine.Operation
	slab  []linOp
	skip  string
	// n counts the key's operations; reg and kv those of each model's f.
	n, reg, kv int
	// verdict after the search
	res porcupine.CheckResult
}

// Check runs the search.
func (c *Linearizable) Check(ctx context.Context, in *Input) Result {
	started := time.Now()
	budget := c.Options.timeout()
	res := &LinearizableResult{Models: map[string]int{}, OpsJudged: map[string]int{}, BudgetS: budget.Seconds()}
	defer func() { res.DurationS = time.Since(started).Seconds() }()

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
		res.Ops += len(k.ops)
		res.OpsJudged[judgedSpace(c.Options.Only, k.key)] += len(k.ops)
		jobs = append(jobs, k)
	}
	if len(keys) == 0 {
		res.Valid = Unknown
		res.Reason = fmt.Sprintf("no operations of %v in the history", c.Workloads)
		return res
	}

	var cancelled atomic.Bool
	stop := context.AfterFunc(ctx, func() { cancelled.Store(true) })
	defer stop()
	if ctx.Err() != nil {
		cancelled.Store(true)
	}
	deadline := started.Add(budget)
	search(jobs, linModel(&cancelled), deadline, &cancelled)

	var invalid, undecided []*linKey
	for _, k := range jobs {
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
		why := fmt.Sprintf("the search budget of %s", budget)
		if cancelled.Load() {
			why = "cancellation"
		}
		reasons = append(reasons, fmt.Sprintf("%d keys undecided after %s (%s)", len(undecided), why, keyList(res.Undecided, len(undecided))))
	}
	if res.SkippedCount > 0 {
		reasons = append(reasons, fmt.Sprintf("%d keys fit no model (%s: %s)", res.SkippedCount, res.Skipped[0].Key, res.Skipped[0].Reason))
	}
	res.Reason = joinReasons(reasons)

	if len(invalid) > 0 && !cancelled.Load() {
		if len(invalid) > maxVisualized {
			invalid = invalid[:maxVisualized]
		}
		c.explain(in, invalid, res, &cancelled)
	}
	return res
}

func keyList(keys []string, total int) string {
	const show = 5
	if len(keys) > show {
		return fmt.Sprintf("%v… %d in all", keys[:show], total)
	}
	return fmt.Sprint(keys)
}

// search decides every key, biggest first, on every core, until deadline.
func search(jobs []*linKey, model porcupine.Model, deadline time.Time, cancelled *atomic.Bool) {
	order := append([]*linKey(nil), jobs...)
	sort.SliceStable(order, func(i, j int) bool { return len(order[i].ops) > len(order[j].ops) })
	next := make(chan *linKey)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				left := time.Until(deadline)
				if left <= 0 || cancelled.Load() {
					k.res = porcupine.Unknown
					continue
				}
				k.res = porcupine.CheckOperationsTimeout(model, k.ops, left)
				if cancelled.Load() {
					k.res = porcupine.Unknown
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
	k.ops = make([]porcupine.Operation, len(k.slab))
	for j := range k.slab {
		p := &k.slab[j]
		k.ops[j] = porcupine.Operation{ClientId: int(p.proc), Input: p, Output: p, Call: p.call, Return: p.ret}
	}
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

// explain re-checks the invalid keys verbosely: the longest linearizable
// prefix of each, the ops stuck after it, and porcupine's visualization.
func (c *Linearizable) explain(in *Input, invalid []*linKey, res *LinearizableResult, cancelled *atomic.Bool) {
	// Dense client ids: porcupine draws one row per id up to the largest.
	dense := map[int]int{}
	var all []porcupine.Operation
	bounds := make([]int, 0, len(invalid)+1)
	for _, k := range invalid {
		bounds = append(bounds, len(all))
		for _, op := range k.ops {
			o := in.Operations[op.Input.(*linOp).op]
			id, ok := dense[o.Invoke.Process]
			if !ok {
				id = len(dense)
				dense[o.Invoke.Process] = id
			}
			op.ClientId = id
			op.Metadata = fmt.Sprintf("process %d, records %d→%d, %s%s", o.Invoke.Process, o.Invoke.Index, o.Complete.Index, o.Type(), nodeText(o))
			all = append(all, op)
		}
	}
	bounds = append(bounds, len(all))
	model := linModel(cancelled)
	model.Partition = func(h []porcupine.Operation) [][]porcupine.Operation {
		if len(h) != len(all) {
			return [][]porcupine.Operation{h}
		}
		out := make([][]porcupine.Operation, 0, len(invalid))
		for i := 0; i+1 < len(bounds); i++ {
			out = append(out, h[bounds[i]:bounds[i+1]])
		}
		return out
	}
	verdict, info := porcupine.CheckOperationsVerbose(model, all, c.Options.timeout())
	if verdict != porcupine.Illegal || cancelled.Load() {
		for _, k := range invalid {
			res.Failures = append(res.Failures, LinearizabilityViolation{Key: k.key, Model: k.model, Ops: len(k.ops),
				Detail: fmt.Sprintf("the explaining search ended %s within its budget", verdict)})
		}
		return
	}
	partials := info.PartialLinearizationsOperations()
	for p, k := range invalid {
		v := LinearizabilityViolation{Key: k.key, Model: k.model, Ops: len(k.ops)}
		if p < len(partials) {
			explainKey(&v, in, model, all[bounds[p]:bounds[p+1]], partials[p])
		}
		res.Failures = append(res.Failures, v)
	}
	if in.Dir != "" {
		path := filepath.Join(in.Dir, VisualizationFile)
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			res.VisualizationError = fmt.Sprintf("write %s: %v", path, err)
		} else {
			res.Visualization = VisualizationFile
		}
	}
}

func nodeText(o history.Operation) string {
	if o.Complete.Node == "" {
		return ""
	}
	return ", node " + o.Complete.Node
}

func explainKey(v *LinearizabilityViolation, in *Input, model porcupine.Model, ops []porcupine.Operation, partials [][]porcupine.Operation) {
	var longest []porcupine.Operation
	for _, l := range partials {
		if len(l) > len(longest) {
			longest = l
		}
	}
	v.Linearized = len(longest)
	done := map[*linOp]bool{}
	state := model.Init()
	for _, op := range longest {
		lo := op.Input.(*linOp)
		done[lo] = true
		_, state = model.Step(state, lo, nil)
	}
	v.State = describeLinState(state)
	for _, op := range longest[max(0, len(longest)-5):] {
		v.Last = append(v.Last, Ref(in.Operations[op.Input.(*linOp).op]))
	}
	var left []porcupine.Operation
	for _, op := range ops {
		if !done[op.Input.(*linOp)] {
			left = append(left, op)
		}
	}
	if len(left) == 0 {
		v.Detail = "the search found a complete linearization when explaining"
		return
	}
	first := left[0]
	for _, op := range left {
		if op.Return < first.Return {
			first = op
		}
	}
	stuck := []porcupine.Operation{first}
	for _, op := range left {
		if op.Input != first.Input && op.Call <= first.Return && len(stuck) < 10 {
			stuck = append(stuck, op)
		}
	}
	sort.SliceStable(stuck[1:], func(i, j int) bool { return stuck[1+i].Call < stuck[1+j].Call })
	for _, op := range stuck {
		v.Stuck = append(v.Stuck, Ref(in.Operations[op.Input.(*linOp).op]))
	}
}
