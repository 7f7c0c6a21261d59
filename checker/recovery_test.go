package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// recoveryCase is a hand-made run: masters a (owning every slot but
// key2's) and b (key2's slot), c a's replica; one kill-like action on a
// from 5 s to 15 s; key1 (a's) and key2 (b's) written every 100 ms from
// 0 to 20 s. The samples (every 250 ms) show c owning a's slots, with
// every node agreeing, from promoteAt on (0: never).
type recoveryCase struct {
	// aAnswers: during the fault a still answers the monitor, with its
	// stale map, and flags b and c failing, while b and c flag it (a
	// partition); otherwise it does not answer (a kill).
	aAnswers bool
	// promoteAt is when c takes a's slots over in the samples (ns; 0 never).
	promoteAt int64
	// servedFrom is when key1's ops start being answered ok by c (0:
	// never; until then they fail at a).
	servedFrom int64
}

const (
	key1 = "{register:1}"
	key2 = "{register:2}"
	key3 = "{register:3}" // a's too, first used at 12 s
	sec  = int64(1e9)
)

func (rc recoveryCase) input(t *testing.T) *Input {
	t.Helper()
	s1, s2 := topology.KeySlot(key1), topology.KeySlot(key2)
	if s3 := topology.KeySlot(key3); s1 == s2 || s3 == s2 || s3 == s1 {
		t.Fatal("the keys share a slot")
	}
	aRanges := []topology.SlotRange{{Start: 0, End: s2 - 1}, {Start: s2 + 1, End: topology.NumSlots - 1}}
	bRanges := []topology.SlotRange{{Start: s2, End: s2}}
	if s2 == 0 {
		aRanges = aRanges[1:]
	}
	var ops []history.Op
	add := func(o history.Op) {
		o.Index = int64(len(ops))
		ops = append(ops, o)
	}
	p := 0
	for at := int64(0); at < 20*sec; at += sec / 10 {
		// key2 always ok at b.
		add(history.Op{Time: at, Process: 0, Type: history.Invoke, F: "write", Key: key2, Value: at})
		add(history.Op{Time: at + 1e6, Process: 0, Type: history.OK, F: "write", Key: key2, Value: at, Node: "10.0.0.2:6379"})
		// key1: ok at a before the fault; then failing at a until served
		// by c, if ever.
		add(history.Op{Time: at, Process: 1 + p, Type: history.Invoke, F: "write", Key: key1, Value: at})
		switch {
		case at < 5*sec:
			add(history.Op{Time: at + 1e6, Process: 1 + p, Type: history.OK, F: "write", Key: key1, Value: at, Node: "10.0.0.1:6379"})
		case rc.servedFrom > 0 && at >= rc.servedFrom:
			add(history.Op{Time: at + 1e6, Process: 1 + p, Type: history.OK, F: "write", Key: key1, Value: at, Node: "10.0.0.3:6379"})
		default:
			add(history.Op{Time: at + 1e6, Process: 1 + p, Type: history.Fail, F: "write", Key: key1, Value: at, Node: "10.0.0.1:6379", Error: "dial tcp 10.0.0.1:6379: connect: connection refused"})
		}
		if at >= 12*sec {
			// key3, first used long after the slot moved: ok at c at once
			// when key1 is (its idle time is not the client's delay).
			add(history.Op{Time: at, Process: 1000 + p, Type: history.Invoke, F: "write", Key: key3, Value: at})
			if rc.servedFrom > 0 {
				add(history.Op{Time: at + 1e6, Process: 1000 + p, Type: history.OK, F: "write", Key: key3, Value: at, Node: "10.0.0.3:6379"})
			} else {
				add(history.Op{Time: at + 1e6, Process: 1000 + p, Type: history.Fail, F: "write", Key: key3, Value: at, Node: "10.0.0.1:6379", Error: "dial tcp 10.0.0.1:6379: connect: connection refused"})
			}
		}
		if at == 5*sec {
			add(history.Op{Time: at + 2e6, Process: history.NemesisProcess, Type: history.Info, F: "kill",
				Value: map[string]any{"action": int64(0), "fault": "kill n1", "started_ns": 5 * sec, "nodes": []any{"10.0.0.1:6379"}}})
		}
		if at == 15*sec {
			add(history.Op{Time: at + 2e6, Process: history.NemesisProcess, Type: history.Info, F: "kill",
				Value: map[string]any{"action": int64(0), "heal": true, "fault": "kill n1"}})
		}
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	var samples []topology.Sample
	for at := int64(0); at < 20*sec; at += sec / 4 {
		faulty := at >= 5*sec && at < 15*sec
		promoted := rc.promoteAt > 0 && at >= rc.promoteAt
		owners := map[string][]topology.SlotRange{"a": aRanges, "b": bRanges}
		if promoted {
			owners = map[string][]topology.SlotRange{"c": aRanges, "b": bRanges}
		}
		a := topology.SampleNode{Addr: "10.0.0.1:6379", ID: "a", Role: "master", State: "ok", Slots: aRanges, Owners: map[string][]topology.SlotRange{"a": aRanges, "b": bRanges}}
		b := topology.SampleNode{Addr: "10.0.0.2:6379", ID: "b", Role: "master", State: "ok", Slots: bRanges, Owners: owners}
		c := topology.SampleNode{Addr: "10.0.0.3:6379", ID: "c", Role: "replica", MasterID: "a", State: "ok", Owners: owners}
		if promoted {
			c.Role, c.MasterID, c.Slots = "master", "", aRanges
		}
		if faulty {
			b.Failed, c.Failed = []string{"a"}, []string{"a"}
			if rc.aAnswers {
				a.State, a.Failed = "fail", []string{"b", "c"}
			} else {
				a = topology.SampleNode{Addr: a.Addr, Error: "dial tcp 10.0.0.1:6379: connect: connection refused"}
			}
		}
		if at >= 15*sec && promoted {
			a.Role, a.Slots, a.MasterID, a.Owners = "replica", nil, "c", owners
		}
		samples = append(samples, topology.Sample{Time: at, Nodes: []topology.SampleNode{a, b, c}})
	}
	return &Input{Ops: ops, Operations: pairs, Topology: samples}
}

func TestRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		rc   recoveryCase
		// want: client_recovery_s (negative: null, with wantReason in the reason)
		want       float64
		wantReason string
		never      int
	}{
		// Promoted at 8 s; key1's op invoked at 8.6 s is the first ok at c,
		// completing at 8.601 s.
		{name: "kill, recovered", rc: recoveryCase{promoteAt: 8 * sec, servedFrom: 86 * sec / 10}, want: 0.601},
		// The same while a, cut off, still answers with its stale map: the
		// others flag it, so it is not counted among those who must agree.
		{name: "partition, recovered", rc: recoveryCase{aAnswers: true, promoteAt: 8 * sec, servedFrom: 86 * sec / 10}, want: 0.601},
		// The client got to c before the samples showed it: key1's slot
		// counts 0, not negative; the figure is key3's 1 ms.
		{name: "client before the samples", rc: recoveryCase{promoteAt: 8 * sec, servedFrom: 79 * sec / 10}, want: 0.001},
		// Promoted, but every op on key1 kept failing at a: never.
		{name: "never recovered", rc: recoveryCase{promoteAt: 8 * sec}, want: -1, wantReason: "no op on it answered ok there afterwards", never: 1},
		// Nothing moved (the old master came back as master).
		{name: "nothing moved", rc: recoveryCase{}, want: -1, wantReason: "no slot the clients used changed owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.rc.input(t)
			r := (&Recovery{}).Check(context.Background(), in).(*RecoveryResult)
			if r.Valid != True || len(r.Actions) != 1 {
				t.Fatalf("valid %v, %d actions: %+v", r.Valid, len(r.Actions), r)
			}
			a := r.Actions[0]
			if a.Start != 5*sec || a.End != 15*sec+2e6 || !a.Healed || a.F != "kill" {
				t.Errorf("action %+v: want kill from 5 s to its heal", a)
			}
			if tc.want >= 0 {
				if a.ClientRecoveryS == nil || *a.ClientRecoveryS != tc.want {
					t.Errorf("client_recovery_s %v (%s), want %v", fmtPtr(a.ClientRecoveryS), a.Reason, tc.want)
				}
				byKey := map[string]SlotMove{}
				for _, m := range a.Moved {
					byKey[m.Key] = m
				}
				m1, m3 := byKey[key1], byKey[key3]
				if len(a.Moved) != 2 || m1.Slot != topology.KeySlot(key1) || m1.From != "10.0.0.1:6379" || m1.To != "10.0.0.3:6379" || m1.Topology != 8*sec || m1.Wanted != 8*sec {
					t.Errorf("moved %+v: want key1's and key3's slots from a to c at 8 s, key1's wanted then", a.Moved)
				}
				if m3.Wanted != 12*sec || m3.RecoveryS == nil || *m3.RecoveryS != 0.001 {
					t.Errorf("key3's slot %+v: want it wanted at 12 s and served 1 ms later", m3)
				}
			} else if a.ClientRecoveryS != nil || !strings.Contains(a.Reason, tc.wantReason) {
				t.Errorf("client_recovery_s %v, reason %q: want null because %q", fmtPtr(a.ClientRecoveryS), a.Reason, tc.wantReason)
			}
			if r.NeverRecovered != tc.never {
				t.Errorf("never_recovered %d, want %d", r.NeverRecovered, tc.never)
			}
			// The slots moved when the samples showed c serving them, 3 s
			// after the kill; nothing moved, no figure.
			if moved := len(a.Moved) > 0; moved && (a.MovedS == nil || *a.MovedS != 3) || !moved && a.MovedS != nil {
				t.Errorf("moved_s %v with %d slots moved, want 3 s (null when none moved)", fmtPtr(a.MovedS), len(a.Moved))
			}
			// Rate: 20 ok/s before; during (5 s to 15.002 s) key2's 101 ok
			// ops plus key1's from servedFrom on.
			served := 0
			if f := tc.rc.servedFrom; f > 0 {
				for at := max(f, 5*sec); at < 15*sec+1e6; at += sec / 10 {
					served++
				}
				served += 31 // key3's, 12.0 to 15.0 s
			}
			wantRatio := round3(float64(101+served) / 10.002 / 20)
			if a.RateRatio == nil || *a.RateRatio != wantRatio {
				t.Errorf("rate_ratio %v (before %v, during %v, %s), want %v", fmtPtr(a.RateRatio), fmtPtr(a.RateBefore), fmtPtr(a.RateDuring), a.RateReason, wantRatio)
			}
		})
	}
}

