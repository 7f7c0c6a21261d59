package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunReplay runs smoke, replays its run dir and checks replay.json:
// the same seed must generate the same ops over the common prefix.
func TestRunReplay(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	store := t.TempDir()
	code, out, stderr := harness(t, t.TempDir(), "run", "smoke", "--time-limit", "3s", "--backend", "local", "--seed", "7", "--store", store)
	if code != 0 {
		t.Fatalf("run smoke: exit %d\n%s\n%s", code, out, stderr)
	}
	orig, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	// Flags that would change the run are refused.
	if code, _, stderr := harness(t, t.TempDir(), "run", "--replay", orig, "--seed", "8", "--store", store); code != exitHarness || !strings.Contains(stderr, "--seed with --replay") {
		t.Errorf("--replay --seed: exit %d %q", code, stderr)
	}
	if code, _, stderr := harness(t, t.TempDir(), "run", "smoke", "--replay", orig, "--store", store); code != exitHarness || !strings.Contains(stderr, "no scenarios with --replay") {
		t.Errorf("--replay with a scenario: exit %d %q", code, stderr)
	}
	code, out, stderr = harness(t, t.TempDir(), "run", "--replay", orig, "--backend", "local", "--store", store)
	if code != 0 {
		t.Fatalf("run --replay: exit %d\n%s\n%s", code, out, stderr)
	}
	replay, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if replay == orig || !strings.HasSuffix(replay, "-7") {
		t.Fatalf("replay run dir %s (original %s)", replay, orig)
	}
	if !strings.Contains(out, "generated ops: identical over the common prefix") || !strings.Contains(out, "replay.json") {
		t.Errorf("summary:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(replay, "replay.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		DeterminismBug bool            `json:"determinism_bug"`
		FirstGenerated json.RawMessage `json:"first_generated_divergence"`
		Ops            struct {
			Compared           int      `json:"compared"`
			Equal              int      `json:"equal"`
			Different          int      `json:"different"`
			GeneratedDifferent int      `json:"generated_different"`
			FinalOriginal      int      `json:"final_original"`
			FinalReplay        int      `json:"final_replay"`
			FinalGuessed       []string `json:"final_guessed"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.DeterminismBug || rep.FirstGenerated != nil || rep.Ops.GeneratedDifferent != 0 {
		t.Errorf("replay.json reports a generated-op divergence: %s", b[:min(len(b), 2000)])
	}
	if rep.Ops.Compared < 1000 || rep.Ops.Equal+rep.Ops.Different != rep.Ops.Compared {
		t.Errorf("replay.json ops: %+v", rep.Ops)
	}
	// Both runs recorded where their final reads begin, and replay used it.
	for _, dir := range []string{orig, replay} {
		if _, err := os.Stat(filepath.Join(dir, "final.json")); err != nil {
			t.Errorf("no final.json: %v", err)
		}
	}
	if rep.Ops.FinalGuessed != nil || rep.Ops.FinalOriginal == 0 || rep.Ops.FinalReplay == 0 {
		t.Errorf("final reads: %+v, want some in each run, from final.json", rep.Ops)
	}
}
