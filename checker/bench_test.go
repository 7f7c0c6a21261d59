package checker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/redis-harness/harness/checker/history"
)

// registerGen describes a generated register history.
type registerGen struct {
	Records   int     // history records to write (invokes and completions)
	Keys      int     // register keys
	Processes int     // concurrent client processes
	InfoRate  float64 // fraction of ops that end in info
	Seed      uint64
	// Corrupt, when > 0, makes that fraction of ok reads return a value
	// the register never held at the time (a stale or invented read);
	// only reads taking effect at record CorruptAfter or later.
	Corrupt      float64
	CorruptAfter int
}

// writeRegisterHistory writes a register history to w: processes invoke
// read/write/cas on random keys and each op takes effect at a random
// moment between its invocation and its completion (or, for an info op,
// maybe), so that the history is linearizable unless Corrupt is set. The same description always gives the same file.
func writeRegisterHistory(w *bufio.Writer, g registerGen) error {
	rng := rand.New(rand.NewPCG(g.Seed, 7))
	type pending struct {
		proc     int
		key      int
		f        string
		value    any
		old, new int64
		busy     bool
		// effected: the op has taken effect (result is what it returns)
		effected, info, mismatch bool
		result                   any
	}
	state := make([]int64, g.Keys)
	for i := range state {
		state[i] = regNil
	}
	slots := make([]pending, g.Processes)
	for i := range slots {
		slots[i].proc = i
	}
	nextProc, nextVal := g.Processes, int64(1)
	t := int64(1000)
	var buf []byte
	emit := func(o history.Op) error {
		buf = history.AppendJSON(buf[:0], o)
		buf = append(buf, '\n')
		_, err := w.Write(buf)
		return err
	}
	regJSON := func(v int64) any {
		if v == regNil {
			return nil
		}
		return v
	}
	for idx := int64(0); idx < int64(g.Records); {
		t += 1 + rng.Int64N(2000)
		s := &slots[rng.IntN(len(slots))]
		key := fmt.Sprintf("{register:%d}", s.key)
		if !s.busy {
			s.busy, s.effected = true, false
			s.key = rng.IntN(g.Keys)
			key = fmt.Sprintf("{register:%d}", s.key)
			switch r := rng.Float64(); {
			case r < 0.5:
				s.f, s.value = "read", nil
			case r < 0.8:
				s.f, s.value = "write", nextVal
				s.new = nextVal
				nextVal++
			default:
				s.old = state[s.key]
				if rng.IntN(2) == 0 || s.old == regNil {
					s.old = rng.Int64N(nextVal) + 1
				}
				s.new = nextVal
				nextVal++
				s.f, s.value = "cas", []any{s.old, s.new}
			}
			if err := emit(history.Op{Index: idx, Time: t, Process: s.proc, Type: history.Invoke, F: s.f, Key: key, Value: s.value}); err != nil {
				return err
			}
			idx++
			continue
		}
		if !s.effected {
			// The op takes effect now, between its invocation and its
			// completion: ops of one key complete in another order than
			// they took effect, as on a real server.
			s.effected = true
			s.info = rng.Float64() < g.InfoRate
			apply := !s.info || rng.IntN(2) == 0
			s.result, s.mismatch = s.value, false
			switch s.f {
			case "read":
				v := state[s.key]
				if g.Corrupt > 0 && idx >= int64(g.CorruptAfter) && rng.Float64() < g.Corrupt {
					v = nextVal + 1000 // never written
				}
				s.result = regJSON(v)
			case "write":
				if apply {
					state[s.key] = s.new
				}
			case "cas":
				if state[s.key] != s.old {
					s.mismatch = true
				} else if apply {
					state[s.key] = s.new
				}
			}
			continue
		}
		s.busy = false
		done := history.Op{Index: idx, Time: t, Process: s.proc, Type: history.OK, F: s.f, Key: key, Value: s.result,
			Node: fmt.Sprintf("10.0.0.%d:6379", 2+s.key%3)}
		if s.mismatch {
			done.Type, done.Error = history.Fail, "cas-mismatch"
		}
		if s.info {
			done.Type, done.Error, done.Value = history.Info, "i/o timeout", s.value
			s.proc = nextProc // Jepsen's rule: a process that saw info never returns
			nextProc++
		}
		if err := emit(done); err != nil {
			return err
		}
		idx++
	}
	return nil
}

