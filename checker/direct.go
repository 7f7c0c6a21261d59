package checker

import (
	"math"
	"slices"
	"sync"
)

// Most keys of a healthy run are linearizable, and an order that shows it
// is found by walking the key's calls and returns in time order, placing
// each op only when it must be placed (Lowe's "just in time"
// linearization), and going back when a choice made earlier turns out
// wrong. linearizeDirect is that walk, with a step budget linear in the
// key's ops. It runs before porcupine's search. Its answer is only
// ever "linearizable", and only with an order that checkOrder has checked
// op by op (real time and the model's steps), so a bug in the walk can
// cost time (the search runs) but never a wrong verdict. A key it cannot
// order within its budget goes to the search, which decides it.
//
// The walk, in time order (a call before a return at the same time, as
// porcupine orders them):
//   - at a call, the op is pending; an op that leaves the state as it is
//     (a read, a get, a cas that found another value) is placed at once if
//     it fits the state, and so is every such pending op after each change
//     of state: placing it early never rules out an order that placing it
//     later allows, so this is no choice;
//   - at the return of an op not yet placed, it must be placed now. The
//     choices, in this order: the op itself, if it fits; or first one of
//     the pending ops that change the state (two writes whose returns came
//     in the other order from their effects: the later one first), and
//     then the same choice again. A return where the op fits and no other
//     pending op could go first is no choice either;
//   - at the end the ops of unknown outcome still pending are placed last,
//     where each may take effect or (a cas) not;
//   - where nothing fits, the walk goes back to the latest choice with an
//     option left, and it never explores a configuration twice
//     (firstVisit).
//
// Its bounds: 200 steps per op (and 10,000), maxDirectPending ops in
// flight, maxDirectHeld ops in saved choices, maxDirectVisited
// configurations remembered, and whatever stop says (the caller gives it
// a quarter of the check's budget).

// maxDirectPending bounds the ops in flight at once: a key with more
// (many ops of unknown outcome, each pending for ever) is left to the
// search.
const maxDirectPending = 256

// maxDirectHeld bounds the ops the walk's open choices hold copies of
// (the pending ops at each): 16 MiB, however long and busy the key.
const maxDirectHeld = 1 << 22

// keepsState is whether an op of kind k never changes the state.
func keepsState(k linKind) bool {
	return k == regRead || k == regCASMismatch || k == kvGet
}

// directEvent is a call or a return of op.
type directEvent struct {
	op  int32
	ret bool
}

// directChoice is a return where more than one option was open: what
// to restore to try the next one.
type directChoice struct {
	op      int32   // the op returning
	event   int     // the return's event
	placed  int     // ops placed before it
	state   any     // the state then
	pending []int32 // the pending ops then
	options []int32 // the pending ops that could go first, in the order tried
	next    int     // the next option: 0 the op itself, k ≥ 1 options[k-1] first
}

