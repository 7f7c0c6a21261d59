package checker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// witnessOps rebuilds a witness's model inputs from the history, by the
// invoke-record indexes results.json lists.
func witnessOps(t *testing.T, in *Input, idx []int64) []porcupine.Operation {
	t.Helper()
	want := map[int64]bool{}
	for _, i := range idx {
		want[i] = true
	}
	var ops []porcupine.Operation
	for i := range in.Operations {
		o := &in.Operations[i]
		if !want[o.Invoke.Index] {
			continue
		}
		delete(want, o.Invoke.Index)
		lo, keep, err := toLinOp(o)
		if err != nil || !keep {
			t.Fatalf("witness op #%d is no model input: keep %v, %v", o.Invoke.Index, keep, err)
		}
		lo.op = int32(i)
		p := &lo
		ops = append(ops, porcupine.Operation{ClientId: o.Invoke.Process, Input: p, Output: p, Call: o.Invoke.Time, Return: returnTime(*o)})
	}
	if len(want) > 0 {
		t.Fatalf("witness indexes %v are no invoke records of the history", want)
	}
	return ops
}

// assertMinimalWitness checks a failure's witness with porcupine: not
// linearizable (from the initial value it names, and then from null too,
// the key's real start), and linearizable without any one of its ops.
func assertMinimalWitness(t *testing.T, in *Input, f LinearizabilityViolation) {
	t.Helper()
	if len(f.Witness) == 0 || len(f.WitnessStory) != len(f.Witness) || len(f.WitnessOps) != len(f.Witness) {
		t.Fatalf("witness %v, %d story lines, %d ops", f.Witness, len(f.WitnessStory), len(f.WitnessOps))
	}
	for i := 1; i < len(f.Witness); i++ {
		if f.Witness[i] <= f.Witness[i-1] {
			t.Errorf("witness %v is not in history order", f.Witness)
		}
	}
	if !f.WitnessMinimal {
		t.Errorf("witness not minimal: %s", f.WitnessNote)
	}
	var stop atomic.Bool
	init := linInitBox
	if f.WitnessInitial == "any" {
		init = linAnyBox
	}
	ops := witnessOps(t, in, f.Witness)
	if r := porcupine.CheckOperationsTimeout(linModelAny(&stop, init), ops, time.Minute); r != porcupine.Illegal {
		t.Fatalf("witness %v (from %s): %s, want Illegal", f.Witness, f.WitnessInitial, r)
	}
	if r := porcupine.CheckOperationsTimeout(linModel(&stop, nil), ops, time.Minute); r != porcupine.Illegal {
		t.Fatalf("witness %v from null: %s, want Illegal", f.Witness, r)
	}
	for i := range ops {
		rest := without(ops, i, i+1)
		if r := porcupine.CheckOperationsTimeout(linModelAny(&stop, init), rest, time.Minute); r != porcupine.Ok {
			t.Errorf("witness %v without #%d: %s, want Ok (not 1-minimal)", f.Witness, f.Witness[i], r)
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
		r := (&Linearizable{Workloads: []string{"register"}}).Check(context.Background(), in).(*LinearizableResult)
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
			assertMinimalWitness(t, in, f)
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
	s := &shrinker{model: linModelAny(&stop, linAnyBox), stop: &stop, until: time.Now(), perCheck: time.Second}
	w := s.shrink(k.ops)
	if w.minimal || len(w.ops) != len(k.ops) || !strings.Contains(w.note, "budget ran out") {
		t.Errorf("out of budget: %+v", w)
	}
	stop.Store(true)
	s = &shrinker{model: linModelAny(&stop, linAnyBox), stop: &stop, until: time.Now().Add(time.Minute), perCheck: time.Second}
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
