package checker

import (
	"bufio"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// porcupine's module ships its labelled corpus in test_data/: Jepsen's etcd
// register histories and kv histories, with the expected verdicts in its
// own tests. These tests read them from the module cache, convert them to
// our history contract at test time, and check them with our checker and
// with a plain porcupine model side by side. Nothing of them is copied
// here.

// corpusHistory is one labelled history of porcupine's corpus.
type corpusHistory struct {
	name, path string
	kv         bool // kv log; else a Jepsen etcd register log
	valid      bool // the label
}

// porcupineCorpus finds the corpus in the module cache, or skips.
func porcupineCorpus(tb testing.TB) []corpusHistory {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/anishathalye/porcupine").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		tb.Skipf("porcupine's module is not in the module cache (go list: %v)", err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "porcupine_test.go"))
	if err != nil {
		tb.Skipf("porcupine's module has no porcupine_test.go to read the labels from: %v", err)
	}
	var hs []corpusHistory
	for _, m := range regexp.MustCompile(`checkJepsen\(t, (\d+), (true|false)\)`).FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[1])
		name := fmt.Sprintf("etcd_%03d", n)
		hs = append(hs, corpusHistory{name: name, path: filepath.Join(dir, "test_data", "jepsen", name+".log"), valid: m[2] == "true"})
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`checkKv\(t, "([^"]+)", (true|false), true\)`).FindAllStringSubmatch(string(src), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			hs = append(hs, corpusHistory{name: "kv-" + m[1], path: filepath.Join(dir, "test_data", "kv", m[1]+".txt"), kv: true, valid: m[2] == "true"})
		}
	}
	if len(hs) < 100 {
		tb.Fatalf("porcupine's tests label %d histories; expected its etcd and kv corpus (over 100)", len(hs))
	}
	for _, h := range hs {
		if _, err := os.Stat(h.path); err != nil {
			tb.Skipf("porcupine's module lacks its test_data: %v", err)
		}
	}
	// HARNESS_CORPUS picks the histories whose name holds it (kv-c50-bad).
	if pick := os.Getenv("HARNESS_CORPUS"); pick != "" {
		var some []corpusHistory
		for _, h := range hs {
			if strings.Contains(h.name, pick) {
				some = append(some, h)
			}
		}
		hs = some
	}
	return hs
}

