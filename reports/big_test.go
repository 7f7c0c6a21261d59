package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// bigRun writes a synthetic run of ops operations over span: a register
// and set mix with fails and timeouts, a partition every 30 s, topology
// samples every 250 ms with a failover in the middle, and a results.json
// with every list of evidence full (checker.MaxListed).
func bigRun(t testing.TB, dir string, ops int, span time.Duration) {
	f, err := os.Create(filepath.Join(dir, checker.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	idx := int64(0)
	emit := func(o history.Op) {
		o.Index = idx
		idx++
		buf = history.AppendJSON(buf[:0], o)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	step := int64(span) / int64(ops)
	nextFault, action := int64(5e9), int64(0)
	const workers = 32
	procs := make([]int, workers)
	for i := range procs {
		procs[i] = i
	}
	nextProc := workers
	nodes := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
	for i := 0; i < ops; i++ {
		at := int64(i) * step
		if at >= nextFault {
			v := map[string]any{"action": action, "target": "primaries", "nodes": []any{nodes[action%3]}, "fault": fmt.Sprintf("partition [%s] | [rest]", nodes[action%3])}
			emit(history.Op{Time: at, Process: -1, Type: history.Info, F: "partition", Value: v})
			emit(history.Op{Time: at + 10e9, Process: -1, Type: history.Info, F: "partition", Value: map[string]any{"action": action, "heal": true}})
			nextFault += 30e9
			action++
		}
		slot := i % workers
		p := procs[slot]
		h := uint64(i) * 0x9E3779B97F4A7C15
		lat := int64(200e3 + h%2e6)
		if h%1000 == 0 {
			lat = int64(h % 2e9)
		}
		key := fmt.Sprintf("{register:%d}", i%97)
		fn := []string{"read", "write", "cas", "add"}[h>>8%4]
		var v any = int64(i % 5)
		if fn == "add" {
			key = fmt.Sprintf("{set:%d}", i%13)
			v = int64(i)
		}
		if fn == "cas" {
			v = []any{int64(i % 5), int64((i + 1) % 5)}
		}
		if fn == "read" {
			v = nil
		}
		emit(history.Op{Time: at, Process: p, Type: history.Invoke, F: fn, Key: key, Value: v})
		done := history.Op{Time: at + lat, Process: p, Type: history.OK, F: fn, Key: key, Value: v, Node: nodes[h>>16%3]}
		switch h >> 20 % 100 {
		case 0, 1, 2:
			done.Type, done.Error = history.Fail, []string{"MOVED 3999 127.0.0.1:7002", "CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys request during rehashing of slot"}[h>>28%3]
		case 3:
			done.Type, done.Error = history.Info, "i/o timeout"
			procs[slot] = nextProc
			nextProc++
		case 4:
			done.Redirects = 1
		}
		if fn == "read" && done.Type == history.OK {
			done.Value = int64(i % 5)
		}
		emit(done)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tf, err := os.Create(filepath.Join(dir, checker.TopologyFile))
	if err != nil {
		t.Fatal(err)
	}
	tw := bufio.NewWriter(tf)
	enc := json.NewEncoder(tw)
	ranges := []history.SlotRange{{Start: 0, End: 5460}, {Start: 5461, End: 10922}, {Start: 10923, End: 16383}}
	for at := int64(0); at < int64(span); at += 250e6 {
		var s history.Sample
		s.Time = at
		owners := map[string][]history.SlotRange{}
		for m := range 3 {
			owners[fmt.Sprintf("m%d", m)] = []history.SlotRange{ranges[m]}
		}
		for m := range 3 {
			master, replica := fmt.Sprintf("127.0.0.1:700%d", m+1), fmt.Sprintf("127.0.0.1:700%d", m+4)
			if m == 0 && at > int64(span)/2 {
				master, replica = replica, master
			}
			s.Nodes = append(s.Nodes,
				history.SampleNode{Addr: master, ID: fmt.Sprintf("m%d", m), Role: "master", Epoch: int64(m + 1), Slots: []history.SlotRange{ranges[m]}, Owners: owners, State: "ok"},
				history.SampleNode{Addr: replica, ID: fmt.Sprintf("r%d", m), Role: "replica", MasterID: fmt.Sprintf("m%d", m), Epoch: int64(m + 1), Owners: owners, State: "ok", LinkStatus: "up"})
		}
		enc.Encode(s)
	}
	tw.Flush()
	tf.Close()

	ref := func(i int64, node string) *checker.OpRef {
		return &checker.OpRef{Index: i, Complete: i + 1, Process: 3, Type: "ok", F: "add", Key: "{set:1}", Value: i, Node: node, Time: i * step, End: i*step + 1e6}
	}
	set := checker.SetResult{Valid: checker.False, Reason: "lots lost", Keys: 13, Lost: 5000}
	lin := checker.LinearizableResult{Valid: checker.False, InvalidCount: 300, Models: map[string]int{"register": 97}}
	for i := range checker.MaxListed {
		set.LostElements = append(set.LostElements, checker.SetElement{Key: fmt.Sprintf("{set:%d}", i%13), Element: int64(i), Add: ref(int64(i*1000), nodes[i%3])})
		lin.InvalidKeys = append(lin.InvalidKeys, fmt.Sprintf("{register:%d}", i))
	}
	for i := range 10 {
		v := checker.LinearizabilityViolation{Key: fmt.Sprintf("{register:%d}", i), Model: "register", Ops: 10000, Linearized: 5000, State: "3"}
		for k := range 5 {
			v.Last = append(v.Last, *ref(int64(i*100+k), nodes[k%3]))
		}
		for k := range 10 {
			v.Stuck = append(v.Stuck, *ref(int64(i*100+50+k), nodes[k%3]))
		}
		lin.Failures = append(lin.Failures, v)
	}
	slots := checker.SlotsResult{Valid: checker.True, Samples: int(int64(span) / 250e6), WindowCount: 400}
	for i := range checker.MaxListed {
		slots.Windows = append(slots.Windows, checker.SlotWindow{Start: int64(i) * 1e9, End: int64(i)*1e9 + 5e8, Samples: 2, Disagreeing: []string{"127.0.0.1:7001"}})
	}
	res := map[string]any{"valid": false, "checkers": map[string]any{"set": set, "linearizable": lin, "slots": slots},
		"stats": map[string]any{"valid": true, "ops": ops, "span_s": span.Seconds()}, "expected": map[string]any{"checkers": map[string]bool{}, "met": false, "failures": []string{"set: invalid, expected valid"}}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMillionOpReport bounds the report of a 1,000,000-op run: index.html
// at most 10 MB, written in little time and memory. It takes about 5 s
// and is skipped with -short.
func TestMillionOpReport(t *testing.T) {
	if testing.Short() {
		t.Skip("a 1,000,000-op run takes about 5 s and 250 MB of disk; skipped with -short")
	}
	dir := t.TempDir()
	start := time.Now()
	bigRun(t, dir, 1_000_000, 10*time.Minute)
	st, _ := os.Stat(filepath.Join(dir, checker.HistoryFile))
	t.Logf("generated %d MB of history in %s", st.Size()>>20, time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start = time.Now()
	err := Write(dir)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	page, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var plots []string
	for _, p := range allPlots {
		if st, err := os.Stat(filepath.Join(dir, p)); err == nil {
			plots = append(plots, fmt.Sprintf("%s %d KB", p, st.Size()>>10))
		} else {
			t.Errorf("plot %s: %v", p, err)
		}
	}
	t.Logf("report in %s, peak heap %d MB: index.html %d KB; %s", took.Round(time.Millisecond), peak.Load()>>20, len(page)>>10, strings.Join(plots, ", "))
	if len(page) > 10<<20 {
		t.Errorf("index.html is %d bytes, want at most 10 MB", len(page))
	}
	if peak.Load() > 512<<20 {
		t.Errorf("peak heap %d MB while writing the report: it should stream", peak.Load()>>20)
	}
	txt := text(string(page))
	mustContain(t, "the page", txt, "1000000 ops", "(1 in ", "plus the slowest op", "400 windows in all; results.json lists the first 100.",
		"5000 lost in all; results.json lists the first 100.", "groups of lost elements are explained", "Keys not linearizable (300; the first 10 are explained)")
}
