package workloads

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/local"
)

// TestClientFollowsFailover kills the master of a key's slot and waits
// until its replica has taken the slot over in every surviving node's
// view. The client, whose slot map still names the dead master (it sent
// nothing meanwhile), must then get its ops on that slot answered ok by
// the promoted replica while the old master is still dead: a refused
// connection makes it reload the map from the other nodes before it
// retries. Single ops, a MULTI/EXEC and a pipeline batch are tried. It
// runs twice: as the client is made, and with go-redis's periodic reload
// pushed out to an hour, so that the error-driven refresh alone must do it.
func TestClientFollowsFailover(t *testing.T) {
	localCluster(t) // skips where redis-server is absent
	for _, tc := range []struct {
		name  string
		every time.Duration
	}{{"as made", reloadInterval}, {"refresh alone", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) { followFailover(t, tc.every) })
	}
}

func followFailover(t *testing.T, reloadEvery time.Duration) {
	dir := t.TempDir()
	l, err := local.NewHost(topology.Store{Dir: dir})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := l.Up(ctx, topology.Spec{Name: "t-workloads-failover", Masters: 3, Replicas: 1, Config: map[string]string{"cluster-node-timeout": "2000"}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := l.Down(dctx, c); err != nil {
			t.Errorf("down: %v", err)
		}
		os.RemoveAll(dir)
	}()
	admin := topology.NewAdmin()
	defer admin.Close()
	plan, err := topology.PlanCreate(c.Nodes, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, plan, 30*time.Second); err != nil {
		t.Fatalf("create: %v", err)
	}
	addrs := c.Addrs()

	cl := newClientReloading(Config{Concurrency: 2}.WithDefaults(), addrs, reloadEvery)
	defer cl.close()
	key := tag("register", 2_000_001)
	write := func(k string, v int64) *call {
		return &call{f: "write", key: k, value: v, mutates: true, cmds: [][]any{{"set", k, itoa(v)}}}
	}
	first := cl.do(ctx, write(key, 1))
	if first.typ != history.OK {
		t.Fatalf("first write: %+v", first)
	}
	snap := admin.Snapshot(ctx, addrs)
	owners := snap.Owners()
	masterID := owners[topology.KeySlot(key)]
	// A txn tag and a batch key on the same master.
	onMaster := func(space string) string {
		for n := 2_000_001; ; n++ {
			if k := tag(space, n); owners[topology.KeySlot(k)] == masterID {
				return k
			}
		}
	}
	tg, batchKey := onMaster("list-append"), onMaster("pipeline-register")
	master, _ := snap.Node(masterID)
	if master.Addr != first.node {
		t.Fatalf("the first write was served by %s, the slot's master is %s", first.node, master.Addr)
	}
	if r := cl.do(ctx, listTxn(tg+":a", []any{[]any{"append", tg + ":a", int64(1)}})); r.typ != history.OK {
		t.Fatalf("first txn: %+v", r)
	}
	var replica topology.NodeInfo
	for _, n := range snap.Members() {
		if n.IsReplica() && n.MasterID == masterID {
			replica = n
		}
	}
	if replica.ID == "" {
		t.Fatalf("master %s has no replica", master.Addr)
	}
	var name string
	for _, n := range c.Nodes {
		if n.Addr == master.Addr {
			name = n.Name
		}
	}
	if err := l.Kill(ctx, c, name); err != nil {
		t.Fatal(err)
	}

	// Wait, sending nothing, until every surviving node names the replica
	// as the slot's owner.
	slot := topology.KeySlot(key)
	var survivors []string
	for _, a := range addrs {
		if a != master.Addr {
			survivors = append(survivors, a)
		}
	}
	promoted := false
	for !promoted && ctx.Err() == nil {
		s := admin.Snapshot(ctx, survivors)
		promoted = len(s.Reachable()) == len(survivors)
		for _, v := range s.Reachable() {
			self, _ := v.Self()
			agreed := false
			for _, n := range v.Nodes {
				if n.ID == replica.ID && n.IsMaster() && inRanges(n.Slots, slot) {
					agreed = true
				}
			}
			if !agreed || (self.ID == replica.ID && v.Info.State != "ok") {
				promoted = false
			}
		}
		if !promoted {
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				t.Fatalf("replica %s never took slot %d over: %v", replica.Addr, slot, err)
			}
		}
	}

	// The old master is still dead: these must be answered by the replica.
	before := cl.routes.refreshes.Load()
	w := cl.do(ctx, write(key, 2))
	if w.typ != history.OK || w.node != replica.Addr {
		t.Errorf("write after the failover: %s at %s (%s), want ok at the promoted replica %s", w.typ, w.node, w.err, replica.Addr)
	}
	r := cl.do(ctx, registerRead(key))
	if r.typ != history.OK || r.node != replica.Addr || r.value != int64(2) {
		t.Errorf("read after the failover: %s %v at %s (%s), want 2 at %s", r.typ, r.value, r.node, r.err, replica.Addr)
	}
	x := cl.do(ctx, listTxn(tg+":a", []any{[]any{"append", tg + ":a", int64(2)}}))
	if x.typ != history.OK || x.node != replica.Addr {
		t.Errorf("txn after the failover: %s at %s (%s), want ok at %s", x.typ, x.node, x.err, replica.Addr)
	}
	batch := cl.doBatch(ctx, []*call{write(batchKey, 3), registerRead(batchKey)})
	for i, b := range batch {
		if b.typ != history.OK || b.node != replica.Addr {
			t.Errorf("batch op %d after the failover: %s at %s (%s), want ok at %s", i, b.typ, b.node, b.err, replica.Addr)
		}
	}
	t.Logf("%d slot map refreshes after the failover", cl.routes.refreshes.Load()-before)
}

func inRanges(rs []topology.SlotRange, slot int) bool {
	for _, r := range rs {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}
