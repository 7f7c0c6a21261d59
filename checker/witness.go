package checker

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// witness is what shrinking a failing key's ops leaves: a few ops that
// are not linearizable even with the key's other writes relaxed (see
// relaxer).
type witness struct {
	ops []porcupine.Operation
	// minimal: removing any one op was shown to leave a linearizable
	// history; note says why not when it is not.
	minimal bool
	note    string
	checks  int
}

// relaxer builds the history that judges a candidate witness: the
// candidate's ops as recorded, and every other write of the key relaxed
// into an op of unknown outcome (it may have taken effect at any time
// after its invocation, or not at all), every other read left out.
//
// Merely deleting the other ops would not do: without the writes between
// them, two reads of different values are "not linearizable" in any
// history, and every witness would be such a pair. Relaxing an op only
// ever makes the history easier to linearize, so a candidate that still
// fails proves the key's history fails, and shrinking is monotone.
//
// A relaxed write that no op of the candidate could observe is left out
// (it can always be placed last, where it changes nothing the candidate
// sees), and so is one invoked after the candidate's last op completed:
// this keeps porcupine's search small. r.loose is in invocation order.
type relaxer struct {
	// loose[pos] is the key's op pos relaxed, or Input nil for a read.
	loose []porcupine.Operation
}

func newRelaxer(ops []porcupine.Operation) *relaxer {
	r := &relaxer{loose: make([]porcupine.Operation, len(ops))}
	for pos, op := range ops {
		lo := op.Input.(*linOp)
		switch lo.kind {
		case regRead, kvGet, regCASMismatch:
			continue
		}
		l := *lo
		l.info, l.ret = true, math.MaxInt64
		op.Input, op.Output, op.Return = &l, &l, l.ret
		op.Metadata = "relaxed: another write of the key, taken to have happened at any time after its invocation, or not at all"
		r.loose[pos] = op
	}
	return r
}

