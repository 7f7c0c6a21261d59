package checker

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// witnessKey finds the witness's key as c prepares it, and the witness's
// ops among the key's, by the invoke-record indexes results.json lists.
func witnessKey(t *testing.T, c *Linearizable, in *Input, f LinearizabilityViolation) (*linKey, []porcupine.Operation) {
	t.Helper()
	want := map[int64]bool{}
	for _, i := range f.Witness {
		want[i] = true
	}
	for _, k := range c.prepare(in) {
		if k.key != f.Key {
			continue
		}
		var w []porcupine.Operation
		for _, op := range k.operations() {
			if idx := in.Operations[op.Input.(*linOp).op].Invoke.Index; want[idx] {
				delete(want, idx)
				w = append(w, op)
			}
		}
		if len(want) > 0 {
			t.Fatalf("witness indexes %v are no modelled ops of %s", want, f.Key)
		}
		return k, w
	}
	t.Fatalf("no key %s", f.Key)
	return nil, nil
}

// assertMinimalWitness checks a failure's witness with porcupine and
// requires it to be minimal.
func assertMinimalWitness(t *testing.T, c *Linearizable, in *Input, f LinearizabilityViolation) {
	t.Helper()
	if !f.WitnessMinimal {
		t.Errorf("%s: witness not minimal: %s", f.Key, f.WitnessNote)
	}
	assertWitness(t, c, in, f)
}

// assertWitness checks a failure's witness with porcupine: its ops alone
// are not linearizable; with the key's other writes relaxed (see relaxer)
// they are not either, which proves the key's history is not; and, when
// the result says it is minimal, without any one of them they are. On
// small keys the relaxed history is also judged with no relaxed write
// left out.
func assertWitness(t *testing.T, c *Linearizable, in *Input, f LinearizabilityViolation) {
	t.Helper()
	if len(f.Witness) == 0 || len(f.WitnessStory) != len(f.Witness) || len(f.WitnessOps) != len(f.Witness) {
		t.Fatalf("witness %v, %d story lines, %d ops", f.Witness, len(f.WitnessStory), len(f.WitnessOps))
	}
	for i := 1; i < len(f.Witness); i++ {
		if f.Witness[i] <= f.Witness[i-1] {
			t.Errorf("witness %v is not in history order", f.Witness)
		}
	}
	var stop atomic.Bool
	model := linModel(&stop, nil)
	k, w := witnessKey(t, c, in, f)
	r := newRelaxer(k.ops)
	// withDeadEnds is exact (TestDeadEndsExact); without it porcupine
	// cannot decide relaxed kv appends in a minute.
	check := func(ops []porcupine.Operation) porcupine.CheckResult {
		return porcupine.CheckOperationsTimeout(withDeadEnds(model, ops), ops, time.Minute)
	}
	if v := check(w); v != porcupine.Illegal {
		t.Errorf("%s: witness %v alone: %s, want Illegal", f.Key, f.Witness, v)
	}
	if v := check(r.history(w)); v != porcupine.Illegal {
		t.Errorf("%s: witness %v relaxed: %s, want Illegal", f.Key, f.Witness, v)
	}
	full := append([]porcupine.Operation(nil), w...)
	in2 := map[int32]bool{}
	for _, op := range w {
		in2[op.Input.(*linOp).pos] = true
	}
	for pos, l := range r.loose {
		if l.Input != nil && !in2[int32(pos)] {
			full = append(full, l)
		}
	}
	if len(full)-len(w) <= 12 {
		if v := check(full); v != porcupine.Illegal {
			t.Errorf("%s: witness %v with every other write relaxed: %s, want Illegal", f.Key, f.Witness, v)
		}
	}
	for i := range w {
		if !f.WitnessMinimal {
			break
		}
		if v := check(r.history(without(w, i, i+1))); v != porcupine.Ok {
			t.Errorf("%s: witness %v without #%d, relaxed: %s, want Ok (not 1-minimal)", f.Key, f.Witness, f.Witness[i], v)
		}
	}
}

// TestWitnessMinimalOnGenerated shrinks the failing keys of generated
// register histories with corrupted reads and checks every witness.
func TestWitnessMinimalOnGenerated(t *testing.T) {
	shrunk := 0
	for seed := uint64(2); seed <= 20; seed += 2 {
		g := registerGen{Records: 600, Keys: 2, Processes: 6, InfoRate: 0.05, Seed: seed, Corrupt: 0.02}
		dir := t.TempDir()
		writeRegisterFile(t, dir, g)
		in, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		c := &Linearizable{Workloads: []string{"register"}}
		r := c.Check(context.Background(), in).(*LinearizableResult)
		if r.Valid != False {
			continue
		}
		if len(r.Failures) != min(r.InvalidCount, DefaultMaxWitnesses) {
			t.Fatalf("seed %d: %d failures for %d invalid keys", seed, len(r.Failures), r.InvalidCount)
		}
		for _, f := range r.Failures {
			if len(f.Witness) > 10 {
				t.Errorf("seed %d: witness of %d ops", seed, len(f.Witness))
			}
			assertMinimalWitness(t, c, in, f)
			shrunk++
		}
	}
	if shrunk == 0 {
		t.Fatal("no generated history was invalid: the corruption does not bite")
	}
}

