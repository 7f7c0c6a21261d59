package checker

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// witness is a sub-history of a key that is not linearizable: what
// shrinking a failing key's ops leaves.
type witness struct {
	ops []porcupine.Operation
	// minimal: removing any one op was shown to leave a linearizable
	// history; note says why not when it is not.
	minimal bool
	note    string
	checks  int
	// anyInit: not linearizable whatever value the key held before it
	// (else: from null, the key's value before the run).
	anyInit bool
}

// shrinker shrinks failing histories by delta debugging, with porcupine
// as the test: a candidate is kept when porcupine finds it Illegal. Every
// check is bounded by perCheck and by until; stop ends them all.
type shrinker struct {
	model    porcupine.Model
	stop     *atomic.Bool
	until    time.Time
	perCheck time.Duration
	checks   int
	// undecided counts checks that ended Unknown (timed out): their
	// candidates are treated as linearizable, which keeps the witness
	// illegal but may keep it from being minimal.
	undecided int
}

// illegal reports whether porcupine proves ops not linearizable in time.
func (s *shrinker) illegal(ops []porcupine.Operation) (bool, bool) {
	left := min(time.Until(s.until), s.perCheck)
	if left <= 0 || s.stop.Load() {
		return false, false
	}
	s.checks++
	r := porcupine.CheckOperationsTimeout(s.model, ops, left)
	if s.stop.Load() || r == porcupine.Unknown {
		s.undecided++
		return false, false
	}
	return r == porcupine.Illegal, true
}

func (s *shrinker) out() bool { return s.stop.Load() || !time.Now().Before(s.until) }

// without is ops less ops[from:to], in a new slice.
func without(ops []porcupine.Operation, from, to int) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops)-(to-from))
	out = append(out, ops[:from]...)
	return append(out, ops[to:]...)
}

// shrink reduces ops, which porcupine found Illegal, to a 1-minimal
// witness: ddmin (remove ever smaller chunks while the rest stays
// Illegal), then one op at a time until no single removal keeps it
// Illegal. An op goes with its completion (a porcupine.Operation is both);
// an op of unknown outcome stays one. Out of budget, it returns what it
// has: still Illegal, but not minimal, and says so.
func (s *shrinker) shrink(ops []porcupine.Operation) witness {
	from := len(ops)
	cur := ops
	n := 2
	for len(cur) >= 2 && !s.out() {
		size := (len(cur) + n - 1) / n
		reduced := false
		for lo := 0; lo < len(cur) && !s.out(); lo += size {
			cand := without(cur, lo, min(lo+size, len(cur)))
			if ill, _ := s.illegal(cand); ill {
				cur, n, reduced = cand, max(n-1, 2), true
				break
			}
		}
		if !reduced {
			if size == 1 {
				break
			}
			n = min(n*2, len(cur))
		}
	}
	// Make sure of 1-minimality: every single removal, checked again
	// (cheap on a witness of a few ops), any that keeps it Illegal taken.
	minimal := false
	for !s.out() {
		s.undecided = 0
		removed := false
		for i := range cur {
			if ill, _ := s.illegal(without(cur, i, i+1)); ill {
				cur, removed = without(cur, i, i+1), true
				break
			}
		}
		if !removed {
			minimal = s.undecided == 0 && !s.stop.Load()
			break
		}
	}
	w := witness{ops: cur, minimal: minimal, checks: s.checks}
	switch {
	case minimal:
	case s.stop.Load():
		w.note = fmt.Sprintf("not minimal: the explanation was stopped after %d checks (from %d ops to %d)", s.checks, from, len(cur))
	case s.undecided > 0:
		w.note = fmt.Sprintf("not shown minimal: %d of the checks removing one op were undecided within %s", s.undecided, s.perCheck)
	default:
		w.note = fmt.Sprintf("not minimal: the shrink's budget ran out after %d checks (from %d ops to %d)", s.checks, from, len(cur))
	}
	return w
}

