package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis-harness/harness/reports"
)

// soakHarness runs the CLI in-process like harness(), with the soak
// command added when main.go does not register it yet.
func soakHarness(t *testing.T, state string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	if app.Command("soak") == nil {
		app.Commands = append(app.Commands, soakCommand())
	}
	err := app.RunContext(context.Background(), interspersed(app, append([]string{"harness", "--state-dir", state}, args...)))
	if err != nil {
		code = exitHarness
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errb.WriteString("harness: " + err.Error() + "\n")
	}
	return code, out.String(), errb.String()
}

func TestSoakBadInput(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"soak", "--images", "redis:7.2", "--backend", "local"}, "--images needs the docker backend"},
		{[]string{"soak", "--scenarios", "smoke", "--all"}, "not both"},
		{[]string{"soak", "--count", "0"}, "--count 0"},
		{[]string{"soak", "--duration", "-1s"}, "--duration"},
		{[]string{"soak", "--scenarios", "nosuch"}, "no scenario \"nosuch\""},
		{[]string{"soak", "--time-limit", "-1s"}, "--time-limit"},
		{[]string{"soak", "--workload", "bogus"}, "--workload \"bogus\""},
		{[]string{"soak", "smoke"}, "--scenarios"},
		{[]string{"soak", "--shard", "3/2", "--seed-base", "1"}, "--shard 3/2: the shard number goes from 1 to 2"},
		{[]string{"soak", "--shard", "0/4", "--seed-base", "1"}, "--shard 0/4: the shard number goes from 1 to 4"},
		{[]string{"soak", "--shard", "x", "--seed-base", "1"}, `--shard "x": want I/N`},
		{[]string{"soak", "--shard", "1/2"}, "--shard 1/2 needs --seed-base"},
		{[]string{"soak", "--seed-base", "0"}, "--seed-base 0"},
		{[]string{"soak", "--seed-base", "3", "--seed", "4"}, "--seed-base or --seed, not both"},
	} {
		code, _, stderr := soakHarness(t, state, append(tc.args, "--store", t.TempDir())...)
		if code != exitHarness || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 3 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestSoakLocalSmoke is one real short soak on the local backend, with
// --gzip-history: its run dir ends with history.jsonl.gz only, which check
// re-judges as it would history.jsonl.
func TestSoakLocalSmoke(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	if testing.Short() {
		t.Skip("skipping a real soak in -short mode")
	}
	store := t.TempDir()
	code, out, stderr := soakHarness(t, t.TempDir(), "soak", "--scenarios", "smoke", "--count", "1", "--time-limit", "3s", "--backend", "local", "--gzip-history", "--store", store)
	t.Log(out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "soak: run 1 smoke: valid (exit 0)") || !strings.Contains(out, "soak: exit 0") {
		t.Errorf("output:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(store, reports.SoakJSON))
	if err != nil {
		t.Fatal(err)
	}
	var s reports.Soak
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 1 || s.Runs[0].Status != reports.SoakValid || s.Runs[0].Dir == "" || s.RSSStartKB == 0 || !s.Finished {
		t.Errorf("soak.json %+v", s)
	}
	for _, f := range []string{reports.SoakHTML, reports.SoakJUnit, filepath.Join(s.Runs[0].Dir, reports.IndexFile)} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Error(err)
		}
	}
	dir := filepath.Join(store, s.Runs[0].Dir)
	st, err := os.Stat(filepath.Join(dir, "history.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "history.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history.jsonl is still there: %v", err)
	}
	if r := s.Runs[0]; r.HistoryGzBytes != st.Size() || r.HistoryBytes <= r.HistoryGzBytes || r.GzipError != "" {
		t.Errorf("soak.json: history %d → %d bytes (file %d), error %q", r.HistoryBytes, r.HistoryGzBytes, st.Size(), r.GzipError)
	}
	if !strings.Contains(out, "soak: 1 histories gzipped") {
		t.Errorf("output does not say the history was gzipped:\n%s", out)
	}
	if code, out, stderr := harness(t, t.TempDir(), "check", dir); code != 0 || !strings.Contains(out, "smoke: valid") {
		t.Errorf("check of the gzipped run: exit %d\n%s\n%s", code, out, stderr)
	}
}
