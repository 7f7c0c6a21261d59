package checker

import (
	"math"
	"slices"
)

// Most keys of a healthy run are linearizable in the most obvious way:
// every op takes effect somewhere inside its interval, and a walk of the
// key's calls and returns in time order can place each op as it goes.
// linearizeDirect tries that walk before any search. Its answer is only
// ever "linearizable", and only with an order that checkOrder has checked
// op by op (real time and the model's steps), so a bug in the walk can
// cost time (the search runs) but never a wrong verdict. A key it cannot
// order goes to porcupine's search, which decides it.
//
// The walk, in time order (a call before a return at the same time, as
// porcupine orders them):
//   - at a call, the op is pending; an op that leaves the state as it is
//     (a read, a get, a cas that found another value) is placed at once if
//     it fits the state: placing it early never rules out an order that
//     placing it later allows;
//   - at a return of an op not yet placed, it is placed if it fits; if not,
//     one pending op that changes the state and after which it fits is
//     placed first (a write whose value a read returns, say); if none, the
//     walk gives up;
//   - after a state change, the pending ops that leave the state as it is
//     and now fit are placed;
//   - at the end the ops of unknown outcome still pending are placed last,
//     where each may take effect or (a cas) not.

// maxDirectPending bounds the pending ops the walk looks among for the op
// a return needs first: a key with more in flight (many ops of unknown
// outcome, each pending for ever) is left to the search.
const maxDirectPending = 256

// keepsState is whether an op of kind k never changes the state.
func keepsState(k linKind) bool {
	return k == regRead || k == regCASMismatch || k == kvGet
}

// linearizeDirect returns an order of slab's ops (indexes into slab) that
// is a linearization, and true; or false when the walk found none, which
// says nothing about the key. At the start and every 256 returns it asks
// stop (the check's deadline, cancellation) whether to give up: the walk
// is part of the search's budget, and a hot kv key of long appends can
// take a while, building strings.
func linearizeDirect(slab []linOp, stop func() bool) ([]int32, bool) {
	n := len(slab)
	calls := make([]int32, n)
	rets := make([]int32, 0, n)
	for i := range slab {
		calls[i] = int32(i)
		if slab[i].ret != math.MaxInt64 {
			rets = append(rets, int32(i))
		}
	}
	byTime := func(at func(*linOp) int64) func(a, b int32) int {
		return func(a, b int32) int {
			if ta, tb := at(&slab[a]), at(&slab[b]); ta != tb {
				if ta < tb {
					return -1
				}
				return 1
			}
			return int(a - b)
		}
	}
	slices.SortFunc(calls, byTime(func(o *linOp) int64 { return o.call }))
	slices.SortFunc(rets, byTime(func(o *linOp) int64 { return o.ret }))

	order := make([]int32, 0, n)
	placed := make([]bool, n)
	var pending []int32
	var state any = linInitBox
	drop := func(x int32) {
		for i, p := range pending {
			if p == x {
				pending = append(pending[:i], pending[i+1:]...)
				return
			}
		}
	}
	place := func(x int32, next any) {
		order = append(order, x)
		placed[x] = true
		drop(x)
		state = next
	}
	// settle places the pending state-keeping ops that fit the state.
	settle := func() {
		for i := 0; i < len(pending); {
			x := pending[i]
			if keepsState(slab[x].kind) {
				if ok, next := linStep(state, &slab[x]); ok {
					place(x, next)
					continue
				}
			}
			i++
		}
	}
	i := 0
	for j, r := range rets {
		if j%256 == 0 && stop() {
			return nil, false
		}
		for i < n && slab[calls[i]].call <= slab[r].ret {
			x := calls[i]
			i++
			pending = append(pending, x)
			if len(pending) > maxDirectPending {
				return nil, false
			}
			if keepsState(slab[x].kind) {
				if ok, next := linStep(state, &slab[x]); ok {
					place(x, next)
				}
			}
		}
		if placed[r] {
			continue
		}
		if ok, next := linStep(state, &slab[r]); ok {
			place(r, next)
			if !keepsState(slab[r].kind) {
				settle()
			}
			continue
		}
		found := false
		for _, w := range pending {
			if w == r || keepsState(slab[w].kind) {
				continue
			}
			ok, mid := linStep(state, &slab[w])
			if !ok {
				continue
			}
			if ok, next := linStep(mid, &slab[r]); ok {
				place(w, mid)
				place(r, next)
				settle()
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	for ; i < n; i++ { // calls after the last return: of unknown outcome
		pending = append(pending, calls[i])
	}
	for len(pending) > 0 {
		x := pending[0]
		ok, next := linStep(state, &slab[x])
		if !ok {
			return nil, false
		}
		place(x, next)
	}
	if !checkOrder(slab, order) {
		return nil, false
	}
	return order, true
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