// explain shrinks the first failing keys to witnesses and tells each
// witness's story, under the explanation's own budgets: its time (for all
// keys together; each key's shrink has its own share) and a memory
// ceiling on the live heap it adds. Cut short, it says so and keeps what
// it has; the verdict is already made.
func (c *Linearizable) explain(ctx context.Context, in *Input, invalid []*linKey, res *LinearizableResult) {
	start := time.Now()
	budget := c.Options.explainTimeout()
	res.ExplainBudgetS = budget.Seconds()
	defer func() { res.ExplainS = time.Since(start).Seconds() }()
	deadline := start.Add(budget)
	if len(invalid) > c.Options.maxWitnesses() {
		invalid = invalid[:c.Options.maxWitnesses()]
	}

	var stop atomic.Bool
	var mu sync.Mutex
	setCut := func(why string) {
		mu.Lock()
		defer mu.Unlock()
		if res.ExplainCut == "" {
			res.ExplainCut = why
		}
		stop.Store(true)
	}
	stopCtx := context.AfterFunc(ctx, func() { setCut("the check was interrupted") })
	defer stopCtx()
	base := currentMem().live
	limit, ceiling := c.Options.explainMemory(), c.Options.checkMemory()
	watch := watchMemory(func(m memSample) bool {
		return !stop.Load() && (m.live-base > limit || overCeiling(m, ceiling))
	}, func(m memSample) bool {
		setCut(fmt.Sprintf("its memory ceiling: the live heap grew by %s (ceiling %s) while explaining", SizeText(m.live-base), SizeText(limit)))
		return true
	})
	defer watch.Stop()

	// A tenth of the budget is kept for telling the witnesses' stories.
	shrinkEnd := deadline.Add(-budget / 10)
	per := c.Options.shrinkTimeout()
	wits := make([]witness, len(invalid))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(invalid)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				until := time.Now().Add(per)
				if until.After(shrinkEnd) {
					until = shrinkEnd
				}
				if !time.Now().Before(until) || stop.Load() {
					continue
				}
				s := &shrinker{model: linModelAny(&stop, linAnyBox), stop: &stop, until: until, perCheck: max(per/10, 50*time.Millisecond)}
				// A witness that holds from any value is the telling one (a
				// stale read: the write it missed, and the read); a key whose
				// fault is a value from nowhere is shrunk from null.
				anyInit, _ := s.illegal(invalid[i].ops)
				if !anyInit {
					s.model = linModelAny(&stop, linInitBox)
				}
				wits[i] = s.shrink(invalid[i].ops)
				wits[i].anyInit = anyInit
				if !wits[i].minimal && time.Until(until) <= 0 && until.Equal(shrinkEnd) {
					wits[i].note += fmt.Sprintf("; the explanation's budget of %s ran out", budget)
				}
			}
		}()
	}
	for i := range invalid {
		next <- i
	}
	close(next)
	wg.Wait()

	failures := make([]LinearizabilityViolation, len(invalid))
	var told []int // the failures whose witness is told and drawn
	for i, k := range invalid {
		v := LinearizabilityViolation{Key: k.key, Model: k.model, Ops: len(k.ops)}
		w := wits[i]
		if len(w.ops) == 0 {
			v.Detail = fmt.Sprintf("no witness: the explanation's budget of %s ran out before this key", budget)
			if stop.Load() {
				v.Detail = "no witness: the explanation was stopped (" + res.ExplainCut + ") before this key"
			}
			failures[i] = v
			continue
		}
		sort.Slice(w.ops, func(a, b int) bool { return w.ops[a].Input.(*linOp).op < w.ops[b].Input.(*linOp).op })
		for _, op := range w.ops {
			lo := op.Input.(*linOp)
			o := in.Operations[lo.op]
			v.Witness = append(v.Witness, o.Invoke.Index)
			v.WitnessStory = append(v.WitnessStory, storyOf(o, lo))
			v.WitnessOps = append(v.WitnessOps, Ref(o))
		}
		v.WitnessMinimal, v.WitnessNote, v.WitnessChecks = w.minimal, w.note, w.checks
		v.WitnessInitial = "null"
		if w.anyInit {
			v.WitnessInitial = "any"
		}
		wits[i] = w
		failures[i] = v
		told = append(told, i)
	}
	res.Failures = failures
	if len(told) == 0 {
		return
	}
	c.tell(in, invalid, wits, told, res, &stop, deadline)
}

