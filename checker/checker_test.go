package checker

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// golden reads testdata/name as a history into an Input.
func golden(t *testing.T, name string) *Input {
	t.Helper()
	ops, rr, err := history.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if rr.Truncated != "" {
		t.Fatalf("%s: %s", name, rr.Truncated)
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	return &Input{Ops: ops, Operations: pairs}
}

func goldenTopology(t *testing.T, name string) []topology.Sample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, warning, err := ReadTopology(f)
	if err != nil || warning != "" {
		t.Fatalf("%s: %v %s", name, err, warning)
	}
	return s
}

func lin(ws ...string) Checker { return &Linearizable{Workloads: ws} }
func linBudget(d time.Duration) Checker {
	return &Linearizable{Workloads: []string{"register"}, Options: Options{CheckTimeout: d}}
}

// TestGolden runs every checker over the golden histories in testdata and
// compares the verdict and the evidence that makes it.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file    string
		checker Checker
		want    Valid
		check   func(t *testing.T, r Result)
	}{
		// linearizable
		{"register-valid.jsonl", lin("register"), True, func(t *testing.T, r Result) {
			lr := r.(*LinearizableResult)
			// The CLUSTERDOWN write is dropped, the cas-mismatch kept.
			if lr.Keys != 2 || lr.Ops != 6 || lr.Models["register"] != 2 {
				t.Errorf("keys %d ops %d models %v", lr.Keys, lr.Ops, lr.Models)
			}
		}},
		{"register-stale-read.jsonl", lin("register"), False, func(t *testing.T, r Result) {
			lr := r.(*LinearizableResult)
			if !reflect.DeepEqual(lr.InvalidKeys, []string{"{register:1}"}) || lr.InvalidCount != 1 || len(lr.Failures) != 1 {
				t.Fatalf("invalid %v failures %+v", lr.InvalidKeys, lr.Failures)
			}
			f := lr.Failures[0]
			// The witness: write 1, write 2, then the read of 1 that began
			// after both had completed.
			if f.Key != "{register:1}" || !reflect.DeepEqual(f.Witness, []int64{0, 2, 4}) || !f.WitnessMinimal ||
				f.Linearized != 2 || f.State != "2" || len(f.Stuck) == 0 || f.Stuck[0].Index != 4 || f.Stuck[0].Value != int64(1) {
				t.Errorf("failure %+v", f)
			}
			assertMinimalWitness(t, lin("register").(*Linearizable), golden(t, "register-stale-read.jsonl"), f)
			if lr.Visualization != "" {
				t.Errorf("visualization written with no Dir: %q", lr.Visualization)
			}
		}},
		{"register-cas-mismatch-legal.jsonl", lin("register"), True, nil},
		{"register-cas-mismatch-violation.jsonl", lin("register"), False, func(t *testing.T, r Result) {
			f := r.(*LinearizableResult).Failures[0]
			if f.Stuck[0].F != "cas" || f.Stuck[0].Error != "cas-mismatch" {
				t.Errorf("stuck %+v", f.Stuck)
			}
		}},
		{"register-info-write.jsonl", lin("register"), True, nil},
		{"kv-append.jsonl", lin("kv"), True, func(t *testing.T, r Result) {
			if m := r.(*LinearizableResult).Models; m["kv"] != 2 {
				t.Errorf("models %v", m)
			}
		}},
		{"kv-append-invalid.jsonl", lin("kv"), False, func(t *testing.T, r Result) {
			f := r.(*LinearizableResult).Failures[0]
			// append "a" completed before append "b" began: no get can
			// read "ba", whenever "b" took effect.
			if f.Model != "kv" || f.State != `"ab"` || !reflect.DeepEqual(f.Witness, []int64{0, 4}) || len(f.WitnessStory) != 2 {
				t.Errorf("failure %+v", f)
			}
			assertMinimalWitness(t, lin("kv").(*Linearizable), golden(t, "kv-append-invalid.jsonl"), f)
		}},
		{"register-valid.jsonl", linBudget(time.Nanosecond), Unknown, func(t *testing.T, r Result) {
			lr := r.(*LinearizableResult)
			if lr.UndecidedCount != 2 || !reflect.DeepEqual(lr.Undecided, []string{"{register:1}", "{register:2}"}) || !strings.Contains(lr.Reason, "{register:1}") {
				t.Errorf("undecided %v (%d): %s", lr.Undecided, lr.UndecidedCount, lr.Reason)
			}
		}},
		// 30 concurrent writes and a read of a value none wrote: not
		// linearizable, but proving it means trying every order of the
		// writes, which no small budget allows. The verdict must be unknown.
		{"register-undecidable.jsonl", linBudget(200 * time.Millisecond), Unknown, func(t *testing.T, r Result) {
			lr := r.(*LinearizableResult)
			if !reflect.DeepEqual(lr.Undecided, []string{"{register:7}"}) || lr.InvalidCount != 0 || !strings.Contains(lr.Reason, "budget of 200ms") {
				t.Errorf("%+v", lr)
			}
			if lr.DurationS > 5 {
				t.Errorf("the search overran its budget: %.1fs", lr.DurationS)
			}
		}},
		{"set-valid.jsonl", lin("register"), Unknown, func(t *testing.T, r Result) {
			if !strings.Contains(r.(*LinearizableResult).Reason, "no operations") {
				t.Errorf("reason %q", r.(*LinearizableResult).Reason)
			}
		}},

		// set
		{"set-valid.jsonl", &Set{Workloads: []string{"set"}}, True, func(t *testing.T, r Result) {
			sr := r.(*SetResult)
			if sr.Attempted != 4 || sr.OK != 3 || sr.Lost != 0 {
				t.Errorf("%+v", sr)
			}
		}},
		{"set-lost.jsonl", &Set{Workloads: []string{"set"}}, False, func(t *testing.T, r Result) {
			sr := r.(*SetResult)
			if sr.Lost != 1 || sr.OK != 2 || len(sr.LostElements) != 1 {
				t.Fatalf("%+v", sr)
			}
			e := sr.LostElements[0]
			if e.Element != int64(2) || e.Add == nil || e.Add.Index != 2 || e.Add.Process != 1 || e.Add.Time != 20 || e.Add.Node != "10.0.0.3:6379" {
				t.Errorf("lost element %+v add %+v", e, e.Add)
			}
		}},
		{"set-info-recovered.jsonl", &Set{Workloads: []string{"set"}}, True, func(t *testing.T, r Result) {
			sr := r.(*SetResult)
			if sr.Recovered != 1 || sr.OK != 1 || sr.Lost != 0 || sr.Attempted != 3 {
				t.Errorf("%+v", sr)
			}
		}},
		{"set-unexpected.jsonl", &Set{Workloads: []string{"set"}}, False, func(t *testing.T, r Result) {
			sr := r.(*SetResult)
			if sr.Unexpected != 1 || sr.UnexpectedElements[0].Element != int64(9) {
				t.Errorf("%+v", sr)
			}
		}},
		{"set-no-final-read.jsonl", &Set{Workloads: []string{"set"}}, Unknown, func(t *testing.T, r Result) {
			sr := r.(*SetResult)
			if !reflect.DeepEqual(sr.NoFinalRead, []string{"{set:0}"}) || !strings.Contains(sr.Reason, "no final read") {
				t.Errorf("%+v", sr)
			}
		}},
		{"set-late-ack.jsonl", &Set{Workloads: []string{"set"}}, True, func(t *testing.T, r Result) {
			if sr := r.(*SetResult); sr.Unconfirmed != 1 || sr.Lost != 0 {
				t.Errorf("%+v", sr)
			}
		}},

		// counter
		{"counter-valid.jsonl", &Counter{Workloads: []string{"counter"}}, True, func(t *testing.T, r Result) {
			k := r.(*CounterResult).Keys[0]
			if k.Final == nil || k.Final.Value != 8 || k.Final.Lower != 3 || k.Final.Upper != 8 || k.Acknowledged != 3 || k.Unknown != 5 || k.Reads != 2 {
				t.Errorf("%+v final %+v", k, k.Final)
			}
		}},
		{"counter-over.jsonl", &Counter{Workloads: []string{"counter"}}, False, func(t *testing.T, r Result) {
			k := r.(*CounterResult).Keys[0]
			if k.ViolationCount != 1 || k.Violations[0].Kind != "over" || k.Violations[0].Upper != 2 {
				t.Errorf("%+v", k)
			}
		}},
		{"counter-under.jsonl", &Counter{Workloads: []string{"counter"}}, False, func(t *testing.T, r Result) {
			k := r.(*CounterResult).Keys[0]
			if k.ViolationCount != 2 || k.Violations[0].Kind != "under" || k.Violations[0].Lower != 1 || k.Final.Kind != "under" || k.Final.Lower != 3 {
				t.Errorf("%+v", k)
			}
		}},

		// list-append
		{"list-valid.jsonl", &ListAppend{Workloads: []string{"list-append"}}, True, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.Keys != 3 || lr.Txns != 2 || lr.Reads != 8 || len(lr.NoFinalRead) != 0 {
				t.Errorf("%+v", lr)
			}
		}},
		{"list-duplicate.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.Duplicated != 1 || lr.Duplicates[0].Element != int64(1) || lr.Duplicates[0].Count != 2 {
				t.Errorf("%+v", lr)
			}
		}},
		{"list-not-prefix.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.NotPrefix != 1 || lr.Lost != 0 || lr.Reordered != 0 {
				t.Fatalf("%+v", lr)
			}
			m := lr.NotPrefixReads[0]
			if !m.Final || m.Position != 1 || m.Got != int64(3) || m.Want != int64(2) {
				t.Errorf("%+v", m)
			}
		}},
		{"list-lost.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.Lost != 1 || lr.LostElements[0].Element != int64(2) || lr.LostElements[0].Append.Node != "10.0.0.4:6379" {
				t.Errorf("%+v", lr)
			}
		}},
		{"list-reordered.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.Reordered != 1 || lr.NotPrefix != 1 || lr.Reorders[0].First != int64(1) || lr.Reorders[0].Second != int64(2) {
				t.Errorf("%+v", lr)
			}
		}},
		// Only the final read saw 1 and 2, in the order their appends,
		// one acknowledged before the other began, forbid.
		{"list-reordered-realtime.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.Reordered != 1 || lr.NotPrefix != 0 || len(lr.Reorders) != 1 {
				t.Fatalf("%+v", lr)
			}
			x := lr.Reorders[0]
			if x.Kind != "real-time" || x.First != int64(2) || x.Second != int64(1) || x.Read.Index != 4 || x.Other.Index != 0 || x.Append == nil || x.Append.Index != 2 {
				t.Errorf("%+v", x)
			}
		}},
		// Concurrent appends may land in either order, and one of unknown
		// outcome may land any time after its invocation: no reorder.
		{"list-concurrent-order.jsonl", &ListAppend{Workloads: []string{"list-append"}}, True, nil},
		{"list-txn-nonatomic.jsonl", &ListAppend{Workloads: []string{"list-append"}}, False, func(t *testing.T, r Result) {
			lr := r.(*ListAppendResult)
			if lr.NonAtomicTxns != 1 || lr.NotPrefix != 0 || lr.NonAtomic[0].MicroOp != 1 || lr.NonAtomic[0].Txn.Index != 2 {
				t.Errorf("%+v", lr)
			}
		}},

		// multikey
		{"multikey-valid.jsonl", &Multikey{Workloads: []string{"multikey"}}, True, func(t *testing.T, r Result) {
			mr := r.(*MultikeyResult)
			if mr.Reads != 5 || mr.Writes != 3 || mr.Crossslot.Probes != 1 || mr.Crossslot.Rejected != 1 {
				t.Errorf("%+v", mr)
			}
		}},
		{"multikey-torn.jsonl", &Multikey{Workloads: []string{"multikey"}}, False, func(t *testing.T, r Result) {
			mr := r.(*MultikeyResult)
			if mr.Torn != 1 || len(mr.TornReads[0].Writes) != 2 {
				t.Errorf("%+v", mr)
			}
		}},
		{"multikey-null-mix.jsonl", &Multikey{Workloads: []string{"multikey"}}, False, func(t *testing.T, r Result) {
			mr := r.(*MultikeyResult)
			if mr.Torn != 1 || !strings.Contains(mr.TornReads[0].Detail, "null") {
				t.Errorf("%+v", mr)
			}
		}},
		{"multikey-partial.jsonl", &Multikey{Workloads: []string{"multikey"}}, True, nil},
		{"multikey-crossslot-ok.jsonl", &Multikey{Workloads: []string{"multikey"}}, False, func(t *testing.T, r Result) {
			mr := r.(*MultikeyResult)
			if mr.Crossslot.Accepted != 1 || mr.Crossslot.AcceptedOps[0].Node != "10.0.0.2:6379" || mr.Torn != 0 {
				t.Errorf("%+v", mr)
			}
		}},
	} {
		t.Run(tc.file+"/"+tc.checker.Name(), func(t *testing.T) {
			in := golden(t, tc.file)
			r := tc.checker.Check(context.Background(), in)
			if r.Verdict() != tc.want {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Fatalf("verdict %v, want %v\n%s", r.Verdict(), tc.want, b)
			}
			assertJSONVerdict(t, r)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// assertJSONVerdict checks that r marshals to an object whose "valid" is
// its verdict.
func assertJSONVerdict(t *testing.T, r Result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("not an object: %s", b)
	}
	var v Valid
	if err := json.Unmarshal(obj["valid"], &v); err != nil || v != r.Verdict() {
		t.Errorf(`"valid" is %s, verdict %v`, obj["valid"], r.Verdict())
	}
}

func TestSlotsGolden(t *testing.T) {
	for _, tc := range []struct {
		file   string
		expect topology.Expect
		want   Valid
		check  func(t *testing.T, r *SlotsResult)
	}{
		{"slots-ok.topology.jsonl", topology.Expect{Masters: 3, Replicas: 1}, True, func(t *testing.T, r *SlotsResult) {
			if len(r.Windows) != 0 || r.HealthySince == nil || *r.HealthySince != 1e9 || r.Final.Masters != 3 {
				t.Errorf("%+v", r)
			}
		}},
		{"slots-ok.topology.jsonl", topology.Expect{Masters: 3, Replicas: 2}, False, func(t *testing.T, r *SlotsResult) {
			if len(r.Final.ReplicasMissing) != 3 {
				t.Errorf("%+v", r.Final)
			}
		}},
		{"slots-window.topology.jsonl", topology.Expect{Replicas: 1}, True, func(t *testing.T, r *SlotsResult) {
			if r.WindowCount != 1 || len(r.Windows) != 1 {
				t.Fatalf("windows %+v", r.Windows)
			}
			w := r.Windows[0]
			if w.Start != 2e9 || w.End != 3e9 || w.Samples != 2 || w.MaxUncovered != 5462 || w.OpenSlots != 1 || w.Open ||
				!reflect.DeepEqual(w.Unreachable, []string{"10.0.0.3:6379"}) || !reflect.DeepEqual(w.Disagreeing, []string{"10.0.0.2:6379"}) ||
				!reflect.DeepEqual(w.StateNotOK, []string{"10.0.0.2:6379"}) {
				t.Errorf("window %+v", w)
			}
			if *r.HealthySince != 3e9 || *r.LastConverged != 4e9 {
				t.Errorf("healthy since %d, last converged %d", *r.HealthySince, *r.LastConverged)
			}
		}},
		{"slots-uncovered-final.topology.jsonl", topology.Expect{Replicas: 1}, False, func(t *testing.T, r *SlotsResult) {
			if r.Final.Uncovered != 5461 || !reflect.DeepEqual(r.Final.UncoveredSlots, []topology.SlotRange{{Start: 10923, End: 16383}}) || r.HealthySince != nil {
				t.Errorf("final %+v", r.Final)
			}
			if r.WindowCount != 1 || !r.Windows[0].Open {
				t.Errorf("windows %+v", r.Windows)
			}
			if r.LastConverged == nil || *r.LastConverged != 2e9 {
				t.Errorf("last converged %v", r.LastConverged)
			}
		}},
		// A MIGRATE that timed out after the target restored the key: the
		// same key on both ends of the open slot 0. Slot 1 has keys on the
		// source only, slot 2 was not counted on the target: neither is split.
		{"slots-split-final.topology.jsonl", topology.Expect{Replicas: 1}, False, func(t *testing.T, r *SlotsResult) {
			want := []SplitSlot{{Slot: 0, Migrating: "10.0.0.2:6379", Importing: "10.0.0.3:6379", MigratingKeys: 1, ImportingKeys: 1, Both: []string{"{rh161}nemesis:big"}}}
			if !reflect.DeepEqual(r.Final.SplitSlots, want) {
				t.Errorf("split slots %+v, want %+v", r.Final.SplitSlots, want)
			}
			if len(r.Final.OpenSlots) != 6 {
				t.Errorf("open slots %v, want 3 on each end", r.Final.OpenSlots)
			}
			if !strings.Contains(r.Reason, `slot 0: key "{rh161}nemesis:big" on both 10.0.0.2:6379 (migrating, 1 key) and 10.0.0.3:6379 (importing, 1 key)`) {
				t.Errorf("reason %q does not name the key on both nodes", r.Reason)
			}
			if r.WindowCount != 1 || r.Windows[0].SplitSlots != 1 || !r.Windows[0].Open {
				t.Errorf("windows %+v", r.Windows)
			}
		}},
		// Distinct keys on both ends mid-run (a migration under way), closed
		// by the end: valid, the window says it.
		{"slots-split-window.topology.jsonl", topology.Expect{Replicas: 1}, True, func(t *testing.T, r *SlotsResult) {
			if r.WindowCount != 1 || r.Windows[0].SplitSlots != 1 || r.Windows[0].OpenSlots != 2 || r.Windows[0].Open {
				t.Errorf("windows %+v", r.Windows)
			}
			if len(r.Final.SplitSlots) != 0 {
				t.Errorf("final split slots %+v", r.Final.SplitSlots)
			}
		}},
		{"slots-link-down-final.topology.jsonl", topology.Expect{Replicas: 1}, False, func(t *testing.T, r *SlotsResult) {
			if len(r.Final.ReplicasMissing) != 1 || !strings.Contains(r.Final.ReplicasMissing[0], "10.0.0.3:6379 has 0 of 1") {
				t.Errorf("final %+v", r.Final)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := &Input{Topology: goldenTopology(t, tc.file), Expect: tc.expect}
			r := (&Slots{}).Check(context.Background(), in).(*SlotsResult)
			if r.Valid != tc.want {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Fatalf("verdict %v, want %v\n%s", r.Valid, tc.want, b)
			}
			assertJSONVerdict(t, r)
			tc.check(t, r)
		})
	}
	r := (&Slots{}).Check(context.Background(), &Input{})
	if r.Verdict() != Unknown || !strings.Contains(r.(*SlotsResult).Reason, "no topology samples") {
		t.Errorf("no samples: %+v", r)
	}
}

func TestStats(t *testing.T) {
	in := golden(t, "stats.jsonl")
	r := (&Stats{}).Check(context.Background(), in).(*StatsResult)
	if r.Valid != True || r.Ops != 7 || r.OK != 2 || r.Fail != 3 || r.Info != 2 || r.Unfinished != 1 || r.Nemesis != 2 || r.Redirects != 7 {
		t.Errorf("counts %+v", r)
	}
	if r.SpanS != 3 || r.OpsPerSec != 2 {
		t.Errorf("span %v ops/s %v", r.SpanS, r.OpsPerSec)
	}
	if l := r.Latency["write"]["ok"]; l.Count != 1 || l.P50 != 3 || l.Max != 3 {
		t.Errorf("write ok latency %+v", l)
	}
	if l := r.Latency["write"]["info"]; l.P99 != 1000 {
		t.Errorf("write info latency %+v", l)
	}
	want := map[string]ErrorCount{"MOVED": {1, 1.0 / 3}, "timeout": {1, 1.0 / 3}, "CLUSTERDOWN": {1, 1.0 / 3}}
	if !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("errors %+v", r.Errors)
	}
	if got := r.ErrorsPerSecond["MOVED"]; !reflect.DeepEqual(got, []int{0, 1, 0, 0}) {
		t.Errorf("MOVED per second %v", got)
	}
	if got := r.ErrorsPerSecond["CLUSTERDOWN"]; !reflect.DeepEqual(got, []int{0, 0, 1, 0}) {
		t.Errorf("CLUSTERDOWN per second %v", got)
	}
}

func TestErrorClass(t *testing.T) {
	for text, want := range map[string]string{
		"":                         "",
		"cas-mismatch":             "",
		"MOVED 3999 10.0.0.3:6379": "MOVED",
		"ASK 3999 10.0.0.3:6379":   "ASK",
		"TRYAGAIN Multiple keys request during rehashing of slot":                          "TRYAGAIN",
		"CLUSTERDOWN The cluster is down":                                                  "CLUSTERDOWN",
		"CROSSSLOT Keys in request don't hash to the same slot":                            "CROSSSLOT",
		"LOADING Redis is loading the dataset in memory":                                   "LOADING",
		"READONLY You can't write against a read only replica.":                            "READONLY",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.": "MASTERDOWN",
		"read tcp 10.0.0.1:5000->10.0.0.3:6379: i/o timeout":                               "timeout",
		"context deadline exceeded":                                                        "timeout",
		"dial tcp 10.0.0.3:6379: connect: connection refused":                              "connect",
		"EOF":                          "EOF",
		"ERR unknown command 'ASKING'": "REDIS",
		"read tcp 10.0.0.1:5000->10.0.0.3:6379: read: connection reset by peer": "reset",
		"CLUSTERDOWN The cluster is down; retried after: EOF":                   "CLUSTERDOWN",
		"something new": "other",
	} {
		if got := ErrorClass(text); got != want {
			t.Errorf("ErrorClass(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestWorkloadOf(t *testing.T) {
	for key, want := range map[string]string{
		"{register:12}":         "register",
		"{kv:3}":                "kv",
		"{list-append:7}":       "list-append",
		"{multikey:4}:a":        "multikey",
		"{pipeline-register:2}": "pipeline-register",
		"{pipeline-kv:5}":       "pipeline-kv",
		"x{set:0}y{kv:1}":       "set",
		"{counter}":             "counter",
		"plain":                 "",
		"{}{register:1}":        "",
		"{register:1":           "",
		"":                      "",
	} {
		if got := WorkloadOf(key); got != want {
			t.Errorf("WorkloadOf(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestForWorkloads(t *testing.T) {
	cs, err := ForWorkloads([]string{"set", "register", "kv", "pipeline", "multikey", "set"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
	}
	if want := []string{"linearizable", "set", "multikey", "slots", "recovery", "stats"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if l := cs[0].(*Linearizable); !reflect.DeepEqual(l.Workloads, []string{"register", "kv", "pipeline-register", "pipeline-kv"}) {
		t.Errorf("linearizable spaces %v", l.Workloads)
	}
	cs, err = ForWorkloads([]string{"pipeline-kv"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l := cs[0].(*Linearizable); !reflect.DeepEqual(l.Workloads, []string{"pipeline-kv"}) {
		t.Errorf("linearizable spaces %v, want [pipeline-kv]", l.Workloads)
	}
	_, err = ForWorkloads([]string{"register", "bank"}, Options{})
	if err == nil || !strings.Contains(err.Error(), `"bank"`) || !strings.Contains(err.Error(), "counter, kv, list-append, multikey, pipeline, pipeline-kv, pipeline-register, register, set") {
		t.Errorf("unknown workload: %v", err)
	}
	if _, err := ForWorkloads(nil, Options{Only: "bank"}); err == nil {
		t.Error("unknown Only accepted")
	}
}

// TestEverySpaceJudged ties history's table of spaces to the checkers: a
// space whose checker has no constructor, or a constructor that judges no
// space, fails; and every space's workload gets that checker from
// ForWorkloads, with the space among those it selects.
func TestEverySpaceJudged(t *testing.T) {
	kinds := history.SpaceCheckers()
	for kind := range constructors {
		if !slices.Contains(kinds, kind) {
			t.Errorf("checker %s judges no key space of history's table", kind)
		}
	}
	for _, sp := range history.Spaces() {
		if constructors[sp.Checker] == nil {
			t.Errorf("space %s (%s): no constructor for its checker %s", sp.Name, sp, sp.Checker)
			continue
		}
		cs, err := ForWorkloads([]string{sp.Workload}, Options{})
		if err != nil {
			t.Errorf("%s: %v", sp, err)
			continue
		}
		found := false
		for _, c := range cs {
			if c.Name() == sp.Checker {
				found = true
				if sel := newSelector(spacesOf(c), ""); !sel.match(history.Tag(sp.Name, 3) + ":a") {
					t.Errorf("%s: the %s checker does not select %s's keys", sp, sp.Checker, sp.Name)
				}
			}
		}
		if !found {
			t.Errorf("%s: ForWorkloads gave no %s checker", sp, sp.Checker)
		}
	}
}

// spacesOf is the spaces a checker of a space kind was built with.
func spacesOf(c Checker) []string {
	switch c := c.(type) {
	case *Linearizable:
		return c.Workloads
	case *Set:
		return c.Workloads
	case *Counter:
		return c.Workloads
	case *ListAppend:
		return c.Workloads
	case *Multikey:
		return c.Workloads
	}
	return nil
}

// TestOnly checks a foreign history, whose keys carry no hash tag, as one
// workload.
func TestOnly(t *testing.T) {
	in := golden(t, "foreign-register.jsonl")
	cs, err := ForWorkloads(nil, Options{Only: "register"})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check(context.Background(), in, cs)
	lr := rep.Checkers["linearizable"].(*LinearizableResult)
	if lr.Valid != False || lr.Keys != 1 || lr.InvalidKeys[0] != "x" {
		t.Errorf("%+v", lr)
	}
	// Without Only the same history has nothing for the register checker.
	if r := lin("register").Check(context.Background(), in); r.Verdict() != Unknown {
		t.Errorf("without Only: %v", r.Verdict())
	}
}

func TestSkippedKeyIsUnknown(t *testing.T) {
	ops := []history.Op{
		{Index: 0, Time: 1, Process: 0, Type: history.Invoke, F: "write", Key: "{register:1}", Value: "seven"},
		{Index: 1, Time: 2, Process: 0, Type: history.OK, F: "write", Key: "{register:1}", Value: "seven"},
		{Index: 2, Time: 3, Process: 0, Type: history.Invoke, F: "get", Key: "{register:2}"},
		{Index: 3, Time: 4, Process: 0, Type: history.OK, F: "get", Key: "{register:2}"},
		{Index: 4, Time: 5, Process: 0, Type: history.Invoke, F: "read", Key: "{register:2}"},
		{Index: 5, Time: 6, Process: 0, Type: history.OK, F: "read", Key: "{register:2}"},
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	r := lin("register").Check(context.Background(), &Input{Ops: ops, Operations: pairs}).(*LinearizableResult)
	if r.Valid != Unknown || len(r.Skipped) != 2 || !strings.Contains(r.Skipped[0].Reason, "not an integer") || !strings.Contains(r.Skipped[1].Reason, "mixes") {
		t.Errorf("%+v", r)
	}
}

// TestVisualization writes porcupine's drawing of a failing key into Dir.
func TestVisualization(t *testing.T) {
	in := golden(t, "register-stale-read.jsonl")
	in.Dir = t.TempDir()
	r := lin("register").Check(context.Background(), in).(*LinearizableResult)
	if r.Visualization != VisualizationFile || r.VisualizationError != "" {
		t.Fatalf("%+v", r)
	}
	b, err := os.ReadFile(filepath.Join(in.Dir, VisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "read → 1") || strings.Contains(string(b), "{register:2}") {
		t.Errorf("visualization does not show only the failing key")
	}
}

func TestCancelledIsUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := golden(t, "register-stale-read.jsonl")
	for _, c := range []Checker{lin("register"), &Set{Workloads: []string{"register"}}} {
		if r := c.Check(ctx, in); r.Verdict() != Unknown {
			t.Errorf("%s: %v after cancel", c.Name(), r.Verdict())
		}
	}
}

// TestLoadAndCheck loads a run directory whose files were cut mid-line,
// checks it and writes results.json's shape.
func TestLoadAndCheck(t *testing.T) {
	in, err := Load(filepath.Join("testdata", "run-truncated"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Warnings) != 2 || !strings.Contains(in.Warnings[0], "history.jsonl: line 15 ends early") || !strings.Contains(in.Warnings[1], "topology.jsonl: line 4 ends early") {
		t.Errorf("warnings %q", in.Warnings)
	}
	if len(in.Ops) != 14 || len(in.Operations) != 7 || len(in.Topology) != 3 {
		t.Errorf("ops %d operations %d samples %d", len(in.Ops), len(in.Operations), len(in.Topology))
	}
	in.Dir = "" // keep testdata clean
	in.Expect = topology.Expect{Masters: 3, Replicas: 1}
	cs, err := ForWorkloads([]string{"register"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check(context.Background(), in, cs)
	if rep.Valid != True || !reflect.DeepEqual(rep.Names, []string{"linearizable", "slots", "recovery", "stats"}) || rep.Stats.Ops != 7 {
		t.Fatalf("report %+v", rep)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Valid    Valid                      `json:"valid"`
		Checkers map[string]json.RawMessage `json:"checkers"`
		Stats    struct {
			Ops       int     `json:"ops"`
			OpsPerSec float64 `json:"ops_per_sec"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Valid != True || len(got.Checkers) != 4 || got.Stats.Ops != 7 || got.Stats.OpsPerSec == 0 {
		t.Errorf("results.json %s", b)
	}

	// A broken history is an error naming the record.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, HistoryFile), []byte(`{"index":0,"time":1,"process":0,"type":"ok","f":"read"}`+"\n"), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no op outstanding") {
		t.Errorf("broken history: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("missing history accepted")
	}
}

// writeGzip writes data gzipped to path.
func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gzipRunDir copies run dir src with its history gzipped (no history.jsonl).
func gzipRunDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == HistoryFile {
			writeGzip(t, filepath.Join(dst, history.GzipFile), b)
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLoadGzipped: a run dir whose history was gzipped loads into the same
// Input and gets the same verdict; its warnings name the gzipped file.
func TestLoadGzipped(t *testing.T) {
	plainDir := filepath.Join("testdata", "run-truncated")
	gzDir := gzipRunDir(t, plainDir)
	if _, err := os.Stat(filepath.Join(gzDir, HistoryFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the gzipped copy has a %s: %v", HistoryFile, err)
	}
	plain, err := Load(plainDir)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := Load(gzDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(gz.Ops) != 14 || !reflect.DeepEqual(gz.Ops, plain.Ops) || !reflect.DeepEqual(gz.Operations, plain.Operations) ||
		!reflect.DeepEqual(gz.Topology, plain.Topology) || gz.Truncated != plain.Truncated || gz.Truncated == "" {
		t.Errorf("gzipped run dir loads differently: %d ops, truncated %q; plain %d ops, truncated %q", len(gz.Ops), gz.Truncated, len(plain.Ops), plain.Truncated)
	}
	if want := strings.Replace(plain.Warnings[0], HistoryFile, history.GzipFile, 1); len(gz.Warnings) != 2 || gz.Warnings[0] != want || gz.Warnings[1] != plain.Warnings[1] {
		t.Errorf("warnings %q, want %q and %q", gz.Warnings, want, plain.Warnings[1])
	}
	plain.Dir, gz.Dir = "", "" // keep testdata clean
	cs, err := ForWorkloads([]string{"register"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := Check(context.Background(), plain, cs), Check(context.Background(), gz, cs)
	if a.Valid != True || b.Valid != a.Valid || !reflect.DeepEqual(b.Names, a.Names) || !reflect.DeepEqual(b.Stats, a.Stats) {
		t.Errorf("gzipped: %v %v %+v; plain: %v %v %+v", b.Valid, b.Names, b.Stats, a.Valid, a.Names, a.Stats)
	}
	for _, name := range a.Names {
		if va, vb := a.Checkers[name].Verdict(), b.Checkers[name].Verdict(); va != vb {
			t.Errorf("%s: %v gzipped, %v plain", name, vb, va)
		}
	}

	// A gzip stream cut short (a compression killed midway) is an error
	// that says so.
	full, err := os.ReadFile(filepath.Join(gzDir, history.GzipFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gzDir, history.GzipFile), full[:len(full)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(gzDir); err == nil || !strings.Contains(err.Error(), "cut short") || !strings.Contains(err.Error(), history.GzipFile) {
		t.Errorf("cut gzip stream: %v", err)
	}
}

// TestCheckComposes takes the worst verdict and survives a panicking checker.
func TestCheckComposes(t *testing.T) {
	in := golden(t, "set-lost.jsonl")
	rep := Check(context.Background(), in, []Checker{&Set{Workloads: []string{"set"}}, panicky{}, &Stats{}})
	if rep.Valid != False || rep.Checkers["panicky"].Verdict() != Unknown || rep.Stats == nil {
		t.Errorf("%+v", rep)
	}
	res, err := rep.Results()
	if err != nil || !strings.Contains(string(res.Checkers["panicky"]), "panicked: boom") {
		t.Errorf("%v %s", err, res.Checkers["panicky"])
	}
	rep = Check(context.Background(), in, nil)
	if rep.Valid != True || rep.Stats == nil || rep.Stats.Ops != 4 {
		t.Errorf("no checkers: %+v", rep)
	}
}

type panicky struct{}

func (panicky) Name() string                         { return "panicky" }
func (panicky) Check(context.Context, *Input) Result { panic("boom") }

// TestLinearizableAgreesWithPlainPorcupine compares the checker with a
// plain porcupine wrapper on random small histories, half of them with
// corrupted reads, where keys see real concurrency.
func TestLinearizableAgreesWithPlainPorcupine(t *testing.T) {
	disagree := 0
	invalid := 0
	for seed := uint64(1); seed <= 60; seed++ {
		g := registerGen{Records: 400, Keys: 2, Processes: 6, InfoRate: 0.05, Seed: seed}
		if seed%2 == 0 {
			g.Corrupt = 0.02
		}
		dir := t.TempDir()
		path := writeRegisterFile(t, dir, g)
		ours := ourCheck(t, dir, time.Minute)
		plain := plainCheck(t, path)
		if (ours.Valid == True) != (plain == "Ok") || ours.Valid == Unknown {
			disagree++
			t.Errorf("seed %d: ours %v, plain %v (%s)", seed, ours.Valid, plain, ours.Reason)
		}
		if ours.Valid == False {
			invalid++
			if seed%2 == 1 {
				t.Errorf("seed %d: an uncorrupted history found invalid", seed)
			}
		}
	}
	if invalid == 0 {
		t.Error("no corrupted history was found invalid: the corruption does not bite")
	}
}

// TestReadHistoryHalves: Load's two-core reader gives what history.ReadFile
// gives, on a file large enough to be split, truncated, with blank lines,
// and broken (the error names the same line).
func TestReadHistoryHalves(t *testing.T) {
	dir := t.TempDir()
	path := writeRegisterFile(t, dir, registerGen{Records: 100_000, Keys: 10, Processes: 5, InfoRate: 0.01, Seed: 3})
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(base) < parallelAbove {
		t.Fatalf("test file of %d bytes is too small to be split", len(base))
	}
	half := len(base) / 3
	nl := half + strings.IndexByte(string(base[half:]), '\n') + 1
	for _, tc := range []struct {
		name string
		data string
	}{
		{"plain", string(base)},
		{"truncated", string(base) + `{"index":100000,"time":1,"pro`},
		{"blank lines", string(base[:nl]) + "\n\n  \n" + string(base[nl:])},
		{"broken", string(base[:nl]) + "{nope}\n" + string(base[nl:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, HistoryFile)
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			want, wantRes, wantErr := history.ReadFile(p)
			// The same bytes gzipped are read in one piece, in chunks:
			// the same records, result and error but for the file's name.
			gzDir := t.TempDir()
			gz := filepath.Join(gzDir, history.GzipFile)
			writeGzip(t, gz, []byte(tc.data))
			for _, c := range []struct{ dir, path string }{{dir, p}, {gzDir, gz}} {
				got, gotRes, gotPath, gotErr := readHistory(c.dir)
				if gotPath != c.path {
					t.Errorf("read %s, want %s", gotPath, c.path)
				}
				if (wantErr == nil) != (gotErr == nil) || wantErr != nil && strings.ReplaceAll(wantErr.Error(), p, c.path) != gotErr.Error() {
					t.Fatalf("%s: error %v, want %v", c.path, gotErr, wantErr)
				}
				if wantRes != gotRes {
					t.Errorf("%s: result %+v, want %+v", c.path, gotRes, wantRes)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: records differ: %d, want %d", c.path, len(got), len(want))
				}
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, _, err := readHalves(f); (err == nil) != (tc.name != "broken") {
				t.Errorf("read in halves: %v", err)
			}
		})
	}
}

// TestPipelineJudged: pipeline ops, under the pipeline workload's own key
// spaces, reach the linearizable checker with the model of what they
// pipeline, and a stale pipelined read is caught.
func TestPipelineJudged(t *testing.T) {
	relabel := func(in *Input, from, to string) *Input {
		for i := range in.Operations {
			for _, r := range []*history.Op{in.Operations[i].Invoke, in.Operations[i].Complete} {
				r.Key = strings.Replace(r.Key, "{"+from+":", "{"+to+":", 1)
			}
		}
		return in
	}
	for _, tc := range []struct {
		file, from, to, model string
		want                  Valid
	}{
		{"register-valid.jsonl", "register", "pipeline-register", history.ModelRegister, True},
		{"register-stale-read.jsonl", "register", "pipeline-register", history.ModelRegister, False},
		{"kv-append.jsonl", "kv", "pipeline-kv", history.ModelKV, True},
	} {
		in := relabel(golden(t, tc.file), tc.from, tc.to)
		cs, err := ForWorkloads([]string{"pipeline"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep := Check(context.Background(), in, cs)
		lr := rep.Checkers[history.CheckLinearizable].(*LinearizableResult)
		if lr.Valid != tc.want || lr.OpsJudged[tc.to] == 0 || lr.Models[tc.model] == 0 {
			t.Errorf("%s as %s: %s, judged %v, models %v; want %s, ops judged, model %s", tc.file, tc.to, lr.Valid, lr.OpsJudged, lr.Models, tc.want, tc.model)
		}
	}
}