func writeRegisterFile(tb testing.TB, dir string, g registerGen) string {
	tb.Helper()
	path := filepath.Join(dir, HistoryFile)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := writeRegisterHistory(w, g); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ourCheck is the harness's path: Load (history.Read into a slice sized
// from the line count, Pair) and the linearizable checker.
func ourCheck(tb testing.TB, dir string, timeout time.Duration) *LinearizableResult {
	return ourCheckWith(tb, dir, Options{CheckTimeout: timeout})
}

func ourCheckWith(tb testing.TB, dir string, opts Options) *LinearizableResult {
	in, err := Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Linearizable{Workloads: []string{"register"}, Options: opts}
	return c.Check(context.Background(), in).(*LinearizableResult)
}

// readFileCheck is the same with history.ReadFile, which grows its slice.
func readFileCheck(tb testing.TB, path string, timeout time.Duration) *LinearizableResult {
	ops, _, err := history.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Linearizable{Workloads: []string{"register"}, Options: Options{CheckTimeout: timeout}}
	return c.Check(context.Background(), &Input{Ops: ops, Operations: pairs}).(*LinearizableResult)
}

// plainRecord is the record as a plain wrapper decodes it.
type plainRecord struct {
	Index   int64  `json:"index"`
	Time    int64  `json:"time"`
	Process int    `json:"process"`
	Type    string `json:"type"`
	F       string `json:"f"`
	Key     string `json:"key"`
	Value   any    `json:"value"`
	Error   string `json:"error"`
	Node    string `json:"node"`
}

type plainInput struct {
	key   string
	f     string
	value any
	info  bool
	fail  bool
}

// plainCheck is the straightforward alternative: encoding/json into a
// struct with Value any, pairing by process, and one porcupine call with a
// register model partitioned by key.
func plainCheck(tb testing.TB, path string) porcupine.CheckResult {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	open := map[int]plainRecord{}
	var ops []porcupine.Operation
	for sc.Scan() {
		var r plainRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		if r.Type == "invoke" {
			open[r.Process] = r
			continue
		}
		inv := open[r.Process]
		delete(open, r.Process)
		in := &plainInput{key: inv.Key, f: inv.F, value: inv.Value, info: r.Type == "info", fail: r.Type == "fail"}
		ret := r.Time
		switch {
		case r.Type == "info" && r.F == "read", r.Type == "fail" && r.Error != "cas-mismatch":
			continue
		case r.Type == "info":
			ret = math.MaxInt64
		case r.F == "read":
			in.value = r.Value
		}
		ops = append(ops, porcupine.Operation{ClientId: r.Process, Input: in, Call: inv.Time, Output: in, Return: ret})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	for _, inv := range open {
		if inv.F != "read" {
			ops = append(ops, porcupine.Operation{ClientId: inv.Process, Input: &plainInput{key: inv.Key, f: inv.F, value: inv.Value, info: true}, Call: inv.Time, Return: math.MaxInt64})
		}
	}
	model := porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			var order []string
			for _, op := range h {
				k := op.Input.(*plainInput).key
				if _, ok := by[k]; !ok {
					order = append(order, k)
				}
				by[k] = append(by[k], op)
			}
			out := make([][]porcupine.Operation, 0, len(order))
			for _, k := range order {
				out = append(out, by[k])
			}
			return out
		},
		Init: func() any { return nil },
		Step: func(state, input, _ any) (bool, any) {
			in := input.(*plainInput)
			switch in.f {
			case "read":
				return state == in.value, state
			case "write":
				return true, in.value
			case "cas":
				pair := in.value.([]any)
				if in.fail {
					return state != pair[0], state
				}
				if state == pair[0] {
					return true, pair[1]
				}
				return in.info, state
			}
			return false, state
		},
	}
	return porcupine.CheckOperationsTimeout(model, ops, 0)
}

