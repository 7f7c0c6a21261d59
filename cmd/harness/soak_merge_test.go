package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/reports"
	"github.com/redis-harness/harness/scenarios"
)

// judgedRun is a RunFunc whose runs all pass, each with a run dir and a
// page in it, made without a cluster.
func judgedRun(ctx context.Context, s *scenarios.Scenario, o scenarios.Options) (*scenarios.Outcome, error) {
	dir := filepath.Join(o.Store, s.Name, fmt.Sprint(s.Seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, reports.IndexFile), []byte("<!DOCTYPE html><title>run</title>"), 0o644); err != nil {
		return nil, err
	}
	return &scenarios.Outcome{Dir: dir, Scenario: s, Report: &checker.Report{Valid: checker.True}}, nil
}

// shardStores writes the stores of shards of a soak of smoke × 3 runs,
// with the soak's own code.
func shardStores(t *testing.T, dir string, of int, shards ...int) []string {
	t.Helper()
	var stores []string
	for _, i := range shards {
		store := filepath.Join(dir, fmt.Sprint("shard-", i))
		sh := scenarios.Shard{I: i, N: of}
		_, err := scenarios.Soak(context.Background(), scenarios.SoakOptions{
			Scenarios: []*scenarios.Scenario{{Name: "smoke", TimeLimit: time.Second}}, Count: 3, SeedBase: 11, Shard: sh,
			Args: map[string]string{"scenarios": "smoke", "count": "3", "seed-base": "11", "shard": sh.String(), "store": store},
			Run:  scenarios.Options{Store: store}, RunFunc: judgedRun,
		})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, store)
	}
	return stores
}

func TestSoakMergeCommand(t *testing.T) {
	dir := t.TempDir()
	stores := shardStores(t, dir, 3, 1, 2, 3)
	out := filepath.Join(dir, "merged")
	code, stdout, stderr := harness(t, t.TempDir(), append([]string{"soak", "merge", "--out", out}, stores...)...)
	if code != 0 || !strings.Contains(stdout, "soak merge: 3 stores") || !strings.Contains(stdout, "soak: 3 runs (merged 3 of 3 shards)") || !strings.Contains(stdout, "soak: exit 0") {
		t.Errorf("merge of 3 of 3: exit %d\n%s\n%s", code, stdout, stderr)
	}
	s, err := reports.ReadSoak(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range s.Runs {
		if r.N != i+1 || r.Seed != scenarios.RunSeed(11, i) || !strings.HasPrefix(r.Dir, fmt.Sprintf("../shard-%d/smoke/", i+1)) {
			t.Errorf("run %d: n %d seed %d dir %s", i, r.N, r.Seed, r.Dir)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{stores[0], stores[2]}, 3, "soak: exit 3: incomplete: shard 2 of 3 missing"},
		{[]string{stores[0], stores[0]}, 3, "are both shard 1/3"},
		{[]string{"--out", stores[1], stores[0], stores[1]}, 3, "would overwrite its summary"},
		{nil, 3, "give the shard stores"},
	} {
		args := append([]string{"soak", "merge", "--out", filepath.Join(dir, "m")}, tc.args...)
		code, stdout, stderr := harness(t, t.TempDir(), args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d\n%s\n%s\nwant exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}

// TestSoakShardMergeLocal is a real soak of 4 runs in two shards on the
// local backend, then their merge: 4 runs, numbered and seeded as the
// unsharded soak would, every link of soak.html reaching its file.
func TestSoakShardMergeLocal(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	if testing.Short() {
		t.Skip("skipping a real soak in -short mode")
	}
	dir := t.TempDir()
	var stores []string
	for i := 1; i <= 2; i++ {
		store := filepath.Join(dir, fmt.Sprint("shard-", i))
		code, out, stderr := harness(t, t.TempDir(), "soak", "--scenarios", "smoke", "--count", "4", "--time-limit", "3s", "--backend", "local",
			"--seed-base", "424242", "--shard", fmt.Sprintf("%d/2", i), "--store", store)
		t.Log(out)
		if code != 0 {
			t.Fatalf("shard %d/2: exit %d\n%s\n%s", i, code, out, stderr)
		}
		stores = append(stores, store)
	}
	out := filepath.Join(dir, "merged")
	code, stdout, stderr := harness(t, t.TempDir(), append([]string{"soak", "merge", "--out", out}, stores...)...)
	t.Log(stdout)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, reports.SoakJSON))
	if err != nil {
		t.Fatal(err)
	}
	var s reports.Soak
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 4 || s.Code != 0 || s.Merge == nil || len(s.Merge.Shards) != 2 || len(s.Merge.Missing) != 0 {
		t.Fatalf("merged soak.json: %d runs, code %d, merge %+v", len(s.Runs), s.Code, s.Merge)
	}
	for i, r := range s.Runs {
		if r.N != i+1 || r.Seed != scenarios.RunSeed(424242, i) || r.Status != reports.SoakValid {
			t.Errorf("run %d: n %d seed %d status %s", i, r.N, r.Seed, r.Status)
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(r.Dir), "history.jsonl")); err != nil {
			t.Errorf("run %d: %v", r.N, err)
		}
	}
	h, err := os.ReadFile(filepath.Join(out, reports.SoakHTML))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`href="([^"#]+)"`).FindAllStringSubmatch(string(h), -1)
	if len(links) < 4+2 {
		t.Errorf("soak.html has %d links, want one per run and per shard", len(links))
	}
	for _, m := range links {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("soak.html links %s: %v", m[1], err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, reports.SoakJUnit)); err != nil {
		t.Error(err)
	}
}
