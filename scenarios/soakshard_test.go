package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/reports"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"1/1", Shard{I: 1, N: 1}, ""},
		{"2/4", Shard{I: 2, N: 4}, ""},
		{" 4/4 ", Shard{I: 4, N: 4}, ""},
		{"3/2", Shard{}, "goes from 1 to 2"},
		{"0/4", Shard{}, "goes from 1 to 4"},
		{"-1/4", Shard{}, "goes from 1 to 4"},
		{"1/0", Shard{}, "at least 1 shard"},
		{"x", Shard{}, "want I/N"},
		{"", Shard{}, "want I/N"},
		{"a/b", Shard{}, "whole numbers"},
		{"1.5/2", Shard{}, "whole numbers"},
	} {
		got, err := ParseShard(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseShard(%q) error %v; want one with %q", tc.in, err, tc.err)
		}
	}
}

func TestRunSeed(t *testing.T) {
	seen := map[int64]bool{}
	for p := 0; p < 1000; p++ {
		s := RunSeed(42, p)
		if s < 1 || s > 999_999_999 || seen[s] {
			t.Fatalf("RunSeed(42, %d) = %d: out of range or seen before", p, s)
		}
		seen[s] = true
		if RunSeed(42, p) != s {
			t.Fatal("RunSeed is not a function of its arguments")
		}
	}
	if RunSeed(42, 0) == RunSeed(43, 0) {
		t.Error("the seed base does not change the seeds")
	}
}

// shardRun is what a test compares of a soak's run.
type shardRun struct {
	N             int
	Scenario, Img string
	Seed          int64
	Status        string
	Code          int
}

func shardRuns(s *reports.Soak) []shardRun {
	var out []shardRun
	for _, r := range s.Runs {
		out = append(out, shardRun{N: r.N, Scenario: r.Scenario, Img: r.Image, Seed: r.Seed, Status: r.Status, Code: r.Code})
	}
	return out
}

// seedKind makes a run's outcome depend on its seed only, as a real
// run's does: the same seed, the same verdict on any shard.
func seedKind(_ int, s *Scenario) string {
	if s.Seed%5 == 0 {
		return "anomaly"
	}
	return "valid"
}

// shardSoak runs shard sh of the test soak (sh zero: unsharded) into a
// fresh store.
func shardSoak(t *testing.T, store string, sh Shard, base int64, mod func(*SoakOptions)) *reports.Soak {
	t.Helper()
	f := &fakeRuns{kind: seedKind}
	o := SoakOptions{
		Scenarios: []*Scenario{scen("a", nil), scen("b", nil)}, Images: []string{"i1", "i2"},
		Count: 3, Run: Options{Store: store}, RunFunc: f.run, Shard: sh, SeedBase: base,
		Args: map[string]string{"scenarios": "a,b", "store": store, "shard": sh.String()},
	}
	if mod != nil {
		mod(&o)
	}
	sum, err := Soak(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestSoakShardsUnionIsTheSoak: shards 1..N of a soak make exactly the
// unsharded soak's runs, each with its seed and number, none twice; a
// merge of their stores has the unsharded soak's runs, cells and verdict,
// and its links reach the runs in the shard stores.
func TestSoakShardsUnionIsTheSoak(t *testing.T) {
	const base = 20261201
	whole := shardSoak(t, t.TempDir(), Shard{}, base, nil)
	if len(whole.Runs) != 12 {
		t.Fatalf("unsharded: %d runs, want 12", len(whole.Runs))
	}
	for i, r := range whole.Runs {
		if r.N != i+1 || r.Seed != RunSeed(base, i) {
			t.Errorf("unsharded run %d: n %d seed %d, want n %d seed %d", i, r.N, r.Seed, i+1, RunSeed(base, i))
		}
	}
	for _, n := range []int{1, 3, 5, 12, 13} {
		t.Run(fmt.Sprint(n, " shards"), func(t *testing.T) {
			dir := t.TempDir()
			var stores []string
			var union []shardRun
			seen := map[int]int{}
			for i := 1; i <= n; i++ {
				store := filepath.Join(dir, fmt.Sprint("shard-", i))
				sum := shardSoak(t, store, Shard{I: i, N: n}, base, nil)
				if sum.Shard == nil || *sum.Shard != (reports.SoakShard{Index: i, Of: n}) || sum.Plan == nil || sum.Plan.SeedBase != base {
					t.Errorf("shard %d/%d records shard %+v, plan %+v", i, n, sum.Shard, sum.Plan)
				}
				for _, r := range sum.Runs {
					if (r.N-1)%n != i-1 {
						t.Errorf("shard %d/%d made run %d", i, n, r.N)
					}
					if prev, dup := seen[r.N]; dup {
						t.Errorf("run %d made by shards %d and %d", r.N, prev, i)
					}
					seen[r.N] = i
				}
				union = append(union, shardRuns(sum)...)
				stores = append(stores, store)
			}
			slices.SortFunc(union, func(a, b shardRun) int { return a.N - b.N })
			if want := shardRuns(whole); !slices.Equal(union, want) {
				t.Errorf("union of the shards\n%v\nwant the unsharded soak's\n%v", union, want)
			}
			out := filepath.Join(dir, "merged")
			merged, err := reports.MergeSoaks(out, stores)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := shardRuns(merged), shardRuns(whole); !slices.Equal(got, want) {
				t.Errorf("merged runs\n%v\nwant\n%v", got, want)
			}
			if merged.Code != whole.Code || merged.Verdict != whole.Verdict || !merged.Finished || len(merged.Merge.Missing) != 0 {
				t.Errorf("merged: code %d %q finished %v missing %v; unsharded code %d %q", merged.Code, merged.Verdict, merged.Finished, merged.Merge.Missing, whole.Code, whole.Verdict)
			}
			if len(merged.Cells) != len(whole.Cells) {
				t.Fatalf("%d cells, want %d", len(merged.Cells), len(whole.Cells))
			}
			for i, c := range merged.Cells {
				w := whole.Cells[i]
				if c.Scenario != w.Scenario || c.Image != w.Image || c.Runs != w.Runs || c.Valid != w.Valid || c.Invalid != w.Invalid || c.Met != w.Met {
					t.Errorf("cell %d: %+v\nwant %+v", i, c, w)
				}
			}
			checkSoakLinks(t, out, merged)
		})
	}
}

// checkSoakLinks: every run's dir and every relative link of out's
// soak.html resolves from out.
func checkSoakLinks(t *testing.T, out string, s *reports.Soak) {
	t.Helper()
	for _, r := range s.Runs {
		if r.Dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(r.Dir))); err != nil {
			t.Errorf("run %d: dir %s: %v", r.N, r.Dir, err)
		}
	}
	h, err := os.ReadFile(filepath.Join(out, reports.SoakHTML))
	if err != nil {
		t.Fatal(err)
	}
	hrefs := regexp.MustCompile(`href="([^"#]+)"`).FindAllStringSubmatch(string(h), -1)
	if len(hrefs) == 0 {
		t.Error("soak.html has no links")
	}
	for _, m := range hrefs {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("soak.html links %s: %v", m[1], err)
		}
	}
}

