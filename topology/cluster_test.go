package topology_test

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/local"
)

// newLocalCluster brings up a healthy cluster on the local backend in a
// fresh store, torn down when the test ends. It skips, saying why, only
// where redis-server is absent.
func newLocalCluster(t *testing.T, name string, masters, replicas int) (*local.Backend, *Cluster, *Admin) {
	t.Helper()
	l, err := local.NewHost(Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	r := testcluster.Up(t, l, l.Store, Spec{Name: name, Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}, time.Minute, nil)
	return l, r.C, r.A
}

// TestFailoverPendingIsMarked: a failover the replica accepted but that is
// not seen done within the timeout is told apart from one that failed, and
// completes all the same.
func TestFailoverPendingIsMarked(t *testing.T) {
	_, c, a := newLocalCluster(t, "pending", 3, 1)
	ctx := context.Background()
	var replica NodeInfo
	for _, m := range a.Snapshot(ctx, c.Addrs()).Members() {
		if m.IsReplica() {
			replica = m
			break
		}
	}
	_, err := a.Failover(ctx, c.Addrs(), replica.ID, FailoverTakeover, time.Nanosecond)
	if !errors.Is(err, ErrFailoverPending) {
		t.Fatalf("failover with no time to wait: %v, want ErrFailoverPending", err)
	}
	if _, err := a.Failover(ctx, c.Addrs(), "not-a-node", FailoverDefault, time.Second); err == nil || errors.Is(err, ErrFailoverPending) {
		t.Errorf("an unknown node: %v, want a plain error", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = wait.Poll(wctx, 50*time.Millisecond, func() (bool, string, error) {
		n, ok := a.Snapshot(wctx, c.Addrs()).Node(replica.ID)
		return ok && n.IsMaster(), "not master yet", nil
	})
	if err != nil {
		t.Errorf("the takeover did not complete: %v", err)
	}
}

// TestKeySlotLive asks a real node, for the golden keys and a few thousand more.
func TestKeySlotLive(t *testing.T) {
	l, err := local.NewHost(Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := l.Up(ctx, Spec{Name: "keyslot", Masters: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down(context.Background(), c)
	a := NewAdmin()
	defer a.Close()
	keys := []string{}
	for k := range ReadKeyslots(t) {
		keys = append(keys, k)
	}
	for i := 0; i < 2000; i++ {
		keys = append(keys, "k"+string(rune('a'+i%26))+string(rune(i)), "{t"+string(rune(i%300))+"}x")
	}
	pipe := a.Client(c.Nodes[0].Addr).Pipeline()
	for _, k := range keys {
		pipe.ClusterKeySlot(ctx, k)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		v, _ := cmd.(interface{ Val() int64 })
		if got := KeySlot(keys[i]); int64(got) != v.Val() {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT says %d", keys[i], got, v.Val())
		}
	}
}