// jepsenLine is one line of a Jepsen etcd log: "INFO  jepsen.util - 3	:ok	:read	4".
var jepsenLine = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*)$`)

// kvLine is one line of a kv log: {:process 2, :type :ok, :f :get, :key "0", :value "x 0 0 y"}.
var kvLine = regexp.MustCompile(`^\{:process (\d+), :type :(\w+), :f :(\w+), :key "(.*?)", :value (nil|"(.*)")\}$`)

// convertCorpus turns a corpus log into our history contract: one record
// per line, 1 ms apart. A Jepsen process that saw info goes on under a
// fresh process id, as our contract wants; a read that timed out is info,
// a cas that found another value fail with error cas-mismatch, and an
// invoke with no completion is left so, which Pair reads as info.
func convertCorpus(tb testing.TB, h corpusHistory) []history.Op {
	tb.Helper()
	f, err := os.Open(h.path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var ops []history.Op
	ids := map[int]int{} // Jepsen's process → ours
	next := 0
	proc := func(p int) int {
		id, ok := ids[p]
		if !ok {
			id = next
			next++
			ids[p] = id
		}
		return id
	}
	pending := map[int]history.Op{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var p int
		var typ, fn, key string
		var val any
		if h.kv {
			m := kvLine.FindStringSubmatch(sc.Text())
			if m == nil {
				tb.Fatalf("%s:%d: not a kv record: %q", h.path, line, sc.Text())
			}
			p, _ = strconv.Atoi(m[1])
			typ, fn, key = m[2], m[3], "k"+m[4]
			if m[5] != "nil" {
				val = m[6]
			}
		} else {
			m := jepsenLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue // log lines of no op
			}
			p, _ = strconv.Atoi(m[1])
			typ, fn, key = m[2], m[3], "r"
			switch arg := strings.TrimSpace(m[4]); {
			case arg == "nil", arg == ":timed-out":
			case strings.HasPrefix(arg, "["):
				var a, b int64
				if _, err := fmt.Sscanf(arg, "[%d %d]", &a, &b); err != nil {
					tb.Fatalf("%s:%d: cas value %q", h.path, line, arg)
				}
				val = []any{a, b}
			default:
				n, err := strconv.ParseInt(arg, 10, 64)
				if err != nil {
					tb.Fatalf("%s:%d: value %q", h.path, line, arg)
				}
				val = n
			}
		}
		o := history.Op{Index: int64(len(ops)), Time: int64(line) * 1e6, Process: proc(p), F: fn, Key: key, Value: val}
		switch typ {
		case "invoke":
			o.Type = history.Invoke
			pending[p] = o
		case "ok":
			o.Type = history.OK
		case "fail":
			o.Type = history.Fail
			switch {
			case fn == "cas":
				o.Error = "cas-mismatch"
			case strings.Contains(sc.Text(), ":timed-out"):
				o.Type, o.Error = history.Info, "timed-out"
			}
		case "info":
			o.Type, o.Error = history.Info, "timed-out"
		default:
			tb.Fatalf("%s:%d: type %q", h.path, line, typ)
		}
		if o.Type != history.Invoke {
			inv := pending[p]
			delete(pending, p)
			if o.Type != history.OK || fn != "read" && fn != "get" {
				o.Value = inv.Value // what was asked; a read's completion has what was read
			}
			if o.Type == history.Info {
				delete(ids, p) // Jepsen's rule: never again under this id
			}
		}
		ops = append(ops, o)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return ops
}

// writeCorpusRun writes a converted history into a run directory.
func writeCorpusRun(tb testing.TB, dir string, ops []history.Op) {
	tb.Helper()
	var b []byte
	for _, o := range ops {
		b = history.AppendJSON(b, o)
		b = append(b, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, HistoryFile), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// corpusOurs checks a run directory as `harness check --workload` does.
func corpusOurs(tb testing.TB, dir string, h corpusHistory) *LinearizableResult {
	tb.Helper()
	in, err := Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	w := "register"
	if h.kv {
		w = "kv"
	}
	c := &Linearizable{Workloads: []string{w}, Options: Options{Only: w, CheckTimeout: time.Minute}}
	return c.Check(context.Background(), in).(*LinearizableResult)
}

// plainCorpusOp is a corpus op as a plain porcupine model reads it.
type plainCorpusOp struct {
	key, f        string
	a, b          int64 // write value, cas old/new, read value (a)
	s             string
	null, unknown bool // read of nil; outcome unknown
	casOK         bool
}

// plainCorpusCheck is porcupine on the raw log with a plain model of the
// log's own terms, partitioned by key: what porcupine's own tests do.
func plainCorpusCheck(tb testing.TB, h corpusHistory) porcupine.CheckResult {
	tb.Helper()
	f, err := os.Open(h.path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	type open struct {
		op   *plainCorpusOp
		call int64
	}
	pending := map[int]open{}
	var ops []porcupine.Operation
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var t int64
	for sc.Scan() {
		t++
		var p int
		var typ string
		var in plainCorpusOp
		if h.kv {
			m := kvLine.FindStringSubmatch(sc.Text())
			p, _ = strconv.Atoi(m[1])
			typ, in.f, in.key, in.s = m[2], m[3], m[4], m[6]
		} else {
			m := jepsenLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			p, _ = strconv.Atoi(m[1])
			typ, in.f = m[2], m[3]
			arg := strings.TrimSpace(m[4])
			switch {
			case arg == "nil":
				in.null = true
			case arg == ":timed-out":
				in.unknown = true
			case strings.HasPrefix(arg, "["):
				fmt.Sscanf(arg, "[%d %d]", &in.a, &in.b)
			default:
				in.a, _ = strconv.ParseInt(arg, 10, 64)
			}
		}
		if typ == "invoke" {
			c := in
			pending[p] = open{op: &c, call: t}
			continue
		}
		o := pending[p]
		delete(pending, p)
		switch {
		case typ == "info" || in.unknown:
			o.op.unknown = true
		case typ == "fail":
			o.op.casOK = false
		case o.op.f == "cas":
			o.op.casOK = true
		case o.op.f == "read":
			o.op.a, o.op.null = in.a, in.null
		case o.op.f == "get":
			o.op.s = in.s
		}
		ret := t
		if typ == "info" {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: p, Input: o.op, Call: o.call, Return: ret})
	}
	for p, o := range pending {
		o.op.unknown = true
		ops = append(ops, porcupine.Operation{ClientId: p, Input: o.op, Call: o.call, Return: math.MaxInt64})
	}
	const null = math.MinInt64
	model := porcupine.Model{
		Partition: func(hs []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			for _, op := range hs {
				k := op.Input.(*plainCorpusOp).key
				by[k] = append(by[k], op)
			}
			var out [][]porcupine.Operation
			for _, p := range by {
				out = append(out, p)
			}
			return out
		},
		Hash: func(state any) uint64 {
			if s, ok := state.(string); ok {
				return maphash.String(plainSeed, s)
			}
			return uint64(state.(int64))
		},
		Init: func() any {
			if h.kv {
				return ""
			}
			return int64(null)
		},
		Step: func(state, input, _ any) (bool, any) {
			in := input.(*plainCorpusOp)
			switch in.f {
			case "read":
				v := in.a
				if in.null {
					v = null
				}
				return in.unknown || state.(int64) == v, state
			case "write":
				return true, in.a
			case "cas":
				match := state.(int64) == in.a
				next := state
				if match {
					next = in.b
				}
				return in.unknown || match == in.casOK, next
			case "get":
				return in.unknown || state.(string) == in.s, state
			case "put":
				return true, in.s
			case "append":
				return true, state.(string) + in.s
			}
			return false, state
		},
	}
	return porcupine.CheckOperationsTimeout(model, ops, time.Minute)
}

var plainSeed = maphash.MakeSeed()

// corpusRun is one history checked both ways.
type corpusRun struct {
	h            corpusHistory
	ours         *LinearizableResult
	oursT, plain time.Duration
	plainV       porcupine.CheckResult
	peak         int64
}

func runCorpus(tb testing.TB, hs []corpusHistory) []corpusRun {
	var runs []corpusRun
	for _, h := range hs {
		dir := tb.TempDir()
		writeCorpusRun(tb, dir, convertCorpus(tb, h))
		// HARNESS_CORPUS_OUT keeps the converted histories, one run
		// directory each, for `harness check DIR --workload kv|register`.
		if out := os.Getenv("HARNESS_CORPUS_OUT"); out != "" {
			keep := filepath.Join(out, h.name)
			if err := os.MkdirAll(keep, 0o755); err != nil {
				tb.Fatal(err)
			}
			writeCorpusRun(tb, keep, convertCorpus(tb, h))
		}
		start := time.Now()
		ours := corpusOurs(tb, dir, h)
		oursT := time.Since(start)
		peak := max(ours.PeakMemory, currentMem().held)
		start = time.Now()
		plain := plainCorpusCheck(tb, h)
		runs = append(runs, corpusRun{h: h, ours: ours, oursT: oursT, plain: time.Since(start), plainV: plain, peak: peak})
	}
	return runs
}

// TestPorcupineCorpus: our checker gives every labelled history of
// porcupine's corpus its label, as a plain porcupine model does, within
// the memory goal; each failing key's witness is illegal and 1-minimal.
func TestPorcupineCorpus(t *testing.T) {
	hs := porcupineCorpus(t)
	if testing.Short() {
		hs = hs[len(hs)-8:] // a few etcd histories and the kv ones
	}
	witnesses, minimal, invalid, explained := 0, 0, 0, 0
	for _, r := range runCorpus(t, hs) {
		want := True
		if !r.h.valid {
			want = False
		}
		if r.ours.Valid != want {
			t.Errorf("%s: ours %v, labelled %v (%s)", r.h.name, r.ours.Valid, want, r.ours.Reason)
		}
		if (r.plainV == porcupine.Ok) != r.h.valid || r.plainV == porcupine.Unknown {
			t.Errorf("%s: plain porcupine %v, labelled valid=%v", r.h.name, r.plainV, r.h.valid)
		}
		if r.peak > 1<<30 {
			t.Errorf("%s: peak memory %s, goal at most 1 GiB", r.h.name, SizeText(r.peak))
		}
		if r.ours.Valid != False {
			continue
		}
		invalid++
		if len(r.ours.Failures) == 0 {
			t.Errorf("%s: invalid with no failure explained", r.h.name)
			continue
		}
		dir := t.TempDir()
		writeCorpusRun(t, dir, convertCorpus(t, r.h))
		in, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		w := "register"
		if r.h.kv {
			w = "kv"
		}
		c := &Linearizable{Workloads: []string{w}, Options: Options{Only: w}}
		small := false
		for _, f := range r.ours.Failures {
			assertWitness(t, c, in, f)
			witnesses++
			t.Logf("%s %s: witness of %d ops, minimal %v", r.h.name, f.Key, len(f.Witness), f.WitnessMinimal)
			if f.WitnessMinimal {
				minimal++
				small = small || len(f.Witness) <= 10
			} else {
				t.Logf("%s %s: witness of %d ops: %s", r.h.name, f.Key, len(f.Witness), f.WitnessNote)
			}
		}
		switch {
		case small:
			explained++
		case r.h.name == "kv-c50-bad":
			t.Errorf("%s: no failing key has a minimal witness of at most 10 ops", r.h.name)
		default:
			t.Logf("%s: no failing key has a minimal witness of at most 10 ops", r.h.name)
		}
	}
	// Every witness is sound (above); minimality is the shrink's goal
	// within its budget, met for most histories (measured here: 72 of 82;
	// the others' last removals stayed undecided within their check's
	// share of the budget).
	if explained*10 < invalid*8 {
		t.Errorf("%d of %d invalid histories have a minimal witness of at most 10 ops; want 80%%", explained, invalid)
	}
	t.Logf("%d histories, %d invalid, %d with a minimal witness of at most 10 ops; %d witnesses checked, %d of them minimal", len(hs), invalid, explained, witnesses, minimal)
}

// BenchmarkPorcupineCorpus checks porcupine's labelled corpus with our
// checker (Load and Check: verdict and witnesses) and with a plain
// porcupine model on the raw log, side by side, and prints per-history
// times and ratios against the goal (ours ≤ 2× plain + 0.5 s, ≤ 1 GiB),
// for the verdict (load and search) and for the whole check (with the
// witnesses' shrinking) apart.
func BenchmarkPorcupineCorpus(b *testing.B) {
	hs := porcupineCorpus(b)
	var ours, verdict, plain time.Duration
	worst, over, overVerdict := 0.0, 0, 0
	var peak int64
	for range b.N {
		runs := runCorpus(b, hs)
		sort.Slice(runs, func(i, j int) bool { return runs[i].oursT > runs[j].oursT })
		for _, r := range runs {
			v := r.oursT - time.Duration(r.ours.ExplainS*float64(time.Second))
			ours += r.oursT
			verdict += v
			plain += r.plain
			ratio := v.Seconds() / max(r.plain.Seconds(), 1e-6)
			worst = max(worst, ratio)
			peak = max(peak, r.peak)
			goalV := v <= 2*r.plain+500*time.Millisecond && r.peak <= 1<<30
			goal := r.oursT <= 2*r.plain+500*time.Millisecond && r.peak <= 1<<30
			if !goal {
				over++
			}
			if !goalV {
				overVerdict++
			}
			b.Logf("%-12s %-7v verdict %7.3f s  with witnesses %7.3f s  plain %7.3f s  verdict/plain %7.2f  peak %7s  witness ops %v  goal: verdict %v, whole %v",
				r.h.name, r.ours.Valid, v.Seconds(), r.oursT.Seconds(), r.plain.Seconds(), ratio, SizeText(r.peak), witnessSizes(r.ours), goalV, goal)
		}
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "ours-s")
	b.ReportMetric(verdict.Seconds()/n, "verdict-s")
	b.ReportMetric(plain.Seconds()/n, "plain-s")
	b.ReportMetric(worst, "worst-verdict-ratio")
	b.ReportMetric(float64(overVerdict)/n, "verdict-over-goal")
	b.ReportMetric(float64(over)/n, "whole-over-goal")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(0, "ns/op")
}

func witnessSizes(r *LinearizableResult) []int {
	var out []int
	for _, f := range r.Failures {
		out = append(out, len(f.Witness))
	}
	return out
}