// linearizeDirect returns an order of slab's ops (indexes into slab) that
// is a linearization, and true; or false when the walk found none within
// its budget, which says nothing about the key. At the start and every
// 1,024 steps it asks stop (the check's deadline, cancellation) whether
// to give up: the walk is part of the search's budget.
func linearizeDirect(slab []linOp, stop func() bool) ([]int32, bool) {
	n := len(slab)
	if stop() {
		return nil, false
	}
	events := make([]directEvent, 0, 2*n)
	for i := range slab {
		events = append(events, directEvent{op: int32(i)})
		if slab[i].ret != math.MaxInt64 {
			events = append(events, directEvent{op: int32(i), ret: true})
		}
	}
	at := func(e directEvent) int64 {
		if e.ret {
			return slab[e.op].ret
		}
		return slab[e.op].call
	}
	slices.SortFunc(events, func(a, b directEvent) int {
		if ta, tb := at(a), at(b); ta != tb {
			if ta < tb {
				return -1
			}
			return 1
		}
		if a.ret != b.ret { // calls first
			if b.ret {
				return -1
			}
			return 1
		}
		return int(a.op - b.op)
	})

	w := directWalk{slab: slab, placed: make([]bool, n), order: make([]int32, 0, n), state: linInitBox}
	defer func() {
		if w.visited != nil {
			clear(w.visited)
			visitedPool.Put(w.visited)
		}
	}()
	budget := 200*n + 10_000
	e := 0
	for steps := 0; ; steps++ {
		if steps > budget || (steps%1024 == 1023 && stop()) {
			return nil, false
		}
		if e == len(events) {
			if w.finish() && checkOrder(slab, w.order) {
				return w.order, true
			}
			if e = w.back(); e < 0 {
				return nil, false
			}
			continue
		}
		ev := events[e]
		x := ev.op
		if !ev.ret {
			w.pending = append(w.pending, x)
			if len(w.pending) > maxDirectPending {
				return nil, false
			}
			if keepsState(slab[x].kind) {
				if ok, next := linStep(w.state, &slab[x]); ok {
					w.place(x, next)
				}
			}
			e++
			continue
		}
		if w.placed[x] {
			e++
			continue
		}
		ok, next := linStep(w.state, &slab[x])
		if ok && !w.alternatives(x) {
			w.place(x, next)
			e++
			continue
		}
		if !w.firstVisit(e) {
			// Been here before, by another order of the same ops: every
			// way on from here failed then.
			if e = w.back(); e < 0 {
				return nil, false
			}
			continue
		}
		c := directChoice{op: x, event: e, placed: len(w.order), state: w.state, pending: slices.Clone(w.pending), options: w.enablersFirst(x)}
		if w.held += len(c.pending) + len(c.options); w.held > maxDirectHeld {
			return nil, false
		}
		w.choices = append(w.choices, c)
		if e = w.back(); e < 0 {
			return nil, false
		}
	}
}

// directWalk is the walk's state.
type directWalk struct {
	slab    []linOp
	placed  []bool
	order   []int32
	pending []int32
	state   any
	choices []directChoice
	held    int // ops the choices hold copies of (maxDirectHeld)
	// visited are the choices' configurations met so far (see firstVisit)
	visited map[uint64]struct{}
}

// visitedPool keeps the walks' sets of configurations for the next key:
// a check walks thousands of keys, and a cleared map keeps its room.
var visitedPool = sync.Pool{New: func() any { return map[uint64]struct{}{} }}

// maxDirectVisited bounds the configurations the walk remembers (about
// 40 MiB); past it, it remembers no more and may go over old ground.
const maxDirectVisited = 1 << 20

// firstVisit is whether the walk meets its configuration at event e for
// the first time, and remembers it. At a return, the ops placed so far
// are those returned before it and the ones called but no longer pending,
// so the event, the state and the set of pending ops are the whole
// configuration: what can follow does not depend on the order that led
// there. The walk returns at its first success, so a configuration met
// again is one every way on from which has failed (porcupine's cache does
// this, keyed by a bitset of every op; here a hash of the few pending ops
// does). Two configurations with the same hash make the walk miss an
// order at worst, never find a wrong one.
func (w *directWalk) firstVisit(e int) bool {
	h := uint64(e)*0x9E3779B97F4A7C15 ^ linHash(w.state)
	for _, p := range w.pending {
		z := uint64(p) + 0x9E3779B97F4A7C15 // splitmix64, summed: the set, in any order
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		h += z ^ (z >> 31)
	}
	if w.visited == nil {
		w.visited = visitedPool.Get().(map[uint64]struct{})
	}
	if _, seen := w.visited[h]; seen {
		return false
	}
	if len(w.visited) < maxDirectVisited {
		w.visited[h] = struct{}{}
	}
	return true
}

// place puts x next in the order; after a change of state, the pending
// ops that keep the state and now fit follow it.
func (w *directWalk) place(x int32, next any) {
	w.order = append(w.order, x)
	w.placed[x] = true
	if i := slices.Index(w.pending, x); i >= 0 {
		w.pending = slices.Delete(w.pending, i, i+1)
	}
	w.state = next
	if keepsState(w.slab[x].kind) {
		return
	}
	for i := 0; i < len(w.pending); {
		y := w.pending[i]
		if keepsState(w.slab[y].kind) {
			if ok, after := linStep(w.state, &w.slab[y]); ok {
				w.order = append(w.order, y)
				w.placed[y] = true
				w.pending = slices.Delete(w.pending, i, i+1)
				w.state = after
				continue
			}
		}
		i++
	}
}