// history is the candidate w (ops of the key) with the others relaxed.
func (r *relaxer) history(w []porcupine.Operation) []porcupine.Operation {
	in := make([]bool, len(r.loose))
	last := int64(math.MinInt64)
	regSeen := map[int64]bool{} // register values the candidate observes
	var kvSeen []string         // kv values its gets read
	keepAll, mismatches := false, 0
	for _, op := range w {
		lo := op.Input.(*linOp)
		in[lo.pos] = true
		last = max(last, op.Return)
		switch lo.kind {
		case regRead, regCAS:
			regSeen[lo.a] = true
		case regCASMismatch:
			keepAll = true // any other value helps it
			mismatches++
			regSeen[lo.a] = true
		case kvGet:
			kvSeen = append(kvSeen, lo.s)
		}
	}
	// A relaxed cas that can produce an observed value makes its old value
	// observed too (the writes that could set it up).
	for changed := true; changed; {
		changed = false
		for pos, l := range r.loose {
			if l.Input == nil || in[pos] {
				continue
			}
			if lo := l.Input.(*linOp); lo.kind == regCAS && regSeen[lo.b] && !regSeen[lo.a] {
				regSeen[lo.a], changed = true, true
			}
		}
	}
	out := append(make([]porcupine.Operation, 0, len(w)+8), w...)
	// A cas that found another value needs only that the value be another
	// one: the writes of values no op of the candidate observes are all
	// alike to it, and the earliest invoked of them can stand wherever a
	// later one could. One per such cas is kept, the earliest.
	others := 0
	for pos, l := range r.loose {
		if l.Input == nil || in[pos] || l.Call > last {
			continue
		}
		lo := l.Input.(*linOp)
		switch lo.kind {
		case regWrite:
			if !regSeen[lo.a] {
				if !keepAll || others >= mismatches {
					continue
				}
				others++
			}
		case regCAS:
			if !keepAll && !regSeen[lo.b] {
				continue
			}
		case kvPut, kvAppend:
			seen := false
			for _, v := range kvSeen {
				if strings.Contains(v, lo.s) {
					seen = true
					break
				}
			}
			if !seen {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// kvDead is the state of a kv key whose value no get of the history being
// judged reads, nor any value that appends to it could make: from it, no
// get can succeed until a put. All such values are alike to the search,
// and keeping them apart is what makes porcupine slow on relaxed appends
// (every order of the appends pending at once is a value of its own). So
// withDeadEnds folds them into this one state: an exact quotient, the
// verdict unchanged.
type kvDead struct{}

var kvDeadBox any = kvDead{}

// withDeadEnds is m with every kv value that is not a prefix of a value
// some get of ops reads folded into kvDead. Register histories get m.
func withDeadEnds(m porcupine.Model, ops []porcupine.Operation) porcupine.Model {
	var reads []string
	for _, op := range ops {
		if lo := op.Input.(*linOp); lo.kind == kvGet {
			reads = append(reads, lo.s)
		}
	}
	if len(reads) == 0 {
		return m
	}
	live := func(v string) bool {
		for _, r := range reads {
			if strings.HasPrefix(r, v) {
				return true
			}
		}
		return false
	}
	step, hash, describe := m.Step, m.Hash, m.DescribeState
	m.Step = func(state, input, output any) (bool, any) {
		lo := input.(*linOp)
		if state == kvDeadBox {
			switch lo.kind {
			case kvGet:
				return false, state
			case kvAppend:
				ok, _ := step("", input, output) // the stop flag is the step's
				return ok, state
			}
		}
		ok, next := step(state, input, output)
		if v, isStr := next.(string); ok && isStr && !live(v) {
			next = kvDeadBox
		}
		return ok, next
	}
	m.Hash = func(state any) uint64 {
		if state == kvDeadBox {
			return 0x5DEECE66D
		}
		return hash(state)
	}
	m.DescribeState = func(state any) string {
		if state == kvDeadBox {
			return "a value no get here reads a prefix of"
		}
		return describe(state)
	}
	return m
}

// shrinker shrinks failing histories by delta debugging, with porcupine
// as the test: a candidate is kept when porcupine finds it Illegal. Every
// check is bounded by perCheck and by until; stop ends them all.
type shrinker struct {
	relax      *relaxer
	model      porcupine.Model
	stop       *atomic.Bool
	until      time.Time
	perCheck   time.Duration
	finalCheck time.Duration // per check of the last, 1-minimality pass
	checks     int
	// undecided counts checks that ended Unknown (timed out): their
	// candidates are treated as linearizable, which keeps the witness
	// illegal but may keep it from being minimal. After maxUndecided of
	// them in a row the shrink gives up, rather than spend its whole
	// budget on checks that say nothing (a key whose sub-histories
	// porcupine cannot decide quickly: kv appends no read pins down).
	undecided, inARow int
	gaveUp            bool
}

// maxUndecided is how many undecided checks in a row end a shrink.
const maxUndecided = 5

// illegal reports whether porcupine proves the candidate ops, with the
// key's other writes relaxed, not linearizable in time.
func (s *shrinker) illegal(ops []porcupine.Operation) (bool, bool) {
	left := min(time.Until(s.until), s.perCheck)
	if left <= 0 || s.stop.Load() {
		return false, false
	}
	s.checks++
	h := s.relax.history(ops)
	walkEnd := time.Now().Add(left / 2)
	if orderable(h, func() bool { return s.stop.Load() || time.Now().After(walkEnd) }) {
		s.inARow = 0
		return false, true
	}
	r := porcupine.CheckOperationsTimeout(withDeadEnds(s.model, h), h, left)
	if s.stop.Load() || r == porcupine.Unknown {
		s.undecided++
		s.inARow++
		s.gaveUp = s.gaveUp || s.inARow >= maxUndecided
		return false, false
	}
	s.inARow = 0
	return r == porcupine.Illegal, true
}

// orderable is whether the walk in time order (linearizeDirect) orders
// h before stop says to give up: then h is linearizable, and porcupine
// need not search it. Most of a shrink's candidates that lost an op the
// failure needs are.
func orderable(h []porcupine.Operation, stop func() bool) bool {
	slab := make([]linOp, len(h))
	for i, op := range h {
		slab[i] = *op.Input.(*linOp) // its interval is the op's (newRelaxer keeps them so)
	}
	_, ok := linearizeDirect(slab, stop)
	return ok
}

func (s *shrinker) out() bool { return s.gaveUp || s.stop.Load() || !time.Now().Before(s.until) }

// without is ops less ops[from:to], in a new slice.
func without(ops []porcupine.Operation, from, to int) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops)-(to-from))
	out = append(out, ops[:from]...)
	return append(out, ops[to:]...)
}

// readLike says whether an op only constrains the state (a read, a cas
// that found another value): left out of a candidate, it is dropped;
// other ops are writes, relaxed when left out.
func readLike(op porcupine.Operation) bool {
	switch op.Input.(*linOp).kind {
	case regRead, kvGet, regCASMismatch:
		return true
	}
	return false
}

func concat(a, b []porcupine.Operation) []porcupine.Operation {
	return append(append(make([]porcupine.Operation, 0, len(a)+len(b)), a...), b...)
}

// ddmin shrinks part by delta debugging while with(part) stays Illegal:
// it removes ever smaller chunks (halves, quarters… single ops).
func (s *shrinker) ddmin(part []porcupine.Operation, with func([]porcupine.Operation) []porcupine.Operation) []porcupine.Operation {
	n := 2
	for len(part) >= 1 && !s.out() {
		n = min(n, len(part))
		size := (len(part) + n - 1) / n
		reduced := false
		// Latest chunks first: the early ops are what keep porcupine's
		// search narrow (reads pin the state), and the fault is usually
		// at the end of what is left.
		for hi := len(part); hi > 0 && !s.out(); hi -= size {
			cand := without(part, max(hi-size, 0), hi)
			if ill, _ := s.illegal(with(cand)); ill {
				part, n, reduced = cand, max(n-1, 2), true
				break
			}
		}
		if !reduced {
			if size == 1 {
				break
			}
			n = min(n*2, len(part))
		}
	}
	return part
}

// shrink reduces ops, which porcupine found Illegal, to a 1-minimal
// witness. First the shortest failing prefix; then the reads, with every
// write kept as recorded (cheap
// checks: no op of unknown outcome); then the writes, each relaxed when
// left out (see relaxer: by then the reads left observe few values, so
// few relaxed writes matter); then one op at a time until no single
// removal keeps it Illegal. Out of budget, it returns what it has: still
// Illegal, but not minimal, and says so.
func (s *shrinker) shrink(ops []porcupine.Operation) witness {
	// The shortest prefix (in invocation order) that fails: a longer
	// prefix keeps more ops as recorded, so failing is monotone in its
	// length and a binary search finds it.
	lo, hi := 1, len(ops)
	for lo < hi && !s.out() {
		mid := (lo + hi) / 2
		if ill, _ := s.illegal(ops[:mid]); ill {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	prefix := ops[:hi]
	var reads, writes []porcupine.Operation
	for _, op := range prefix {
		if readLike(op) {
			reads = append(reads, op)
		} else {
			writes = append(writes, op)
		}
	}
	reads = s.ddmin(reads, func(c []porcupine.Operation) []porcupine.Operation { return concat(c, writes) })
	writes = s.ddmin(writes, func(c []porcupine.Operation) []porcupine.Operation { return concat(reads, c) })
	cur := concat(reads, writes)
	// Make sure of 1-minimality: every single removal, checked again
	// (cheap on a witness of a few ops), any that keeps it Illegal taken.
	// These few checks get a longer time each: a candidate that can be
	// linearized but only by placing relaxed writes well may take porcupine
	// a while.
	s.perCheck, s.gaveUp, s.inARow = max(s.perCheck, s.finalCheck), false, 0
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
		w.note = fmt.Sprintf("not minimal: the explanation was stopped after %d checks (from %d ops to %d)", s.checks, len(ops), len(cur))
	case s.gaveUp:
		w.note = fmt.Sprintf("not minimal: %d checks in a row were undecided within %s each, and the shrink gave up after %d checks (from %d ops to %d)", maxUndecided, s.perCheck, s.checks, len(ops), len(cur))
	case s.undecided > 0:
		w.note = fmt.Sprintf("not shown minimal: %d of the checks removing one op were undecided within %s", s.undecided, s.perCheck)
	default:
		w.note = fmt.Sprintf("not minimal: the shrink's budget ran out after %d checks (from %d ops to %d)", s.checks, len(ops), len(cur))
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
	rel := make([]*relaxer, len(invalid))
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
				s := &shrinker{relax: newRelaxer(invalid[i].ops), model: linModel(&stop, nil), stop: &stop, until: until, perCheck: max(per/100, 20*time.Millisecond), finalCheck: per / 25}
				wits[i] = s.shrink(invalid[i].ops)
				rel[i] = s.relax
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
		wits[i] = w
		failures[i] = v
		told = append(told, i)
	}
	res.Failures = failures
	if len(told) == 0 {
		return
	}
	c.tell(in, wits, rel, told, res, &stop, deadline)
}

// tell runs porcupine's verbose search over the witnesses (a few ops
// each, with the relaxed writes they need), for the longest order of each
// that the model accepts and the ops stuck after it, and draws them into
// linearizability.html.
func (c *Linearizable) tell(in *Input, wits []witness, rel []*relaxer, told []int, res *LinearizableResult, stop *atomic.Bool, deadline time.Time) {
	// Dense client ids: porcupine draws one row per id up to the largest.
	dense := map[int]int{}
	var all []porcupine.Operation
	bounds := make([]int, 0, len(told)+1)
	for _, i := range told {
		bounds = append(bounds, len(all))
		for j, op := range rel[i].history(wits[i].ops) {
			o := in.Operations[op.Input.(*linOp).op]
			id, ok := dense[o.Invoke.Process]
			if !ok {
				id = len(dense)
				dense[o.Invoke.Process] = id
			}
			op.ClientId = id
			meta := fmt.Sprintf("process %d, records %d→%d, %s%s", o.Invoke.Process, o.Invoke.Index, o.Complete.Index, o.Type(), nodeText(o))
			if j >= len(wits[i].ops) {
				meta += "; " + op.Metadata.(string)
			}
			op.Metadata = meta
			all = append(all, op)
		}
	}
	bounds = append(bounds, len(all))
	model := withDeadEnds(linModel(stop, nil), all)
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
	v.Linearized = len(longest)
	done := map[*linOp]bool{}
	state := model.Init()
	for _, op := range longest {
		lo := op.Input.(*linOp)
		done[lo] = true
		_, state = linStep(state, lo)
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