// BenchmarkCheck1M checks a valid register history of a million records
// (1,000 keys, 20 processes) three ways, side by side: (a) the harness's
// path (Load: history.Read and Pair; the linearizable checker, which
// orders most keys of such a history by its walk in time order and
// searches the rest), (b) the same with every key searched (the walk
// off), (c) a plain porcupine wrapper over encoding/json. It reports the
// times, (c)/(a), (c)/(b), the keys (a) ordered without search, and the
// peak RSS during (a) and (b); readfile-s is (a) with history.ReadFile in
// place of Load's presized read.
func BenchmarkCheck1M(b *testing.B) {
	records := 1_000_000
	if s := os.Getenv("HARNESS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &records)
	}
	g := registerGen{Records: records, Keys: 1000, Processes: 20, InfoRate: 0.001, Seed: 1}
	dir := b.TempDir()
	path := writeRegisterFile(b, dir, g)
	if st, err := os.Stat(path); err == nil {
		b.Logf("history: %d records, %.0f MiB", g.Records, float64(st.Size())/(1<<20))
	}
	var ours, search, plain, viaReadFile, oursCPU, searchCPU, plainCPU time.Duration
	var rssOurs, rssSearch float64
	var direct int
	fresh := func() {
		runtime.GC()
		debug.FreeOSMemory()
	}
	b.ResetTimer()
	if !resetPeakRSS() {
		b.Log("cannot reset the peak RSS: the maxrss figures include writing the history")
	}
	for range b.N {
		fresh()
		resetPeakRSS()
		start, cpu := time.Now(), cpuTime()
		res := ourCheck(b, dir, time.Minute)
		ours += time.Since(start)
		oursCPU += cpuTime() - cpu
		if res.Valid != True {
			b.Fatalf("ours: %v (%s)", res.Valid, res.Reason)
		}
		rssOurs = max(rssOurs, peakRSSMiB())
		direct = res.DirectKeys

		fresh()
		resetPeakRSS()
		start, cpu = time.Now(), cpuTime()
		res = ourCheckWith(b, dir, Options{CheckTimeout: time.Minute, searchOnly: true})
		search += time.Since(start)
		searchCPU += cpuTime() - cpu
		if res.Valid != True || res.DirectKeys != 0 {
			b.Fatalf("search: %v (%s), %d keys ordered directly", res.Valid, res.Reason, res.DirectKeys)
		}
		rssSearch = max(rssSearch, peakRSSMiB())

		fresh()
		start, cpu = time.Now(), cpuTime()
		if v := plainCheck(b, path); v != porcupine.Ok {
			b.Fatalf("plain: %v", v)
		}
		plain += time.Since(start)
		plainCPU += cpuTime() - cpu

		fresh()
		start = time.Now()
		if res := readFileCheck(b, path, time.Minute); res.Valid != True {
			b.Fatalf("readfile: %v (%s)", res.Valid, res.Reason)
		}
		viaReadFile += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "ours-s")
	b.ReportMetric(search.Seconds()/n, "search-s")
	b.ReportMetric(plain.Seconds()/n, "plain-s")
	b.ReportMetric(plain.Seconds()/ours.Seconds(), "plain/ours")
	b.ReportMetric(plain.Seconds()/search.Seconds(), "plain/search")
	b.ReportMetric(float64(direct), "keys-ordered-directly")
	b.ReportMetric(oursCPU.Seconds()/n, "ours-cpu-s")
	b.ReportMetric(searchCPU.Seconds()/n, "search-cpu-s")
	b.ReportMetric(plainCPU.Seconds()/n, "plain-cpu-s")
	b.ReportMetric(viaReadFile.Seconds()/n, "readfile-s")
	b.ReportMetric(rssOurs, "ours-maxrss-MiB")
	b.ReportMetric(rssSearch, "search-maxrss-MiB")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS makes the kernel forget the process's peak resident set
// (Linux ≥ 4.0: writing 5 to clear_refs), so that peakRSSMiB measures what
// came after, not the history's generation; false where it cannot.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB is the peak resident set since resetPeakRSS (VmHWM), or,
// where /proc says nothing, the process's peak so far (maxRSSMiB).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kib float64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib); err == nil {
					return kib / 1024
				}
			}
		}
	}
	return maxRSSMiB()
}

// maxRSSMiB is the process's peak resident set size so far.
func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}
