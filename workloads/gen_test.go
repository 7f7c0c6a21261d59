package workloads

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

func allWorkloads() []Spec {
	return []Spec{
		{Name: "register"}, {Name: "kv"}, {Name: "set", Mix: map[string]int{"add": 3, "read": 1}}, {Name: "counter"},
		{Name: "list-append"}, {Name: "multikey"}, {Name: "pipeline", Pipeline: 3}, {Name: "pipeline", Of: "kv", Weight: 2},
	}
}

// generate is what worker w of cfg generates for its first n batches, one
// line per op (its invoke as the history would hold it).
func generate(cfg Config, w, n int) []string {
	cfg = cfg.WithDefaults()
	r := newRunner(cfg, nil, nil)
	wk := r.newWorker(w)
	var out []string
	for i := 0; i < n; i++ {
		_, calls, _ := r.next(wk)
		for _, c := range calls {
			op := history.Op{Process: w, Type: history.Invoke, F: c.f, Key: c.key, Value: c.value}
			out = append(out, string(history.AppendJSON(nil, op)))
		}
	}
	return out
}

func TestGenerationIsDeterministic(t *testing.T) {
	cfg := Config{Workloads: allWorkloads(), Seed: 42, Concurrency: 5, OpsPerKey: 50}
	a, b := generate(cfg, 3, 2000), generate(cfg, 3, 2000)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("the same seed and worker generated different ops")
	}
	if c := generate(cfg, 4, 2000); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("workers 3 and 4 generated the same ops")
	}
	cfg.Seed = 43
	if c := generate(cfg, 3, 2000); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("seeds 42 and 43 generated the same ops")
	}
	fs := map[string]bool{}
	for _, line := range a {
		op, err := history.ParseOp([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		fs[op.F] = true
	}
	for _, f := range []string{"read", "write", "cas", "get", "put", "append", "add", "incr", "txn", "mset", "mget", "crossslot"} {
		if !fs[f] {
			t.Errorf("no %s generated in 2000 batches", f)
		}
	}
}

// TestKeysAndValues: every written value is unique across workers, every
// key carries its workload's tag, and no key gets more than OpsPerKey ops.
func TestKeysAndValues(t *testing.T) {
	cfg := Config{Workloads: allWorkloads(), Seed: 7, Concurrency: 4, OpsPerKey: 40, Keys: 3}
	perKey := map[string]int{}
	written := map[string]string{}
	for w := 0; w < cfg.Concurrency; w++ {
		for _, line := range generate(cfg, w, 3000) {
			op, err := history.ParseOp([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			if op.F == "crossslot" {
				continue
			}
			tg := topology.HashTag(op.Key)
			space, _, ok := strings.Cut(tg, ":")
			if !ok || !strings.HasPrefix(op.Key, "{"+tg+"}") {
				t.Fatalf("key %q has no {<workload>:<n>} tag", op.Key)
			}
			switch space {
			case "register", "kv", "set", "counter", "list-append", "multikey", "pipeline-register", "pipeline-kv":
			default:
				t.Fatalf("key %q: unknown workload %q", op.Key, space)
			}
			perKey[tg]++
			for _, v := range writtenValues(op) {
				if prev, dup := written[v]; dup {
					t.Fatalf("value %s written twice: %s and %s", v, prev, line)
				}
				written[v] = line
			}
		}
	}
	for k, n := range perKey {
		if n > cfg.OpsPerKey {
			t.Errorf("tag %s got %d ops, more than ops_per_key %d", k, n, cfg.OpsPerKey)
		}
	}
	if len(perKey) < 20 {
		t.Errorf("only %d tags used: the workloads do not move to fresh keys", len(perKey))
	}
}

// writtenValues names what op writes, space-qualified ("kv=12;").
func writtenValues(op history.Op) []string {
	space, _, _ := strings.Cut(topology.HashTag(op.Key), ":")
	q := func(v any) string { return space + "=" + toText(v) }
	switch op.F {
	case "write", "put", "append", "add", "mset":
		if m, ok := op.Value.(map[string]any); ok {
			for _, v := range m {
				return []string{q(v)}
			}
		}
		return []string{q(op.Value)}
	case "cas":
		return []string{q(op.Value.([]any)[1])}
	case "txn":
		var out []string
		for _, m := range op.Value.([]any) {
			if m := m.([]any); m[0] == "append" {
				out = append(out, q(m[2]))
			}
		}
		return out
	}
	return nil
}

func toText(v any) string {
	b := history.AppendJSON(nil, history.Op{Value: v})
	s := string(b)
	i := strings.Index(s, `"value":`)
	return s[i+8 : len(s)-1]
}

// TestCrossSlotKeysDiffer: the probe's keys must be in different slots, or
// Redis would accept it.
func TestCrossSlotKeysDiffer(t *testing.T) {
	a, b := topology.KeySlot(crossSlotKeys[0]), topology.KeySlot(crossSlotKeys[1])
	if a == b {
		t.Fatalf("%s and %s are both in slot %d", crossSlotKeys[0], crossSlotKeys[1], a)
	}
}

func TestNames(t *testing.T) {
	want := "counter kv list-append multikey pipeline register set"
	if got := strings.Join(Names(), " "); got != want {
		t.Errorf("Names() = %s, want %s", got, want)
	}
}

// TestSpacesCoverRegistry ties the registry to history's table of key
// spaces: every workload (the pipeline workload with each workload it may
// pipeline) writes a space of the table, under the tag the checkers read
// back, and every space of the table is written by a registered workload.
func TestSpacesCoverRegistry(t *testing.T) {
	written := map[string]bool{}
	for _, name := range Names() {
		specs := []Spec{{Name: name}}
		if registry[name].pipeline {
			specs = nil
			for _, of := range Names() {
				if registry[of].pipelinable {
					specs = append(specs, Spec{Name: name, Of: of})
				}
			}
			if len(specs) == 0 {
				t.Errorf("%s: no workload may be pipelined", name)
			}
		}
		for _, s := range specs {
			if err := s.Validate(); err != nil {
				t.Errorf("%s: %v", describe(s), err)
			}
			sp, ok := s.Space()
			if !ok {
				t.Errorf("%s writes no key space of history's table: no checker would judge its ops", describe(s))
				continue
			}
			written[sp.Name] = true
			// The keys it makes carry that space.
			ks := newKeyspace(s.space(), 2, 10)
			c := builderOf(s).generator(s.WithDefaults(), ks).next(newGen(1, 0, 1))
			if got := history.SpaceOf(c.key); got != sp.Name {
				t.Errorf("%s: key %q is of space %q, want %q", describe(s), c.key, got, sp.Name)
			}
		}
	}
	for _, sp := range history.Spaces() {
		if !written[sp.Name] {
			t.Errorf("space %s (%s) is written by no registered workload", sp.Name, sp)
		}
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a workload registered twice did not panic")
		}
	}()
	newRegistry(entry{"x", builder{}}, entry{"x", builder{}})
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	var got []time.Duration
	for a := 0; a < 5; a++ {
		got = append(got, backoff(p, a))
	}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoffs %v, want %v ms", got, want)
		}
	}
}

