package checker

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// randomSlab makes a small history of one key: ops with random
// intervals, each taking effect at a random point inside its interval (or,
// of unknown outcome, maybe never), reads returning what the key held
// there; then, sometimes, one read is made to return something else.
// Values are few (1 to 3, a to c), so that equal writes and ambiguous
// orders are common.
func randomSlab(rng *rand.Rand, kv bool) []linOp {
	n := 2 + rng.IntN(9)
	type timed struct {
		lo     linOp
		effect int64
		apply  bool
	}
	ops := make([]timed, n)
	for i := range ops {
		call := int64(i*10 + rng.IntN(30))
		ret := call + 1 + int64(rng.IntN(40))
		o := &ops[i]
		o.lo = linOp{op: int32(i), proc: int32(i), call: call, ret: ret}
		o.effect = call + rng.Int64N(ret-call+1)
		o.apply = true
		r := rng.IntN(10)
		switch {
		case kv && r < 2:
			o.lo.kind, o.lo.s = kvPut, string(rune('a'+rng.IntN(3)))
			o.lo.next = o.lo.s
		case kv && r < 6:
			o.lo.kind, o.lo.s = kvAppend, string(rune('a'+rng.IntN(3)))
		case kv:
			o.lo.kind = kvGet
		case r < 4:
			o.lo.kind = regRead
		case r < 7:
			o.lo.kind, o.lo.a = regWrite, 1+rng.Int64N(3)
			o.lo.next = o.lo.a
		default:
			o.lo.kind, o.lo.a, o.lo.b = regCAS, 1+rng.Int64N(3), 1+rng.Int64N(3)
			o.lo.next = o.lo.b
		}
		if !keepsState(o.lo.kind) && rng.IntN(6) == 0 {
			o.lo.info, o.lo.ret = true, math.MaxInt64
			o.apply = rng.IntN(2) == 0
		}
	}
	byEffect := make([]int, n)
	for i := range byEffect {
		byEffect[i] = i
	}
	slices.SortStableFunc(byEffect, func(a, b int) int { return int(ops[a].effect - ops[b].effect) })
	var state any = linInitBox
	for _, i := range byEffect {
		o := &ops[i]
		switch o.lo.kind {
		case regRead:
			o.lo.a = regState(state)
		case kvGet:
			o.lo.s = kvState(state)
		case regCAS:
			if regState(state) != o.lo.a {
				if !o.lo.info {
					o.lo.kind = regCASMismatch
				}
				continue
			}
		}
		if o.apply {
			_, state = linStep(state, &o.lo)
		}
	}
	if rng.IntN(2) == 0 { // corrupt one read, if any
		for _, i := range rng.Perm(n) {
			switch o := &ops[i].lo; o.kind {
			case regRead:
				o.a = 1 + rng.Int64N(3)
			case kvGet:
				o.s = string(rune('a' + rng.IntN(3)))
			default:
				continue
			}
			break
		}
	}
	slab := make([]linOp, n)
	for i := range ops {
		slab[i] = ops[i].lo
		slab[i].pos = int32(i)
	}
	return slab
}

func porcupineOps(slab []linOp) []porcupine.Operation {
	k := linKey{slab: slab}
	return k.operations()
}