// TestShrinkBudget: a shrink out of budget keeps what it has, still
// illegal, and says it is not minimal.
func TestShrinkBudget(t *testing.T) {
	in := golden(t, "register-stale-read.jsonl")
	c := &Linearizable{Workloads: []string{"register"}}
	keys := c.prepare(in)
	var k *linKey
	for _, x := range keys {
		if x.key == "{register:1}" {
			k = x
		}
	}
	var stop atomic.Bool
	ops := k.operations()
	s := &shrinker{relax: newRelaxer(ops), model: linModel(&stop, nil), stop: &stop, until: time.Now(), perCheck: time.Second}
	w := s.shrink(ops)
	if w.minimal || len(w.ops) != len(k.ops) || !strings.Contains(w.note, "budget ran out") {
		t.Errorf("out of budget: %+v", w)
	}
	stop.Store(true)
	s = &shrinker{relax: newRelaxer(k.ops), model: linModel(&stop, nil), stop: &stop, until: time.Now().Add(time.Minute), perCheck: time.Second}
	if w := s.shrink(k.ops); w.minimal || !strings.Contains(w.note, "stopped") {
		t.Errorf("stopped: %+v", w)
	}
}

// TestWitnessStory tells each kind of op.
func TestWitnessStory(t *testing.T) {
	op := func(f string, typ history.Type, inv, done any, errText string) history.Operation {
		return history.Operation{
			Invoke:   &history.Op{Index: 4, Time: 1_500_000_000, Process: 3, Type: history.Invoke, F: f, Key: "k", Value: inv},
			Complete: &history.Op{Index: 7, Time: 1_750_000_000, Process: 3, Type: typ, F: f, Key: "k", Value: done, Error: errText, Node: "10.0.0.2:6379"},
		}
	}
	for _, tc := range []struct {
		o    history.Operation
		want string
	}{
		{op("write", history.OK, int64(5), int64(5), ""), "#4 process 3: write 5 — ok, between 1.500 s and 1.750 s on 10.0.0.2:6379"},
		{op("read", history.OK, nil, int64(5), ""), "#4 process 3: read → 5 — ok, between 1.500 s and 1.750 s on 10.0.0.2:6379"},
		{op("write", history.Info, int64(5), int64(5), "i/o timeout"), "#4 process 3: write 5 — outcome unknown (i/o timeout): invoked at 1.500 s, it may take effect at any time after; sent to 10.0.0.2:6379"},
		{op("cas", history.Fail, []any{int64(1), int64(2)}, nil, "cas-mismatch"), "#4 process 3: cas 1 → 2 — failed, the value was not 1, between 1.500 s and 1.750 s on 10.0.0.2:6379"},
		{op("append", history.OK, "x", "x", ""), `#4 process 3: append "x" — ok, between 1.500 s and 1.750 s on 10.0.0.2:6379`},
	} {
		lo, keep, err := toLinOp(&tc.o)
		if err != nil || !keep {
			t.Fatal(err)
		}
		if got := storyOf(tc.o, &lo); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// TestDeadEndsExact: folding the kv values no get reads a prefix of into
// one state changes no verdict. Small random kv histories (puts, appends,
// gets, some of unknown outcome, gets reading a real value of the key or
// a corrupted one) are judged with and without the fold; both verdicts
// must occur and agree.
func TestDeadEndsExact(t *testing.T) {
	var stop atomic.Bool
	plain := linModel(&stop, nil)
	verdicts := map[porcupine.CheckResult]int{}
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 11))
		n := 3 + rng.IntN(6)
		var ops []porcupine.Operation
		state := ""
		for i := range n {
			lo := &linOp{pos: int32(i), op: int32(i), proc: int32(i)}
			switch r := rng.IntN(10); {
			case r < 2:
				lo.kind, lo.s = kvPut, string(rune('a'+rng.IntN(3)))
				state = lo.s
			case r < 6:
				lo.kind, lo.s = kvAppend, string(rune('a'+rng.IntN(3)))
				state += lo.s
			default:
				lo.kind, lo.s = kvGet, state
				if rng.IntN(3) == 0 && len(state) > 0 {
					lo.s = state[:rng.IntN(len(state))] // a stale read
				}
			}
			if lo.kind != kvGet {
				lo.next = lo.s
				lo.info = rng.IntN(5) == 0
			}
			call := int64(i*10 + rng.IntN(25))
			ret := call + 1 + int64(rng.IntN(30))
			if lo.info {
				ret = math.MaxInt64
			}
			ops = append(ops, porcupine.Operation{ClientId: i, Input: lo, Output: lo, Call: call, Return: ret})
		}
		want := porcupine.CheckOperationsTimeout(plain, ops, 10*time.Second)
		got := porcupine.CheckOperationsTimeout(withDeadEnds(plain, ops), ops, 10*time.Second)
		if want == porcupine.Unknown || got != want {
			t.Fatalf("seed %d: plain %s, with dead ends %s", seed, want, got)
		}
		verdicts[got]++
	}
	if verdicts[porcupine.Ok] < 100 || verdicts[porcupine.Illegal] < 100 {
		t.Fatalf("verdicts %v: want both Ok and Illegal histories", verdicts)
	}
	t.Logf("verdicts %v", verdicts)
}