func TestPacer(t *testing.T) {
	p := &pacer{every: 10 * time.Millisecond}
	start := time.Now()
	for i := 0; i < 6; i++ {
		if err := p.wait(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 50*time.Millisecond { // a lower bound only: the machine may be slow, never too fast
		t.Errorf("6 ops at 100/s took %s, want at least 50ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.next = time.Now().Add(time.Hour)
	if err := p.wait(ctx, 1); err == nil {
		t.Error("wait past a canceled context returned nil")
	}
}

// Processes.Lineage maps every process the runner makes back to its
// worker, lane and incarnation (replay depends on it), and no two lanes
// ever share a process.
func TestLineageInvertsProcess(t *testing.T) {
	cfg := Config{Workloads: []Spec{{Name: "register"}, {Name: "pipeline", Pipeline: 3}, {Name: "pipeline", Of: "kv", Pipeline: 5}},
		Concurrency: 4, OpsPerKey: 50}.WithDefaults()
	r := newRunner(cfg, nil, nil)
	if r.ids.Lanes != 5 || r.ids.Concurrency != 4 {
		t.Fatalf("numbering %+v: want 4 workers of 5 lanes (the longest batch)", r.ids)
	}
	seen := map[int]string{}
	for i := 0; i < cfg.Concurrency; i++ {
		w := r.newWorker(i)
		for lane := 0; lane < r.ids.Lanes; lane++ {
			for inc := 0; inc < 7; inc++ {
				w.incarnation[lane] = inc
				p := r.process(w, lane)
				gw, gl, gi := ProcessesOf(cfg).Lineage(p)
				if gw != i || gl != lane || gi != inc {
					t.Fatalf("process %d of worker %d lane %d incarnation %d maps back to worker %d lane %d incarnation %d", p, i, lane, inc, gw, gl, gi)
				}
				who := fmt.Sprint(i, "/", lane, "/", inc)
				if prev, dup := seen[p]; dup {
					t.Fatalf("process %d is both %s and %s", p, prev, who)
				}
				seen[p] = who
			}
		}
	}
}