// TestSoakShardDuration: with --duration the run list is endless; a
// shard makes its positions of it, with their seeds, until its time is up.
func TestSoakShardDuration(t *testing.T) {
	const base = 7
	for i := 1; i <= 3; i++ {
		sum := shardSoak(t, t.TempDir(), Shard{I: i, N: 3}, base, func(o *SoakOptions) {
			o.Count, o.Duration = 0, 300*time.Millisecond
		})
		if len(sum.Runs) < 2 || !strings.Contains(sum.Stopped, "--duration") {
			t.Errorf("shard %d/3: %d runs, stopped %q", i, len(sum.Runs), sum.Stopped)
		}
		for j, r := range sum.Runs {
			if want := i + 3*j; r.N != want || r.Seed != RunSeed(base, want-1) {
				t.Errorf("shard %d/3 run %d: n %d seed %d, want n %d seed %d", i, j, r.N, r.Seed, want, RunSeed(base, want-1))
			}
		}
	}
}

// TestSoakSeedBaseKeepsAFixedSeed: a scenario that fixes its seed keeps
// it; the base seeds only those that do not.
func TestSoakSeedBaseKeepsAFixedSeed(t *testing.T) {
	fixed := scen("fixed", nil)
	fixed.Seed = 99
	sum := shardSoak(t, t.TempDir(), Shard{}, 5, func(o *SoakOptions) {
		o.Scenarios, o.Images = []*Scenario{fixed, scen("free", nil)}, nil
		o.Count = 1
	})
	if len(sum.Runs) != 2 || sum.Runs[0].Seed != 99 || sum.Runs[1].Seed != RunSeed(5, 1) {
		t.Errorf("runs %+v", shardRuns(sum))
	}
}