// TestDirectNeverWrong: over thousands of small random histories, dense
// with concurrency and equal values, every key the walk orders is one
// porcupine's search finds linearizable, every order it returns passes
// checkOrder; and it orders all but a few of the linearizable ones.
func TestDirectNeverWrong(t *testing.T) {
	var stop atomic.Bool
	model := linModel(&stop, nil)
	never := func() bool { return false }
	for _, kv := range []bool{false, true} {
		var ok, direct, illegal int
		for seed := range uint64(10000) {
			rng := rand.New(rand.NewPCG(seed, 23))
			slab := randomSlab(rng, kv)
			want := porcupine.CheckOperationsTimeout(model, porcupineOps(slab), 10*time.Second)
			order, got := linearizeDirect(slab, never)
			switch {
			case want == porcupine.Unknown:
				t.Fatalf("seed %d: porcupine undecided", seed)
			case got && want != porcupine.Ok:
				t.Fatalf("seed %d (kv %v): the walk ordered %v, porcupine says %s: %+v", seed, kv, order, want, slab)
			case got && !checkOrder(slab, order):
				t.Fatalf("seed %d: the walk's order %v fails checkOrder", seed, order)
			}
			if want == porcupine.Ok {
				ok++
				if got {
					direct++
				}
			} else {
				illegal++
			}
		}
		t.Logf("kv %v: %d linearizable (the walk ordered %d), %d not", kv, ok, direct, illegal)
		if ok < 2000 || illegal < 2000 {
			t.Errorf("kv %v: %d linearizable, %d not: want many of both", kv, ok, illegal)
		}
		if direct*100 < ok*99 {
			t.Errorf("kv %v: the walk ordered %d of %d linearizable histories: want all but a few", kv, direct, ok)
		}
	}
}

// TestCheckOrder: the check that stands between the walk and a verdict
// refuses every kind of wrong order.
func TestCheckOrder(t *testing.T) {
	// write 1 [0,10], read → 1 [5,20], write 2 [30,40], read → 2 [35,50]
	slab := []linOp{
		{kind: regWrite, a: 1, next: int64(1), call: 0, ret: 10},
		{kind: regRead, a: 1, call: 5, ret: 20},
		{kind: regWrite, a: 2, next: int64(2), call: 30, ret: 40},
		{kind: regRead, a: 2, call: 35, ret: 50},
	}
	for _, tc := range []struct {
		why   string
		order []int32
		want  bool
	}{
		{"the linearization", []int32{0, 1, 2, 3}, true},
		{"an op left out", []int32{0, 1, 2}, false},
		{"an op twice", []int32{0, 1, 1, 3}, false},
		{"an index out of range", []int32{0, 1, 2, 4}, false},
		{"a read before the write it returns", []int32{1, 0, 2, 3}, false},
		{"an op after one invoked after it returned", []int32{0, 2, 1, 3}, false},
	} {
		if got := checkOrder(slab, tc.order); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.why, tc.order, got, tc.want)
		}
	}
	// Ops whose return and call fall at the same time overlap: a read
	// that returned at 10 may see a write invoked at 10.
	touch := []linOp{
		{kind: regRead, a: 1, call: 0, ret: 10},
		{kind: regWrite, a: 1, next: int64(1), call: 10, ret: 20},
	}
	if !checkOrder(touch, []int32{1, 0}) {
		t.Errorf("touching intervals: the write first is a linearization")
	}
	touch[1].call = 11
	if checkOrder(touch, []int32{1, 0}) {
		t.Errorf("a write invoked after the read returned was placed before it")
	}
}

// TestDirectLeavesTheRestToTheSearch: two appends whose returns came in
// the other order from their effects are ordered by going back on the
// first choice; a get of what no order of them makes is not ordered, and
// the search decides the key, not linearizable.
func TestDirectLeavesTheRestToTheSearch(t *testing.T) {
	slab := []linOp{
		{kind: kvAppend, s: "a", call: 0, ret: 6},
		{kind: kvAppend, s: "b", call: 0, ret: 5},
		{kind: kvGet, s: "ab", call: 7, ret: 8},
	}
	for i := range slab {
		slab[i].op, slab[i].proc, slab[i].pos = int32(i), int32(i), int32(i)
	}
	never := func() bool { return false }
	if order, ok := linearizeDirect(slab, never); !ok || !slices.Equal(order, []int32{0, 1, 2}) {
		t.Fatalf("the walk did not go back to append a before b: %v %v", order, ok)
	}
	slab[2].s = "ac"
	if _, ok := linearizeDirect(slab, never); ok {
		t.Fatal("the walk ordered a get of a value no order makes")
	}
	// Through Check: the key is searched, and found not linearizable.
	in := historyOf(t,
		`{"index":0,"time":0,"process":0,"type":"invoke","f":"append","key":"{kv:1}","value":"a"}`,
		`{"index":1,"time":0,"process":1,"type":"invoke","f":"append","key":"{kv:1}","value":"b"}`,
		`{"index":2,"time":5,"process":1,"type":"ok","f":"append","key":"{kv:1}","value":"b"}`,
		`{"index":3,"time":6,"process":0,"type":"ok","f":"append","key":"{kv:1}","value":"a"}`,
		`{"index":4,"time":7,"process":2,"type":"invoke","f":"get","key":"{kv:1}","value":null}`,
		`{"index":5,"time":8,"process":2,"type":"ok","f":"get","key":"{kv:1}","value":"ac"}`,
	)
	r := (&Linearizable{Workloads: []string{"kv"}}).Check(context.Background(), in).(*LinearizableResult)
	if r.Valid != False || r.DirectKeys != 0 || r.InvalidCount != 1 {
		t.Errorf("%+v", r)
	}
}

