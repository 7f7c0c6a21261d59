package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SoakMerge says which shard stores a merged summary was made from.
type SoakMerge struct {
	// Of is the number of shards the soak was split into.
	Of     int               `json:"of"`
	Shards []SoakMergedShard `json:"shards"`
	// Missing are the shards no store was given for.
	Missing []int `json:"missing,omitempty"`
}

// SoakMergedShard is one shard store of a merge.
type SoakMergedShard struct {
	Index int `json:"index"`
	// Store is the shard's store relative to the merged summary's
	// directory (slash-separated): the runs' dirs are inside it.
	Store    string `json:"store"`
	Runs     int    `json:"runs"`
	Code     int    `json:"code"`
	Finished bool   `json:"finished"`
	Stopped  string `json:"stopped,omitempty"`
}

// judge makes a merge with missing shards exit 3 unless a run already
// says 1: the soak did not do all its runs, a harness-side failure by
// soak's own rules (1 wins over 3, 3 over 2).
func (m *SoakMerge) judge(s *Soak) {
	if m == nil || len(m.Missing) == 0 {
		return
	}
	missing := fmt.Sprintf("shard %s of %d missing", joinInts(m.Missing), m.Of)
	if len(m.Missing) > 1 {
		missing = fmt.Sprintf("shards %s of %d missing", joinInts(m.Missing), m.Of)
	}
	if s.Code == 0 || s.Code == 2 {
		s.Code = 3
		s.Verdict = "incomplete: " + missing
		return
	}
	s.Verdict += "; " + missing
}

func joinInts(x []int) string {
	var b []string
	for _, v := range x {
		b = append(b, strconv.Itoa(v))
	}
	return strings.Join(b, ", ")
}

// ReadSoak reads store's soak.json.
func ReadSoak(store string) (*Soak, error) {
	b, err := os.ReadFile(filepath.Join(store, SoakJSON))
	if err != nil {
		return nil, err
	}
	var s Soak
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(store, SoakJSON), err)
	}
	return &s, nil
}

// MergeSoaks merges the summaries of the shard stores stores (each made by
// soak --shard I/N of one soak) into one soak.json, soak.html and
// soak-junit.xml in out, and returns it. The runs keep their dirs in the
// shard stores: each run's dir becomes a path relative to out, so links
// work wherever out and the stores keep their places relative to each
// other. It refuses stores that are not shards, shards of different soaks
// (plan or settings), a shard given twice, and an out that is a shard
// store or holds a soak's own summary; a missing shard is recorded (and
// makes the exit 3, see SoakMerge).
func MergeSoaks(out string, stores []string) (*Soak, error) {
	if len(stores) == 0 {
		return nil, errors.New("soak merge: no shard stores given")
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("soak merge: %w", err)
	}
	shards, err := readShards(absOut, stores)
	if err != nil {
		return nil, err
	}
	if old, err := ReadSoak(out); err == nil && old.Merge == nil {
		return nil, fmt.Errorf("soak merge: %s holds a soak's own %s; give --out a directory of its own", out, SoakJSON)
	}
	ref := shards[0].sum
	m := &SoakMerge{Of: ref.Shard.Of}
	sum := &Soak{Started: ref.Started, Finished: true, Args: mergeArgs(ref.Args), Plan: ref.Plan, Merge: m, Runs: []SoakRun{}}
	have := map[int]bool{}
	for _, sh := range shards {
		s := sh.sum
		have[s.Shard.Index] = true
		m.Shards = append(m.Shards, SoakMergedShard{Index: s.Shard.Index, Store: sh.rel, Runs: len(s.Runs), Code: s.Code, Finished: s.Finished, Stopped: s.Stopped})
		if s.Started.Before(sum.Started) {
			sum.Started = s.Started
		}
		sum.Finished = sum.Finished && s.Finished
		sum.RSSStartKB, sum.RSSEndKB = max(sum.RSSStartKB, s.RSSStartKB), max(sum.RSSEndKB, s.RSSEndKB)
		for _, r := range s.Runs {
			if r.Dir != "" {
				rel, err := filepath.Rel(absOut, filepath.Join(sh.abs, filepath.FromSlash(r.Dir)))
				if err != nil {
					return nil, fmt.Errorf("soak merge: run %d of %s: %w", r.N, sh.path, err)
				}
				r.Dir = filepath.ToSlash(rel)
			}
			sum.Runs = append(sum.Runs, r)
		}
	}
	sort.Slice(m.Shards, func(i, j int) bool { return m.Shards[i].Index < m.Shards[j].Index })
	sort.SliceStable(sum.Runs, func(i, j int) bool { return sum.Runs[i].N < sum.Runs[j].N })
	for i := 1; i <= m.Of; i++ {
		if !have[i] {
			m.Missing = append(m.Missing, i)
		}
	}
	sum.Stopped = fmt.Sprintf("merged %d of %d shards", len(m.Shards), m.Of)
	if len(m.Missing) > 0 {
		sum.Stopped += "; missing " + joinInts(m.Missing)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("soak merge: %w", err)
	}
	if err := WriteSoak(out, sum); err != nil {
		return nil, fmt.Errorf("soak merge: %w", err)
	}
	return sum, nil
}

