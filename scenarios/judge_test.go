package scenarios

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/workloads"
)

// TestJudgeBoundsOutputs: a history whose records hold 50 MB values (a set
// element lost, a kv value read stale, an error text, a key) makes
// results.json, junit.xml and index.html of at most 10 MB each, the values
// cut and their lengths said. The history is made here, not committed.
func TestJudgeBoundsOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: writes and judges a 300 MB history")
	}
	const size = 50 << 20
	big := strings.Repeat("v", size)
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, history.File))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var index int64
	rec := func(time int64, process int, typ history.Type, fn, key string, value any, errText string) {
		b := history.AppendJSON(nil, history.Op{Index: index, Time: time, Process: process, Type: typ, F: fn, Key: key, Value: value, Error: errText})
		w.Write(append(b, '\n'))
		index++
	}
	// A set add acknowledged, then a final read without it: lost.
	rec(1, 0, history.Invoke, "add", "{set:0}", big, "")
	rec(2, 0, history.OK, "add", "{set:0}", big, "")
	rec(3, 1, history.Invoke, "read", "{set:0}", nil, "")
	rec(4, 1, history.OK, "read", "{set:0}", []any{}, "")
	// A kv put, then a read of another value: not linearizable.
	rec(5, 2, history.Invoke, "put", "{kv:0}", big, "")
	rec(6, 2, history.OK, "put", "{kv:0}", big, "")
	rec(7, 3, history.Invoke, "get", "{kv:0}", nil, "")
	rec(8, 3, history.OK, "get", "{kv:0}", "other", "")
	// A failed put with a huge error text, on a huge key.
	rec(9, 4, history.Invoke, "put", "{kv:1}"+big[:size/5], "a", "")
	rec(10, 4, history.Fail, "put", "{kv:1}"+big[:size/5], "a", big)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := &Scenario{Name: "big", Client: workloads.Config{Workloads: []workloads.Spec{{Name: "set"}, {Name: "kv"}}}}
	if err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	out, err := Judge(context.Background(), dir, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.Report.Checkers["set"].Verdict().String() != "invalid" || out.Report.Checkers["linearizable"].Verdict().String() != "invalid" {
		t.Errorf("the planted anomalies were not found: set %s, linearizable %s", out.Report.Checkers["set"].Verdict(), out.Report.Checkers["linearizable"].Verdict())
	}
	for _, name := range []string{"results.json", "junit.xml", "index.html"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", name, st.Size())
		if st.Size() > 10<<20 {
			t.Errorf("%s is %d bytes, over 10 MB", name, st.Size())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if !json.Valid(b) || !strings.Contains(string(b), "…(52428800 bytes)") {
		t.Errorf("results.json does not say what was cut: %.1000s", b)
	}
}
