package scenarios

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/workloads"
)

// synth describes a synthetic run: 2 workers, each n register writes.
type synth struct {
	n      int
	extra  int                                // more ops in the run (a longer stream)
	result func(w, i int) (history.Type, any) // completion of worker w's op i
	value  func(w, i int) any                 // invoke value
	nodes  []string                           // the cluster's addresses
	fault  []string                           // nodes of nemesis action 0
	effect int64                              // its effect time
	start  int64                              // when its inject started (0: not recorded)
	// The final read: its process (0: one above every other), time (0:
	// past the time limit) and value (0: 42); recordFinal writes
	// final.json with its process, as runs do.
	finalProc   int
	finalAt     int64
	finalValue  int64
	recordFinal bool
}

func writeRun(t *testing.T, dir string, s synth) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := &Scenario{Name: "synthetic", TimeLimit: 10 * time.Second, Seed: 7,
		Client:  workloads.Config{Concurrency: 2, Workloads: []workloads.Spec{{Name: "register"}}},
		Nemesis: nemesis.Spec{Timeline: []nemesis.Action{{At: time.Second, For: time.Second, Do: "kill"}}}}
	yml, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), yml, 0o644); err != nil {
		t.Fatal(err)
	}
	var topo []byte
	smp := map[string]any{"time": 1}
	var nodes []map[string]any
	for _, a := range s.nodes {
		nodes = append(nodes, map[string]any{"addr": a})
	}
	smp["nodes"] = nodes
	topo, _ = json.Marshal(smp)
	if err := os.WriteFile(filepath.Join(dir, "topology.jsonl"), append(topo, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	hw := history.NewWriter(f, time.Now())
	now := int64(1)
	app := func(op history.Op) {
		op.Time = now
		now += int64(time.Millisecond)
		if _, err := hw.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	inc := []int{0, 0}
	for i := 0; i < s.n+s.extra; i++ {
		if i == 3 {
			v := map[string]any{"action": int64(0), "target": "", "scheduled_ns": int64(time.Second), "nodes": s.fault}
			if s.start != 0 {
				v["started_ns"] = s.start
			}
			if _, err := hw.Append(history.Op{Process: -1, Type: history.Info, F: "kill", Time: s.effect, Value: v}); err != nil {
				t.Fatal(err)
			}
		}
		var procs [2]int
		for w := 0; w < 2; w++ {
			procs[w] = inc[w]*2 + w
			val := any(int64(i*10 + w))
			if s.value != nil {
				val = s.value(w, i)
			}
			app(history.Op{Process: procs[w], Type: history.Invoke, F: "write", Key: "{register:" + string(rune('0'+w)) + "}", Value: val})
		}
		for w := 0; w < 2; w++ {
			typ, val := history.OK, any(int64(i*10+w))
			if s.result != nil {
				typ, val = s.result(w, i)
			}
			op := history.Op{Process: procs[w], Type: typ, F: "write", Key: "{register:" + string(rune('0'+w)) + "}", Value: val}
			if typ == history.Info {
				op.Error = "i/o timeout"
				inc[w]++
			}
			app(op)
		}
	}
	// A final read, past the time limit, by a process above every other.
	now = cmp.Or(s.finalAt, int64(11*time.Second))
	fp := cmp.Or(s.finalProc, max(inc[0]*2, inc[1]*2+1)+1)
	app(history.Op{Process: fp, Type: history.Invoke, F: "read", Key: "{register:0}"})
	app(history.Op{Process: fp, Type: history.OK, F: "read", Key: "{register:0}", Value: cmp.Or(s.finalValue, int64(42))})
	if s.recordFinal {
		if err := writeFinal(dir, workloads.Used{NextProcess: fp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := hw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

var (
	addrsA = []string{"127.0.100.1:6379", "127.0.100.2:6379", "127.0.100.3:6379"}
	addrsB = []string{"127.0.100.11:6379", "127.0.100.12:6379", "127.0.100.13:6379"}
)

func compare(t *testing.T, a, b synth) *ReplayReport {
	t.Helper()
	dir := t.TempDir()
	oa, ob := filepath.Join(dir, "orig"), filepath.Join(dir, "replay")
	writeRun(t, oa, a)
	writeRun(t, ob, b)
	rep, err := CompareRuns(oa, ob)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReplay(ob, rep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ob, ReplayFile)); err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	return rep
}

func TestReplayIdentical(t *testing.T) {
	a := synth{n: 20, nodes: addrsA, fault: []string{addrsA[1]}, effect: int64(time.Second + 5*time.Millisecond)}
	// Other addresses, the same nodes by position; a longer stream.
	b := synth{n: 20, extra: 5, nodes: addrsB, fault: []string{addrsB[1]}, effect: int64(time.Second + 40*time.Millisecond)}
	rep := compare(t, a, b)
	if rep.DeterminismBug || rep.FirstGenerated != nil || rep.FirstResult != nil {
		t.Fatalf("want no divergence, got %+v %+v", rep.FirstGenerated, rep.FirstResult)
	}
	if rep.Ops.Compared != 40 || rep.Ops.Equal != 40 || rep.Ops.Different != 0 || rep.Ops.Original != 40 || rep.Ops.Replay != 50 {
		t.Fatalf("counts %+v", rep.Ops)
	}
	if rep.Ops.FinalOriginal != 1 || rep.Ops.FinalReplay != 1 {
		t.Fatalf("final reads %+v", rep.Ops)
	}
	if rep.Nemesis.FirstDifferent != nil || len(rep.Nemesis.Actions) != 1 || !rep.Nemesis.Actions[0].Same {
		t.Fatalf("nemesis %+v", rep.Nemesis)
	}
	if !strings.Contains(rep.Summary(), "identical over the common prefix") {
		t.Fatal(rep.Summary())
	}
}

// diverging is a run and its replay on other addresses where worker 1's
// op 7 ends in info in the replay: it goes on as a new process, the same
// stream.
func diverging() (a, b synth) {
	a = synth{n: 20, nodes: addrsA, fault: []string{addrsA[0]}, effect: int64(time.Second)}
	b = a
	b.nodes, b.fault = addrsB, []string{addrsB[0]}
	b.result = func(w, i int) (history.Type, any) {
		if w == 1 && i == 7 {
			return history.Info, nil
		}
		return history.OK, int64(i*10 + w)
	}
	return a, b
}

func TestReplayResultDiffers(t *testing.T) {
	a, b := diverging()
	rep := compare(t, a, b)
	if rep.DeterminismBug {
		t.Fatalf("no generated op differs: %+v", rep.FirstGenerated)
	}
	d := rep.FirstResult
	if d == nil || d.Worker != 1 || d.Seq != 7 {
		t.Fatalf("want worker 1 op 7, got %+v", d)
	}
	if d.Original == nil || d.Replay == nil || d.Original.Complete == nil || d.Replay.Complete == nil ||
		d.Original.Complete.Type != history.OK || d.Replay.Complete.Type != history.Info || d.Replay.Complete.Error != "i/o timeout" {
		t.Fatalf("records: %s / %s", recStr(d.Original), recStr(d.Replay))
	}
	if rep.Ops.Different != 1 || rep.Ops.Equal != 39 {
		t.Fatalf("counts %+v", rep.Ops)
	}
}

// TestReplayGzipped: a run dir whose history the soak gzipped compares as
// its plain self, as the original or as the replay (run --replay of a
// soak's run), divergent records included.
func TestReplayGzipped(t *testing.T) {
	a, b := diverging()
	dir := t.TempDir()
	oa, ob := filepath.Join(dir, "orig"), filepath.Join(dir, "replay")
	writeRun(t, oa, a)
	writeRun(t, ob, b)
	want, err := CompareRuns(oa, ob)
	if err != nil {
		t.Fatal(err)
	}
	if want.FirstResult == nil || want.FirstResult.Original == nil || want.FirstResult.Replay == nil {
		t.Fatalf("the plain comparison finds no divergent records: %+v", want.FirstResult)
	}
	for _, d := range []string{oa, ob} {
		if _, err := GzipHistory(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(d, history.File)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s still has its history.jsonl: %v", d, err)
		}
		got, err := CompareRuns(oa, ob)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Errorf("with %s gzipped:\n%s\nwant\n%s", d, gb, wb)
		}
	}
	// A gzipped original cut short is an error that says so.
	gz := filepath.Join(oa, history.GzipFile)
	full, err := os.ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CompareRuns(oa, ob); err == nil || !strings.Contains(err.Error(), "cut short") || !strings.Contains(err.Error(), "original") {
		t.Errorf("a cut original: %v", err)
	}
}

func TestReplayGeneratedDiffers(t *testing.T) {
	a := synth{n: 20, nodes: addrsA, fault: []string{addrsA[0]}, effect: int64(time.Second)}
	b := a
	b.value = func(w, i int) any {
		if w == 0 && i >= 12 {
			return int64(-1)
		}
		return int64(i*10 + w)
	}
	rep := compare(t, a, b)
	if !rep.DeterminismBug || rep.FirstGenerated == nil || rep.FirstGenerated.Worker != 0 || rep.FirstGenerated.Seq != 12 {
		t.Fatalf("want a determinism bug at worker 0 op 12, got %+v", rep.FirstGenerated)
	}
	if rep.FirstGenerated.Replay.Invoke.Value != int64(-1) {
		t.Fatalf("replay record %s", recStr(rep.FirstGenerated.Replay))
	}
	if !strings.Contains(rep.Summary(), "DETERMINISM BUG") {
		t.Fatal(rep.Summary())
	}
}

func TestReplayFaultLandedElsewhere(t *testing.T) {
	a := synth{n: 10, nodes: addrsA, fault: []string{addrsA[0]}, effect: int64(time.Second)}
	b := synth{n: 10, nodes: addrsB, fault: []string{addrsB[2]}, effect: int64(time.Second)}
	rep := compare(t, a, b)
	fd := rep.Nemesis.FirstDifferent
	if fd == nil || fd.Action != 0 || !strings.Contains(fd.Why, "different nodes") {
		t.Fatalf("want action 0 on different nodes, got %+v", fd)
	}
	if fd.Original.Ordinals[0] != "n0" || fd.Replay.Ordinals[0] != "n2" {
		t.Fatalf("ordinals %v %v", fd.Original.Ordinals, fd.Replay.Ordinals)
	}
	// Late beyond the tolerance.
	b = synth{n: 10, nodes: addrsB, fault: []string{addrsB[0]}, effect: int64(time.Second + 300*time.Millisecond)}
	rep = compare(t, a, b)
	if fd := rep.Nemesis.FirstDifferent; fd == nil || !strings.Contains(fd.Why, "effect time off") {
		t.Fatalf("want a late fault, got %+v", fd)
	}
}

// TestReplayScheduleReproduced: the schedule (start at the offset, same
// nodes) is told apart from when the fault then took effect, which Redis
// decides: a failover that ends 1 s later is still the same schedule.
func TestReplayScheduleReproduced(t *testing.T) {
	ms := int64(time.Millisecond)
	a := synth{n: 10, nodes: addrsA, fault: []string{addrsA[0]}, start: int64(time.Second) + ms, effect: int64(time.Second) + 50*ms}
	b := synth{n: 10, nodes: addrsB, fault: []string{addrsB[0]}, start: int64(time.Second) + 2*ms, effect: int64(2 * time.Second)}
	rep := compare(t, a, b)
	n := rep.Nemesis
	if n.FirstDifferent == nil || !strings.Contains(n.FirstDifferent.Why, "effect time off") {
		t.Errorf("the later effect is not reported: %+v", n.FirstDifferent)
	}
	if !n.ScheduleReproduced || n.StartSkewMaxMS != 2 || !strings.Contains(rep.Summary(), "schedule: reproduced") {
		t.Errorf("schedule reproduced %v, skew %v ms, summary:\n%s", n.ScheduleReproduced, n.StartSkewMaxMS, rep.Summary())
	}
	// Started late in the replay: not the same schedule.
	b.start = int64(time.Second) + 500*ms
	if n := compare(t, a, b).Nemesis; n.ScheduleReproduced || n.StartSkewMaxMS != 500 {
		t.Errorf("a start 500 ms late: reproduced %v, skew %v ms", n.ScheduleReproduced, n.StartSkewMaxMS)
	}
	// On other nodes: not the same schedule.
	b.start, b.fault = a.start, []string{addrsB[1]}
	if n := compare(t, a, b).Nemesis; n.ScheduleReproduced {
		t.Error("a fault on other nodes counted as the same schedule")
	}
	// An original from before start times were recorded: not claimed.
	a.start, b.fault = 0, []string{addrsB[0]}
	if n := compare(t, a, b).Nemesis; n.ScheduleReproduced {
		t.Error("a run without start times counted as the same schedule")
	}
}

func TestLoadReplay(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, synth{n: 1, nodes: addrsA})
	s, err := LoadReplay(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != 7 || len(s.Nemesis.Timeline) != 1 {
		t.Fatalf("%+v", s)
	}
	if _, err := LoadReplay(t.TempDir()); err == nil {
		t.Fatal("want an error for a dir without scenario.yaml")
	}
}

// TestReplayNemesisInterleaved: the runner starts every action at its
// offset, so records of overlapping actions interleave, in an order that
// can differ between a run and its replay. The comparison goes by action
// number, not by record order.
func TestReplayNemesisInterleaved(t *testing.T) {
	rec := func(action int64, heal bool, at time.Duration, node string) history.Op {
		v := map[string]any{"action": action, "target": "one", "scheduled_ns": int64(time.Second), "nodes": []any{node}}
		if heal {
			v["heal"] = true
		}
		return history.Op{Process: history.NemesisProcess, Type: history.Info, F: "kill", Time: int64(at), Value: v}
	}
	ms := time.Millisecond
	// The original: action 1 (due 100 ms after action 0) took effect first.
	orig := []history.Op{rec(1, false, 1120*ms, "127.0.100.2:6379"), rec(0, false, 1400*ms, "127.0.100.1:6379"),
		rec(1, true, 2100*ms, "127.0.100.2:6379"), rec(0, true, 2400*ms, "127.0.100.1:6379")}
	// The replay: action 0 first this time, its heal before action 1's effect.
	replay := []history.Op{rec(0, false, 1350*ms, "127.0.100.11:6379"), rec(0, true, 1360*ms, "127.0.100.11:6379"),
		rec(1, false, 1150*ms, "127.0.100.12:6379"), rec(1, true, 2150*ms, "127.0.100.12:6379")}
	sum := func(ops []history.Op, addrs []string) *runSummary {
		ord := ordinals{of: map[string]string{}}
		for i, a := range addrs {
			ord.of[a] = "n" + string(rune('0'+i))
		}
		rs := &runSummary{actions: map[int]*ActionLanded{}, doOf: map[int]string{}}
		for _, op := range ops {
			rs.nemesis(op, ord)
		}
		return rs
	}
	a, b := sum(orig, addrsA), sum(replay, addrsB)
	nc := compareNemesis(a, b)
	if len(nc.Actions) != 2 || nc.FirstDifferent != nil {
		t.Fatalf("comparison = %+v, want 2 actions landing the same", nc)
	}
	for i, ac := range nc.Actions {
		if ac.Action != i || ac.Original == nil || ac.Replay == nil || ac.Original.HealedNS == 0 || ac.Replay.HealedNS == 0 {
			t.Errorf("action %d: %+v", i, ac)
		}
	}
	if got := nc.Actions[0].Original; got.EffectNS != int64(1400*ms) || got.Ordinals[0] != "n0" {
		t.Errorf("action 0 in the original = %+v", got)
	}
	if got := nc.Actions[1].Replay; got.EffectNS != int64(1150*ms) || got.HealedNS != int64(2150*ms) || got.Ordinals[0] != "n1" {
		t.Errorf("action 1 in the replay = %+v", got)
	}
}

// TestReplayRecordedFinalBoundary: a final read the history alone cannot
// tell from a client op (before the time limit, on a lane's current,
// unused process) is cut off where final.json says the final reads begin;
// without final.json replay falls back to guessing, is fooled, and says
// it guessed.
func TestReplayRecordedFinalBoundary(t *testing.T) {
	const n = 20
	run := func(finalValue int64, record bool) synth {
		return synth{n: n, nodes: addrsA, fault: []string{addrsA[0]}, effect: int64(1500 * time.Millisecond),
			// Worker 0's first op and worker 1's last end in info: processes
			// 0 and 2 are worker 0's, 1 worker 1's, and 3 (worker 1's next,
			// never used) is the first final read's.
			result: func(w, i int) (history.Type, any) {
				if (w == 0 && i == 0) || (w == 1 && i == n-1) {
					return history.Info, nil
				}
				return history.OK, int64(i*10 + w)
			},
			finalProc: 3, finalAt: int64(5 * time.Second), finalValue: finalValue, recordFinal: record}
	}
	// Recorded: the final reads (whose values differ) are not compared.
	rep := compare(t, run(42, true), run(43, true))
	if rep.Ops.FinalOriginal != 1 || rep.Ops.FinalReplay != 1 || rep.Ops.FinalGuessed != nil {
		t.Errorf("final reads: %+v, want 1 in each run, recorded", rep.Ops)
	}
	if rep.Ops.Original != 2*n || rep.Ops.Compared != 2*n || rep.FirstResult != nil {
		t.Errorf("ops %+v, first result divergence %+v: want the %d client ops compared, equal", rep.Ops, rep.FirstResult, 2*n)
	}
	if strings.Contains(rep.Summary(), "GUESSED") {
		t.Errorf("summary says guessed:\n%s", rep.Summary())
	}
	// Not recorded (run dirs from before final.json): the guess takes the
	// final read for worker 1's next op, and says it guessed.
	rep = compare(t, run(42, false), run(43, false))
	if !reflect.DeepEqual(rep.Ops.FinalGuessed, []string{"original", "replay"}) || !strings.Contains(rep.Summary(), "GUESSED") {
		t.Errorf("final_guessed %v, summary:\n%s", rep.Ops.FinalGuessed, rep.Summary())
	}
	if rep.Ops.FinalOriginal != 0 || rep.FirstResult == nil || rep.FirstResult.Worker != 1 || rep.FirstResult.Seq != n {
		t.Errorf("the guess was not fooled as expected: ops %+v, first result divergence %+v", rep.Ops, rep.FirstResult)
	}
}
