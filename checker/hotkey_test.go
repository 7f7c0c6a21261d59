package checker

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hotKey writes one register key with 100,000 ops from 20 processes,
// each taking effect inside its interval; with corruptTail, a few reads
// among the last 50 records return a value never written, so that the
// key is not linearizable, but only at its very end.
func hotKey(t *testing.T, corruptTail bool) *Input {
	t.Helper()
	dir := t.TempDir()
	// HARNESS_HOTKEY_OUT keeps the history, for `harness check DIR --workload register`.
	if out := os.Getenv("HARNESS_HOTKEY_OUT"); out != "" {
		dir = out
	}
	g := registerGen{Records: 200_000, Keys: 1, Processes: 20, Seed: 5}
	if corruptTail {
		g.Corrupt, g.CorruptAfter = 1, g.Records-50
	}
	writeRegisterFile(t, dir, g)
	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestHotKeyEndsWithinBudget: a hot key is beyond porcupine's search in
// any small budget (its cache holds a bitset of the key's ops per state;
// alone, it says Unknown after 60 s). Linearizable, the walk in time
// order orders it within a quarter of the default budget (in about 1 s
// on a quiet machine; the race detector slows it several times). With a
// bad read at its end the walk gives up within its quarter of the budget
// and the search takes over: the check must end within its budget
// with an honest unknown naming the key and how far the search got, with
// the memory the runtime held kept near the ceiling. Figures are logged;
// the bounds asserted are generous.
func TestHotKeyEndsWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and searches a 100,000-op key")
	}
	const budget, ceiling = 3 * time.Second, 512 << 20
	c := &Linearizable{Workloads: []string{"register"}, Options: Options{CheckTimeout: budget, CheckMemory: ceiling}}

	walk := &Linearizable{Workloads: []string{"register"}, Options: Options{CheckTimeout: DefaultCheckTimeout, CheckMemory: ceiling}}
	r := walk.Check(context.Background(), hotKey(t, false)).(*LinearizableResult)
	t.Logf("linearizable: verdict %v in %.2f s, peak memory %s", r.Valid, r.DurationS, SizeText(r.PeakMemory))
	if r.Valid != True || r.DirectKeys != 1 || r.Ops != 100_000 {
		t.Fatalf("the walk did not order the linearizable hot key: %+v", r)
	}

	bad := hotKey(t, true)
	start := time.Now()
	r = c.Check(context.Background(), bad).(*LinearizableResult)
	took := time.Since(start)
	t.Logf("bad tail: verdict %v in %.1f s (search %.1f s), peak memory %s of a %s ceiling: %s",
		r.Valid, took.Seconds(), r.SearchS, SizeText(r.PeakMemory), SizeText(ceiling), r.Reason)
	if r.Valid != Unknown || r.UndecidedCount != 1 || r.Undecided[0] != "{register:0}" || r.DirectKeys != 0 {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Reason, "{register:0}") || !strings.Contains(r.Reason, "its search had placed") {
		t.Errorf("the reason does not name the key and how far the search got: %s", r.Reason)
	}
	if took > budget+5*time.Second {
		t.Errorf("the check took %s, beyond its budget of %s + 5 s", took, budget)
	}
	if r.PeakMemory > 2*ceiling {
		t.Errorf("peak memory %s, ceiling %s", SizeText(r.PeakMemory), SizeText(ceiling))
	}
}

// TestMemoryCeilingStopsTheBiggestKey: past the ceiling the key being
// searched is stopped and named as stopped at the memory ceiling.
func TestMemoryCeilingStopsTheBiggestKey(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and searches a 100,000-op key")
	}
	in := hotKey(t, true)
	base := currentMem().held
	ceiling := base + 96<<20
	c := &Linearizable{Workloads: []string{"register"}, Options: Options{CheckTimeout: time.Minute, CheckMemory: ceiling}}
	r := c.Check(context.Background(), in).(*LinearizableResult)
	t.Logf("%s, peak %s of %s", r.Reason, SizeText(r.PeakMemory), SizeText(ceiling))
	if r.Valid != Unknown || len(r.UndecidedWhy) != 1 || !strings.Contains(r.UndecidedWhy[0].Reason, "stopped at the memory ceiling") {
		t.Fatalf("%+v", r)
	}
	if r.SearchS > 30 {
		t.Errorf("the search ran %.0f s past its ceiling", r.SearchS)
	}
}

// TestCeilingBelowTheHistory: a ceiling the loaded history alone fills
// leaves every key unknown at once, saying so, with no search.
func TestCeilingBelowTheHistory(t *testing.T) {
	in := golden(t, "register-valid.jsonl")
	ballast := make([]byte, 8<<20) // live while the check runs
	runtime.GC()                   // the live heap the check reads is the last collection's
	c := &Linearizable{Workloads: []string{"register"}, Options: Options{CheckMemory: 4 << 20}}
	r := c.Check(context.Background(), in).(*LinearizableResult)
	if r.Valid != Unknown || r.UndecidedCount != 2 || !strings.Contains(r.Reason, "the loaded history alone fills the memory ceiling of 4 MiB") {
		t.Errorf("%+v", r)
	}
	ballast[len(ballast)-1] = 1
	_ = ballast
}
