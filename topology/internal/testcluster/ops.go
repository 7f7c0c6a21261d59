package testcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
)

// KeysForSlot returns n keys that hash to slot.
func KeysForSlot(slot, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := fmt.Sprintf("k%d", i)
		if topology.KeySlot(k) == slot {
			out = append(out, k)
		}
	}
	return out
}

// WriteKeys sets every key to "v:"+key on the node at addr.
func WriteKeys(ctx context.Context, t *testing.T, a *topology.Admin, addr string, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, err := a.Do(ctx, addr, "SET", k, "v:"+k); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadKeys checks every key reads back "v:"+key from the node at addr.
func ReadKeys(ctx context.Context, t *testing.T, a *topology.Admin, addr string, keys []string) {
	t.Helper()
	for _, k := range keys {
		v, err := a.DoText(ctx, addr, "GET", k)
		if err != nil || v != "v:"+k {
			t.Errorf("GET %s on %s = %q, %v; want %q", k, addr, v, err, "v:"+k)
		}
	}
}

// Healthy waits at the health gate and checks that every node's slot map
// is the same.
func Healthy(ctx context.Context, t *testing.T, a *topology.Admin, addrs []string, e topology.Expect) *topology.Snapshot {
	t.Helper()
	s, err := a.WaitHealthy(ctx, addrs, e, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first := slotMap(s.Views[0])
	for _, v := range s.Views[1:] {
		if slotMap(v) != first {
			t.Errorf("%s's CLUSTER NODES differs from %s's", v.Addr, s.Views[0].Addr)
		}
	}
	return s
}

// ReplicaOf is a replica of master in s.
func ReplicaOf(t *testing.T, s *topology.Snapshot, master string) topology.NodeInfo {
	t.Helper()
	for _, m := range s.Members() {
		if m.IsReplica() && m.MasterID == master {
			return m
		}
	}
	t.Fatalf("master %s has no replica", master)
	return topology.NodeInfo{}
}

// Roles checks that every node's view shows master as a master and
// replica as its replica.
func Roles(ctx context.Context, t *testing.T, a *topology.Admin, addrs []string, master, replica string) {
	t.Helper()
	for _, v := range a.Snapshot(ctx, addrs).Views {
		if v.Err != "" {
			t.Errorf("%s: %s", v.Addr, v.Err)
			continue
		}
		m, r := viewNode(v, master), viewNode(v, replica)
		if !m.IsMaster() || !r.IsReplica() || r.MasterID != master {
			t.Errorf("%s sees %s with flags %v and %s with flags %v, master %q; want master, and replica of the first", v.Addr, master, m.Flags, replica, r.Flags, r.MasterID)
		}
	}
}

// slotMap is one view's owner per slot: the majority of that view alone.
func slotMap(v *topology.NodeView) [topology.NumSlots]string {
	return (&topology.Snapshot{Views: []*topology.NodeView{v}}).Owners()
}

// viewNode is the node with id as v lists it (zero when it does not).
func viewNode(v *topology.NodeView, id string) topology.NodeInfo {
	for _, n := range v.Nodes {
		if n.ID == id {
			return n
		}
	}
	return topology.NodeInfo{}
}