// TestSoakMergeRefuses: stores of different soaks, a shard twice, a store
// that is no shard, an out that would overwrite a soak's summary.
func TestSoakMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	store := func(name string, sh Shard, base int64, mod func(*SoakOptions)) string {
		s := filepath.Join(dir, name)
		shardSoak(t, s, sh, base, mod)
		return s
	}
	one := store("one", Shard{I: 1, N: 2}, 1, nil)
	two := store("two", Shard{I: 2, N: 2}, 1, nil)
	otherBase := store("other-base", Shard{I: 2, N: 2}, 2, nil)
	otherScen := store("other-scenarios", Shard{I: 2, N: 2}, 1, func(o *SoakOptions) { o.Scenarios = o.Scenarios[:1] })
	otherServers := store("other-servers", Shard{I: 2, N: 2}, 1, func(o *SoakOptions) { o.Images, o.Servers = nil, []string{"redis-7.0.15"} })
	otherN := store("other-n", Shard{I: 2, N: 3}, 1, nil)
	otherArgs := store("other-args", Shard{I: 2, N: 2}, 1, func(o *SoakOptions) { o.Settings = map[string]string{"time-limit": "9s"} })
	again := store("again", Shard{I: 1, N: 2}, 1, nil)
	whole := store("whole", Shard{}, 1, nil)
	for _, tc := range []struct {
		out    string
		stores []string
		want   string
	}{
		{"m1", []string{one, otherBase}, "seed base 1 ≠ 2"},
		{"m2", []string{one, otherScen}, "scenarios [a b] ≠ [a]"},
		{"m3", []string{one, otherServers}, "images"},
		{"m4", []string{one, otherN}, "shard count 2 ≠ 3"},
		{"m5", []string{one, otherArgs}, `--time-limit (unset) ≠ "9s"`},
		{"m6", []string{one, two, again}, "are both shard 1/2"},
		{"m7", []string{one, whole}, "is not a shard"},
		{"m8", []string{filepath.Join(dir, "nosuch")}, "is no soak store"},
		{one, []string{one, two}, "would overwrite its summary"},
		{whole, []string{one, two}, "holds a soak's own soak.json"},
		{"m9", nil, "no shard stores"},
	} {
		out := tc.out
		if !filepath.IsAbs(out) {
			out = filepath.Join(dir, out)
		}
		_, err := reports.MergeSoaks(out, tc.stores)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("merge %v into %s: %v; want an error with %q", tc.stores, tc.out, err, tc.want)
		}
	}
	// The store a refused merge would have written into holds nothing.
	if _, err := os.Stat(filepath.Join(dir, "m1")); !os.IsNotExist(err) {
		t.Errorf("a refused merge made its out: %v", err)
	}
	// A merge into an out of an earlier merge replaces it; a merge is no
	// shard to merge again.
	out := filepath.Join(dir, "merged")
	for range 2 {
		if _, err := reports.MergeSoaks(out, []string{one, two}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reports.MergeSoaks(filepath.Join(dir, "again-merged"), []string{out}); err == nil || !strings.Contains(err.Error(), "is a merged summary") {
		t.Errorf("a merge of a merge: %v", err)
	}
}

// TestSoakMergeMissingShard: a merge of some of the shards says which are
// missing, and exits 3 unless a run found an anomaly (1 wins, as in soak).
func TestSoakMergeMissingShard(t *testing.T) {
	dir := t.TempDir()
	var stores []string
	for i := 1; i <= 4; i++ {
		s := filepath.Join(dir, fmt.Sprint(i))
		shardSoak(t, s, Shard{I: i, N: 4}, 3, func(o *SoakOptions) {
			o.RunFunc = (&fakeRuns{kind: func(int, *Scenario) string { return "valid" }}).run
		})
		stores = append(stores, s)
	}
	all, err := reports.MergeSoaks(filepath.Join(dir, "all"), stores)
	if err != nil || all.Code != 0 || len(all.Runs) != 12 {
		t.Fatalf("all 4 shards: %v, code %d, %d runs", err, all.Code, len(all.Runs))
	}
	part, err := reports.MergeSoaks(filepath.Join(dir, "part"), []string{stores[0], stores[3], stores[1]})
	if err != nil {
		t.Fatal(err)
	}
	if part.Code != 3 || !strings.Contains(part.Verdict, "shard 3 of 4 missing") || !slices.Equal(part.Merge.Missing, []int{3}) || part.Stopped != "merged 3 of 4 shards; missing 3" {
		t.Errorf("3 of 4 shards: code %d, verdict %q, missing %v, stopped %q", part.Code, part.Verdict, part.Merge.Missing, part.Stopped)
	}
	h, err := os.ReadFile(filepath.Join(dir, "part", reports.SoakHTML))
	if err != nil || !strings.Contains(string(h), "3/4</td><td class=\"bad\" colspan=\"5\">missing") {
		t.Errorf("soak.html does not name the missing shard (%v)", err)
	}
	checkSoakLinks(t, filepath.Join(dir, "part"), part)

	bad := filepath.Join(dir, "bad-1")
	shardSoak(t, bad, Shard{I: 1, N: 4}, 3, func(o *SoakOptions) {
		o.RunFunc = (&fakeRuns{kind: func(n int, _ *Scenario) string { return map[bool]string{true: "anomaly", false: "valid"}[n == 2] }}).run
	})
	withAnomaly, err := reports.MergeSoaks(filepath.Join(dir, "anomaly"), []string{bad, stores[1]})
	if err != nil {
		t.Fatal(err)
	}
	if withAnomaly.Code != 1 || !strings.Contains(withAnomaly.Verdict, "shards 3, 4 of 4 missing") {
		t.Errorf("an anomaly and 2 missing shards: code %d, verdict %q", withAnomaly.Code, withAnomaly.Verdict)
	}
}
