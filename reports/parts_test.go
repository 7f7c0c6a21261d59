package reports

import (
	"slices"
	"sort"
	"testing"

	"github.com/redis-harness/harness/checker/history"
)

// The sampler keeps the same ops whatever order they come in: a report is
// a function of the history.
func TestSamplerIsDeterministic(t *testing.T) {
	keep := func(order []int64) []int64 {
		s := sampler{limit: 1000}
		for _, i := range order {
			s.offer(point{index: i})
		}
		var out []int64
		for _, p := range s.pts {
			out = append(out, p.index)
		}
		slices.Sort(out)
		return out
	}
	var fwd, rev []int64
	for i := int64(0); i < 100000; i++ {
		fwd = append(fwd, i)
		rev = append(rev, 99999-i)
	}
	a, b := keep(fwd), keep(rev)
	if !slices.Equal(a, b) {
		t.Fatalf("the order changes the sample: %d vs %d points", len(a), len(b))
	}
	if len(a) > 1000 || len(a) < 250 {
		t.Errorf("kept %d of 100000 with a limit of 1000", len(a))
	}
}

// Coarsening the grid keeps every count, and bounds the buckets.
func TestGridCoarsens(t *testing.T) {
	g := timeGrid{width: firstWidth}
	n := 0
	for ts := int64(0); ts < 3600e9; ts += 7e8 {
		b := g.at(ts)
		b.done[outOK]++
		if b.hist == nil {
			b.hist = new(latHist)
		}
		b.hist[histBin(1e6)]++
		b.timed++
		n++
	}
	if len(g.buckets) > maxBuckets {
		t.Errorf("%d buckets, want at most %d", len(g.buckets), maxBuckets)
	}
	total, timed := 0, 0
	for _, b := range g.buckets {
		total += b.done[outOK]
		timed += b.timed
	}
	if total != n || timed != n {
		t.Errorf("counts %d and %d after coarsening, want %d", total, timed, n)
	}
	var h latHist
	for _, ns := range []int64{1e6, 2e6, 3e6, 4e6, 100e6} {
		h[histBin(ns)]++
	}
	if q := h.quantile(5, 0.5); q < 2.8e6 || q > 3.2e6 {
		t.Errorf("median %v, want about 3 ms", q)
	}
	if q := h.quantile(5, 1); q < 95e6 || q > 105e6 {
		t.Errorf("max %v, want about 100 ms", q)
	}
}

func TestBuildFaults(t *testing.T) {
	rec := func(at int64, f string, v map[string]any, err string) history.Op {
		return history.Op{Time: at, Process: -1, Type: history.Info, F: f, Value: v, Error: err}
	}
	ops := []history.Op{
		rec(1, "partition", map[string]any{"action": int64(0), "target": "primaries", "nodes": []any{"a:1"}, "fault": "cut a", "p": "x"}, ""),
		rec(2, "kill", map[string]any{"action": int64(1), "target": "replica"}, ""),
		rec(3, "pause", map[string]any{"action": int64(2)}, "no SIGSTOP here"),
		rec(5, "kill", map[string]any{"action": int64(1), "heal": true}, ""),
		rec(6, "partition", map[string]any{"action": int64(0), "heal": true}, "iptables busy"),
		rec(7, "failover", map[string]any{"heal": true}, ""),
	}
	fs := buildFaults(ops, 10)
	if len(fs) != 4 {
		t.Fatalf("%d faults, want 4: %+v", len(fs), fs)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].N < fs[j].N })
	p, k, z, o := fs[0], fs[1], fs[2], fs[3]
	if p.F != "partition" || p.Start != 1 || p.End != 10 || p.Healed || p.HealError != "iptables busy" || p.Effect != "cut a" || p.Params != `p="x"` || p.Target != "primaries" {
		t.Errorf("partition: %+v (a failed heal leaves it in effect to the end)", p)
	}
	if k.F != "kill" || k.Start != 2 || k.End != 5 || !k.Healed {
		t.Errorf("kill: %+v", k)
	}
	if z.Error == "" || z.active(3) {
		t.Errorf("pause: %+v (never in effect)", z)
	}
	if !o.Orphan || o.Start != 7 {
		t.Errorf("failover: %+v (a heal with no start)", o)
	}
	if !p.active(4) || k.active(6) {
		t.Error("active")
	}
}

func TestTopologyHelpers(t *testing.T) {
	addrs := []string{"127.0.0.10:6379", "127.0.0.9:6379", "127.0.0.9:16379", "a"}
	sort.Slice(addrs, func(i, j int) bool { return naturalLess(addrs[i], addrs[j]) })
	if want := []string{"127.0.0.9:6379", "127.0.0.9:16379", "127.0.0.10:6379", "a"}; !slices.Equal(addrs, want) {
		t.Errorf("natural order %v, want %v", addrs, want)
	}
	if n := unionLen([]history.SlotRange{{Start: 0, End: 99}, {Start: 50, End: 149}, {Start: 16000, End: 20000}}); n != 150+384 {
		t.Errorf("union %d, want %d", n, 150+384)
	}
}

func TestCut(t *testing.T) {
	if got := cut("ééé", 3); got != "é… (6 bytes)" {
		t.Errorf("cut %q", got)
	}
	if got := shellQuote("store/a b/scenario.yaml"); got != "'store/a b/scenario.yaml'" {
		t.Errorf("quote %q", got)
	}
	if got := shellQuote("store/x-1/scenario.yaml"); got != "store/x-1/scenario.yaml" {
		t.Errorf("quote %q", got)
	}
}

// TestEveryCheckerExplained: every checker of history's table has its
// section in the report and its place in the order of sections, and no
// section is written for a checker the table does not know.
func TestEveryCheckerExplained(t *testing.T) {
	for _, name := range history.Checkers() {
		if sectionWriters[name] == nil {
			t.Errorf("checker %s: no section writer", name)
		}
		if !slices.Contains(checkerOrder, name) {
			t.Errorf("checker %s: not in the order of sections", name)
		}
	}
	for name := range sectionWriters {
		if !slices.Contains(history.Checkers(), name) {
			t.Errorf("section writer for %s, a checker history's table does not know", name)
		}
	}
}

func TestJudgedFact(t *testing.T) {
	for raw, want := range map[string]string{
		`{"valid":true,"ops_judged":{"pipeline-kv":3,"register":5,"x":1}}`: "register 5, pipeline-kv 3, x 1",
		`{"valid":true,"ops_judged":{}}`:                                   "none",
		`{"valid":true}`:                                                   "",
	} {
		if got := judgedFact([]byte(raw)); got != want {
			t.Errorf("judgedFact(%s) = %q, want %q", raw, got, want)
		}
	}
}
