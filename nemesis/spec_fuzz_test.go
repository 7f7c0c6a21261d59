package nemesis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
)

// FuzzFaults: whatever --nemesis and --nemesis-interval say, Resolve
// returns a bounded timeline of known kinds with valid targets inside the
// time limit, or an error; never a panic, a hang or an unbounded schedule.
func FuzzFaults(f *testing.F) {
	f.Add("partition,kill@primary,pause@n1", int64(10*time.Second), int64(60*time.Second), int64(1))
	f.Add("partition@key-master:{set:0}", int64(time.Nanosecond), int64(time.Hour), int64(7))
	f.Add("reshard@slot-master:99999", int64(-1), int64(1<<62), int64(0))
	f.Add("failover@,,", int64(1<<62), int64(1<<63-1), int64(3))
	f.Fuzz(func(t *testing.T, faults string, interval, limit, seed int64) {
		s := Spec{Faults: strings.Split(faults, ","), Interval: time.Duration(interval)}
		timeline, err := s.Resolve(seed, time.Duration(limit))
		if err != nil {
			return
		}
		if len(timeline) == 0 || len(timeline) > MaxActions {
			t.Fatalf("%d actions", len(timeline))
		}
		for _, a := range timeline {
			if _, err := Lookup(a.Do); err != nil {
				t.Fatalf("unknown kind in the timeline: %v", err)
			}
			if err := Target(a.Target).Validate(); err != nil {
				t.Fatalf("invalid target in the timeline: %v", err)
			}
			if a.At < 0 || a.At >= time.Duration(limit) || a.For < 0 {
				t.Fatalf("action %s outside the %s limit", a, time.Duration(limit))
			}
		}
		if err := Validate(s, nil); err != nil && strings.Contains(err.Error(), "no fault") {
			t.Fatalf("Resolve took kinds Validate refuses: %v", err)
		}
	})
}

// FuzzTarget: a target text parses or is refused; one that parses is
// checked against a six-node cluster (names only: no roles are read) and
// chosen from it without a panic.
func FuzzTarget(f *testing.F) {
	for _, s := range []string{"one", "n1,n3", "slot-master:0", "key-master:{set:0}", "10.0.0.5:6379", "n99", ",", "slot-master:-1"} {
		f.Add(s)
	}
	c := &topology.Cluster{Name: "x", Seq: 6}
	for i := 1; i <= 6; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i)})
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg := Target(s)
		word, _, err := tg.parse()
		if err != nil {
			return
		}
		ValidateNames([]Action{{Do: "pause", Target: s}}, 6)
		if needsRoles(word) {
			return // would read the cluster
		}
		env := &Env{Cluster: c}
		if err := env.CheckTargets(context.Background(), []Action{{Do: "pause", Target: s}}); err != nil {
			return
		}
		picked, _, _, err := env.pick(context.Background(), tg, false)
		if err != nil || len(picked) == 0 {
			t.Fatalf("CheckTargets accepted %q, pick: %v, %d nodes", s, err, len(picked))
		}
	})
}
