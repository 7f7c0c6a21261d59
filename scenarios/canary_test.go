package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// canaryInput is a small valid history of a set and a counter key, paired.
func canaryInput(t *testing.T) *checker.Input {
	t.Helper()
	var ops []history.Op
	rec := func(p int, typ history.Type, f, key string, v any, at int64) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: at, Process: p, Type: typ, F: f, Key: key, Value: v})
	}
	set, ctr := history.Tag("set", 0), history.Tag("counter", 0)
	rec(0, history.Invoke, "add", set, int64(1), 10)
	rec(0, history.OK, "add", set, int64(1), 20)
	rec(1, history.Invoke, "incr", ctr, int64(3), 30)
	rec(1, history.OK, "incr", ctr, int64(3), 40)
	rec(0, history.Invoke, "add", set, int64(2), 50)
	rec(0, history.OK, "add", set, int64(2), 60)
	rec(9, history.Invoke, "read", set, nil, 100)
	rec(9, history.OK, "read", set, []any{int64(1), int64(2)}, 110)
	rec(9, history.Invoke, "read", ctr, nil, 120)
	rec(9, history.OK, "read", ctr, int64(3), 130)
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	return &checker.Input{Ops: ops, Operations: pairs}
}

// TestCanaryPlantsInCopies: a planted anomaly is caught by the checker that
// must see it, and the recorded history it was planted in stays as it was.
func TestCanaryPlantsInCopies(t *testing.T) {
	in := canaryInput(t)
	before, err := json.Marshal(in.Ops) // deep: values too
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mutation, col string }{{"lost-write", "set"}, {"lost-increment", "counter"}} {
		var m Mutation
		for _, x := range Mutations() {
			if x.Name == tc.mutation {
				m = x
			}
		}
		cell := plantOne(context.Background(), m, tc.col, in, checker.Options{CheckTimeout: 10 * time.Second}, allSpaces())
		if cell.Outcome != Caught || cell.Target == "" {
			t.Errorf("%s × %s: %+v", tc.mutation, tc.col, cell)
		}
	}
	if after, _ := json.Marshal(in.Ops); !bytes.Equal(before, after) {
		t.Errorf("planting changed the recorded history:\n%s\n%s", before, after)
	}
}

// TestCanaryNoTargetFails: a history with nothing to plant in fails every
// cell as NO TARGET, never passes, and a baseline that judged no op of a
// space is a problem.
func TestCanaryNoTargetFails(t *testing.T) {
	in := canaryInput(t)
	rep := &CanaryReport{}
	base := checker.Check(context.Background(), in, mustCheckers(t))
	judge(context.Background(), rep, in, base, checker.Options{CheckTimeout: 10 * time.Second}, allSpaces())
	if rep.OK() {
		t.Fatal("a history without most spaces passed the canary")
	}
	for _, c := range rep.Cells {
		want := NoTarget
		switch {
		case c.Column == "set" && (c.Mutation == "lost-write" || c.Mutation == "phantom-element"),
			c.Mutation == "lost-increment", c.Mutation == "double-increment":
			want = Caught
		}
		if c.Outcome != want {
			t.Errorf("%s × %s: %s, want %s (%s)", c.Mutation, c.Column, c.Outcome, want, c.Detail)
		}
	}
	if !strings.Contains(strings.Join(rep.Baseline.Problems, "\n"), "judged no op of register") {
		t.Errorf("baseline problems %v: want register's unjudged ops named", rep.Baseline.Problems)
	}
	var b bytes.Buffer
	rep.PrintMatrix(&b)
	for _, want := range []string{"mutation", "pipeline-kv", "topology", "slots-open", "NO TARGET", "caught", "lost-write × list-append: NO TARGET"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("matrix lacks %q:\n%s", want, b.String())
		}
	}
}

func allSpaces() []string {
	var names []string
	for _, sp := range history.Spaces() {
		names = append(names, sp.Name)
	}
	return names
}

func mustCheckers(t *testing.T) []checker.Checker {
	t.Helper()
	cs, err := checker.ForWorkloads(allSpaces(), checker.Options{CheckTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestCanaryColumns: every space of the table has a column and every
// mutation plants only in known columns, so that a new workload shows up
// in the matrix as a column with its judged ops.
func TestCanaryColumns(t *testing.T) {
	known := map[string]bool{TopologyColumn: true}
	for _, sp := range history.Spaces() {
		known[sp.Name] = true
	}
	planted := map[string]bool{}
	for _, m := range Mutations() {
		if len(m.Columns) == 0 || m.plant == nil || m.Does == "" {
			t.Errorf("mutation %s: incomplete", m.Name)
		}
		for _, c := range m.Columns {
			if !known[c] {
				t.Errorf("mutation %s: column %q is no key space", m.Name, c)
			}
			planted[c] = true
		}
	}
	for c := range known {
		if !planted[c] {
			t.Errorf("no mutation plants in %s: nothing proves its checker sees", c)
		}
	}
}

func TestWithout(t *testing.T) {
	r := func(a, b int) topology.SlotRange { return topology.SlotRange{Start: a, End: b} }
	for _, tc := range []struct {
		in   []topology.SlotRange
		cut  topology.SlotRange
		want []topology.SlotRange
	}{
		{[]topology.SlotRange{r(0, 5460)}, r(0, 9), []topology.SlotRange{r(10, 5460)}},
		{[]topology.SlotRange{r(0, 100)}, r(50, 59), []topology.SlotRange{r(0, 49), r(60, 100)}},
		{[]topology.SlotRange{r(0, 9), r(20, 30)}, r(0, 9), []topology.SlotRange{r(20, 30)}},
		{[]topology.SlotRange{r(20, 30)}, r(0, 9), []topology.SlotRange{r(20, 30)}},
	} {
		if got := without(tc.in, tc.cut); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("without(%v, %v) = %v, want %v", tc.in, tc.cut, got, tc.want)
		}
	}
}

// TestCaughtAs: a planted anomaly counts as caught only in an invalid
// result of its checker's kind that reports it.
func TestCaughtAs(t *testing.T) {
	caught := caughtAs("set", func(sr *checker.SetResult) string {
		if sr.Lost == 1 {
			return ""
		}
		return "not reported"
	})
	for _, tc := range []struct {
		r    checker.Result
		want string
	}{
		{&checker.CounterResult{Valid: checker.False}, "not a set result: *checker.CounterResult"},
		{&checker.SetResult{Valid: checker.True, Lost: 1}, "verdict valid"},
		{&checker.SetResult{Valid: checker.False}, "not reported"},
		{&checker.SetResult{Valid: checker.False, Lost: 1}, ""},
	} {
		if got := caught(tc.r); got != tc.want {
			t.Errorf("%T %+v: %q, want %q", tc.r, tc.r, got, tc.want)
		}
	}
}