// shardStore is one store given to a merge: as given, absolute, relative
// to the merge's out, and its summary.
type shardStore struct {
	path, abs, rel string
	sum            *Soak
}

// readShards reads the stores' summaries and checks they are distinct
// shards of one soak.
func readShards(absOut string, stores []string) ([]shardStore, error) {
	var out []shardStore
	byIndex := map[int]string{}
	for _, st := range stores {
		abs, err := filepath.Abs(st)
		if err != nil {
			return nil, fmt.Errorf("soak merge: %w", err)
		}
		if abs == absOut {
			return nil, fmt.Errorf("soak merge: --out %s is the shard store %s: the merge would overwrite its summary", absOut, st)
		}
		s, err := ReadSoak(st)
		if err != nil {
			return nil, fmt.Errorf("soak merge: %s is no soak store: %w", st, err)
		}
		switch {
		case s.Merge != nil:
			return nil, fmt.Errorf("soak merge: %s is a merged summary; give the shards' own stores", st)
		case s.Shard == nil:
			return nil, fmt.Errorf("soak merge: %s is not a shard (its %s has no shard: run soak with --shard I/N)", st, SoakJSON)
		}
		if prev, dup := byIndex[s.Shard.Index]; dup {
			return nil, fmt.Errorf("soak merge: %s and %s are both shard %d/%d", prev, st, s.Shard.Index, s.Shard.Of)
		}
		byIndex[s.Shard.Index] = st
		if len(out) > 0 {
			if err := sameSoak(out[0].path, out[0].sum, st, s); err != nil {
				return nil, err
			}
		}
		rel, err := filepath.Rel(absOut, abs)
		if err != nil {
			return nil, fmt.Errorf("soak merge: %w", err)
		}
		out = append(out, shardStore{path: st, abs: abs, rel: filepath.ToSlash(rel), sum: s})
	}
	return out, nil
}

// sameSoak says how the shards a (in store sa) and b (in sb) are not of
// one soak: the number of shards or the plan (its settings included).
func sameSoak(sa string, a *Soak, sb string, b *Soak) error {
	differ := func(what string, x, y any) error {
		return fmt.Errorf("soak merge: %s and %s are not shards of one soak: %s %v ≠ %v", sa, sb, what, x, y)
	}
	if a.Shard.Of != b.Shard.Of {
		return differ("shard count", a.Shard.Of, b.Shard.Of)
	}
	var pa, pb SoakPlan
	if a.Plan != nil {
		pa = *a.Plan
	}
	if b.Plan != nil {
		pb = *b.Plan
	}
	for _, f := range []struct {
		what string
		x, y any
	}{
		{"scenarios", pa.Scenarios, pb.Scenarios}, {"images", pa.Images, pb.Images}, {"servers", pa.Servers, pb.Servers},
		{"count", pa.Count, pb.Count}, {"duration", pa.Duration, pb.Duration}, {"seed base", pa.SeedBase, pb.SeedBase},
	} {
		if !reflect.DeepEqual(f.x, f.y) {
			return differ(f.what, f.x, f.y)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(joinMaps(pa.Settings, pb.Settings))) {
		if pa.Settings[k] != pb.Settings[k] {
			return differ("--"+k, quoteArg(pa.Settings, k), quoteArg(pb.Settings, k))
		}
	}
	return nil
}

func quoteArg(m map[string]string, k string) string {
	v, ok := m[k]
	if !ok {
		return "(unset)"
	}
	return strconv.Quote(v)
}

func joinMaps(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

// mergeArgs are a shard's args for the merged summary: without its own
// --shard and --store.
func mergeArgs(args map[string]string) map[string]string {
	out := maps.Clone(args)
	delete(out, "shard")
	delete(out, "store")
	return out
}