// alternatives is whether a pending op other than x could be placed
// before it: one that changes the state and fits it now.
func (w *directWalk) alternatives(x int32) bool {
	for _, y := range w.pending {
		if y != x && !keepsState(w.slab[y].kind) && fits(w.state, &w.slab[y]) {
			return true
		}
	}
	return false
}

// enablersFirst is the pending ops that change the state and fit it,
// those after which x fits first (the write whose value a read of x's
// returns): the options a choice tries, in the order it tries them.
func (w *directWalk) enablersFirst(x int32) []int32 {
	out := make([]int32, 0, len(w.pending))
	var rest []int32
	for _, y := range w.pending {
		if y == x || keepsState(w.slab[y].kind) || !fits(w.state, &w.slab[y]) {
			continue
		}
		if fitsAfter(w.state, &w.slab[y], &w.slab[x]) {
			out = append(out, y)
		} else {
			rest = append(rest, y)
		}
	}
	return append(out, rest...)
}

// fits is linStep's verdict without its next state: no string is built
// for a kv append, which the walk asks about over and over.
func fits(state any, op *linOp) bool {
	switch op.kind {
	case kvAppend, kvPut, regWrite:
		return true
	}
	ok, _ := linStep(state, op)
	return ok
}

// fitsAfter is whether x fits the state y (which fits state) leads to,
// building no string where y appends.
func fitsAfter(state any, y, x *linOp) bool {
	if y.kind == kvAppend {
		switch x.kind {
		case kvGet:
			s := kvState(state)
			return len(x.s) == len(s)+len(y.s) && x.s[:len(s)] == s && x.s[len(s):] == y.s
		case kvAppend, kvPut:
			return true
		}
	}
	_, mid := linStep(state, y)
	return fits(mid, x)
}

// back takes the next open option of the latest choice, dropping the
// choices with none left, and returns the event to go on from; -1 when no
// choice has an option left.
func (w *directWalk) back() int {
	for len(w.choices) > 0 {
		c := &w.choices[len(w.choices)-1]
		for _, x := range w.order[c.placed:] {
			w.placed[x] = false
		}
		w.order = w.order[:c.placed]
		w.state = c.state
		w.pending = append(w.pending[:0], c.pending...)
		for c.next <= len(c.options) {
			k := c.next
			c.next++
			if k == 0 {
				x := c.op
				if ok, next := linStep(w.state, &w.slab[x]); ok {
					w.place(x, next)
					return c.event + 1
				}
				continue
			}
			y := c.options[k-1]
			if ok, next := linStep(w.state, &w.slab[y]); ok {
				w.place(y, next)
				return c.event // the same return, decided again
			}
		}
		w.held -= len(c.pending) + len(c.options)
		w.choices = w.choices[:len(w.choices)-1]
	}
	return -1
}

// finish places the ops still pending at the end (of unknown outcome) in
// order; false if one does not fit.
func (w *directWalk) finish() bool {
	for len(w.pending) > 0 {
		x := w.pending[0]
		ok, next := linStep(w.state, &w.slab[x])
		if !ok {
			return false
		}
		w.place(x, next)
	}
	return true
}

// checkOrder is whether order is a linearization of slab's ops: every op
// exactly once; no op after one that was invoked after it returned (ops
// whose return and call fall at the same time overlap); every step
// accepted by the model from the initial state.
func checkOrder(slab []linOp, order []int32) bool {
	if len(order) != len(slab) {
		return false
	}
	seen := make([]bool, len(slab))
	var state any = linInitBox
	latestCall := int64(math.MinInt64)
	for _, x := range order {
		if x < 0 || int(x) >= len(slab) || seen[x] {
			return false
		}
		seen[x] = true
		op := &slab[x]
		if op.ret < latestCall {
			return false
		}
		latestCall = max(latestCall, op.call)
		ok, next := linStep(state, op)
		if !ok {
			return false
		}
		state = next
	}
	return true
}
