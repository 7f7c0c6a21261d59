package checker

import (
	"math"
	"slices"
)

// Most keys of a healthy run are linearizable, and an order that shows it
// is found by walking the key's calls and returns in time order, placing
// each op only when it must be placed (Lowe's "just in time"
// linearization), and going back a few steps when a choice made earlier
// turns out wrong. linearizeDirect is that walk, with a step budget linear
// in the key's ops. It runs before porcupine's search. Its answer is only
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
//     option left.

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
	budget := 20*n + 10_000
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
		if y != x && !keepsState(w.slab[y].kind) {
			if ok, _ := linStep(w.state, &w.slab[y]); ok {
				return true
			}
		}
	}
	return false
}

// enablersFirst is the pending ops that change the state and fit it, those
// after which x fits first (the write whose value a read of x's returns): the options a
// choice tries, in the order it tries them.
func (w *directWalk) enablersFirst(x int32) []int32 {
	out := make([]int32, 0, len(w.pending))
	var rest []int32
	for _, y := range w.pending {
		if y == x || keepsState(w.slab[y].kind) {
			continue
		}
		ok, mid := linStep(w.state, &w.slab[y])
		if !ok {
			continue
		}
		if fits, _ := linStep(mid, &w.slab[x]); fits {
			out = append(out, y)
		} else {
			rest = append(rest, y)
		}
	}
	return append(out, rest...)
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