// TestRecoveryWithoutSamples: the rate is measured, the recovery is null
// with the reason, and nothing is made up.
func TestRecoveryWithoutSamples(t *testing.T) {
	in := recoveryCase{promoteAt: 8 * sec, servedFrom: 86 * sec / 10}.input(t)
	in.Topology = nil
	r := ComputeRecovery(in)
	if len(r.Actions) != 1 || r.Actions[0].ClientRecoveryS != nil || r.Actions[0].Reason == "" || r.Note == "" || r.MaxClientRecoveryS != nil {
		t.Fatalf("%+v: want a null recovery with a reason", r)
	}
	if r.Actions[0].RateRatio == nil {
		t.Errorf("rate_ratio null (%s): the history alone gives it", r.Actions[0].RateReason)
	}
}

func fmtPtr(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}

// TestRecoveryUntimedAction: an action with no `for` (a failover) lasts
// its inject, though the end of the run records a heal for it; one with a
// `for`, or from a history written before for_ns was recorded, lasts to
// its heal.
func TestRecoveryUntimedAction(t *testing.T) {
	rec := func(i int64, at int64, v map[string]any) history.Op {
		return history.Op{Index: i, Time: at, Process: history.NemesisProcess, Type: history.Info, F: "failover", Value: v}
	}
	for _, tc := range []struct {
		name    string
		inject  map[string]any
		wantEnd int64
	}{
		{"no for", map[string]any{"action": int64(0), "started_ns": 5 * sec, "for_ns": int64(0)}, 6 * sec},
		{"for 3s", map[string]any{"action": int64(0), "started_ns": 5 * sec, "for_ns": 3 * sec}, 20 * sec},
		{"older history", map[string]any{"action": int64(0), "started_ns": 5 * sec}, 20 * sec},
	} {
		acts := nemesisActions([]history.Op{rec(0, 6*sec, tc.inject), rec(1, 20*sec, map[string]any{"action": int64(0), "heal": true})})
		if len(acts) != 1 || acts[0].Start != 5*sec || acts[0].Effect != 6*sec || acts[0].End != tc.wantEnd || !acts[0].Healed {
			t.Errorf("%s: %+v, want from 5 s, in effect at 6 s, ending at %d", tc.name, acts, tc.wantEnd)
		}
	}
}