// historyOf pairs history records given as lines.
func historyOf(t *testing.T, lines ...string) *Input {
	t.Helper()
	var ops []history.Op
	if _, err := history.Read(strings.NewReader(strings.Join(lines, "\n")+"\n"), func(o history.Op) error { ops = append(ops, o); return nil }); err != nil {
		t.Fatal(err)
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	return &Input{Ops: ops, Operations: pairs, Dir: t.TempDir()}
}

// TestDirectStops: the walk asks stop before it starts, and gives up.
func TestDirectStops(t *testing.T) {
	slab := []linOp{{kind: regWrite, a: 1, next: int64(1), call: 0, ret: 1}}
	if _, ok := linearizeDirect(slab, func() bool { return true }); ok {
		t.Error("the walk went on after stop")
	}
	if _, ok := linearizeDirect(slab, func() bool { return false }); !ok {
		t.Error("the walk did not order a single write")
	}
}

// TestDirectBounds: hostile keys end the walk at its bounds, quickly and
// without an answer, leaving them to the search: more ops in flight than
// maxDirectPending (writes of unknown outcome stay pending for ever), and
// a key whose every order must be tried (a read of a value none of 40
// concurrent writes wrote, at the end) within its step budget.
func TestDirectBounds(t *testing.T) {
	never := func() bool { return false }
	var flight []linOp
	for i := range maxDirectPending + 1 {
		flight = append(flight, linOp{kind: regWrite, a: int64(i + 1), next: int64(i + 1), info: true, call: int64(i), ret: math.MaxInt64})
	}
	flight = append(flight, linOp{kind: regRead, a: 1, call: 1000, ret: 1001})
	for i := range flight {
		flight[i].pos = int32(i)
	}
	if _, ok := linearizeDirect(flight, never); ok {
		t.Errorf("the walk went past %d ops in flight", maxDirectPending)
	}
	// Linearizable with far fewer in flight: the bound is what stopped it.
	if _, ok := linearizeDirect(append(flight[:10:10], flight[len(flight)-1]), never); !ok {
		t.Error("the walk did not order 10 writes of unknown outcome and a read")
	}

	var hard []linOp
	for i := range 40 {
		hard = append(hard, linOp{kind: regWrite, a: int64(i + 1), next: int64(i + 1), call: 0, ret: 100 + int64(i)})
	}
	for range 40 { // reads pin no order down
		hard = append(hard, linOp{kind: regRead, a: regNil, call: 0, ret: 1})
	}
	hard = append(hard, linOp{kind: regRead, a: 999, call: 200, ret: 201})
	steps := 0
	start := time.Now()
	if _, ok := linearizeDirect(hard, func() bool { steps += 1024; return false }); ok {
		t.Fatal("the walk ordered a read of a value never written")
	}
	if max := 200*len(hard) + 10_000; steps > max+1024 {
		t.Errorf("the walk took %d steps, past its budget of %d", steps, max)
	}
	t.Logf("gave up after about %d steps in %v", steps, time.Since(start))
}