// tell runs porcupine's verbose search over the witnesses (a few ops
// each), for the longest order of each that the model accepts and the
// ops stuck after it, and draws them into linearizability.html.
func (c *Linearizable) tell(in *Input, invalid []*linKey, wits []witness, told []int, res *LinearizableResult, stop *atomic.Bool, deadline time.Time) {
	// Dense client ids: porcupine draws one row per id up to the largest.
	dense := map[int]int{}
	var all []porcupine.Operation
	bounds := make([]int, 0, len(told)+1)
	for _, i := range told {
		bounds = append(bounds, len(all))
		if wits[i].anyInit {
			// The value before the witness is any: a first pseudo-op says so.
			t0 := wits[i].ops[0].Call
			for _, op := range wits[i].ops {
				t0 = min(t0, op.Call)
			}
			id, ok := dense[-1]
			if !ok {
				id = len(dense)
				dense[-1] = id
			}
			start := &linOp{kind: anyStart, op: -1}
			all = append(all, porcupine.Operation{ClientId: id, Input: start, Output: start, Call: t0 - 2, Return: t0 - 1,
				Metadata: "not an op: the witness is not linearizable whatever value the key held before it"})
		}
		for _, op := range wits[i].ops {
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
	model := linModelAny(stop, linInitBox)
	model.Partition = func(h []porcupine.Operation) [][]porcupine.Operation {
		if len(h) != len(all) {
			return [][]porcupine.Operation{h}
		}
		out := make([][]porcupine.Operation, 0, len(told))
		for i := 0; i+1 < len(bounds); i++ {
			out = append(out, h[bounds[i]:bounds[i+1]])
		}
		return out
	}
	left := max(time.Until(deadline), 0)
	verdict, info := porcupine.Unknown, porcupine.LinearizationInfo{}
	if left > 0 && !stop.Load() {
		verdict, info = porcupine.CheckOperationsVerbose(model, all, left)
	}
	if verdict != porcupine.Illegal || stop.Load() {
		why := fmt.Sprintf("the explanation's budget ran out before the witness's story was told (the search over the witnesses ended %s)", verdict)
		if stop.Load() {
			why = "the explanation was stopped (" + res.ExplainCut + ") before the witness's story was told"
		}
		for _, i := range told {
			res.Failures[i].Detail = why
		}
		if res.ExplainCut == "" {
			res.ExplainCut = fmt.Sprintf("its budget of %s", c.Options.explainTimeout())
		}
		return
	}
	partials := info.PartialLinearizationsOperations()
	for p, i := range told {
		if p < len(partials) {
			explainKey(&res.Failures[i], in, model, all[bounds[p]:bounds[p+1]], partials[p])
		}
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

// storyOf tells one op of a witness in a line: who did what, with what
// outcome, when, and where.
func storyOf(o history.Operation, lo *linOp) string {
	what := describeLinOp(&linOp{kind: lo.kind, a: lo.a, b: lo.b, s: lo.s})
	at := ""
	if o.Complete.Node != "" {
		at = " on " + o.Complete.Node
	}
	switch {
	case lo.info:
		why := ""
		if o.Complete.Error != "" {
			why = " (" + o.Complete.Error + ")"
		}
		if at != "" {
			at = "; sent to " + o.Complete.Node
		}
		return fmt.Sprintf("#%d process %d: %s — outcome unknown%s: invoked at %s, it may take effect at any time after%s", o.Invoke.Index, o.Invoke.Process, what, why, nsText(o.Invoke.Time), at)
	case lo.kind == regCASMismatch:
		what = describeLinOp(&linOp{kind: regCAS, a: lo.a, b: lo.b})
		return fmt.Sprintf("#%d process %d: %s — failed, the value was not %s, between %s and %s%s", o.Invoke.Index, o.Invoke.Process, what, describeLinState(lo.a), nsText(o.Invoke.Time), nsText(o.Complete.Time), at)
	}
	return fmt.Sprintf("#%d process %d: %s — ok, between %s and %s%s", o.Invoke.Index, o.Invoke.Process, what, nsText(o.Invoke.Time), nsText(o.Complete.Time), at)
}

func nodeText(o history.Operation) string {
	if o.Complete.Node == "" {
		return ""
	}
	return ", node " + o.Complete.Node
}

// explainKey tells a witness's story from porcupine's partial
// linearizations of it: the longest, the value after it, and the ops that
// could not come next.
func explainKey(v *LinearizabilityViolation, in *Input, model porcupine.Model, ops []porcupine.Operation, partials [][]porcupine.Operation) {
	var longest []porcupine.Operation
	for _, l := range partials {
		if len(l) > len(longest) {
			longest = l
		}
	}
	done := map[*linOp]bool{}
	state := model.Init()
	var real []porcupine.Operation // longest, less the pseudo-op
	for _, op := range longest {
		lo := op.Input.(*linOp)
		done[lo] = true
		_, state = linStepAny(state, lo)
		if lo.op >= 0 {
			real = append(real, op)
		}
	}
	v.Linearized = len(real)
	v.State = describeLinState(state)
	for _, op := range real[max(0, len(real)-5):] {
		v.Last = append(v.Last, Ref(in.Operations[op.Input.(*linOp).op]))
	}
	var left []porcupine.Operation
	for _, op := range ops {
		if lo := op.Input.(*linOp); !done[lo] && lo.op >= 0 {
			left = append(left, op)
		}
	}
	if len(left) == 0 {
		v.Detail = "the search found a complete linearization of the witness when explaining"
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
