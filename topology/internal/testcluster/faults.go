package testcluster

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/wait"
)

// TCQdiscs lists this machine's qdiscs but the noqueue ones that every
// container's veth comes and goes with.
func TCQdiscs(t *testing.T) string {
	out, err := exec.Command("tc", "qdisc", "show").CombinedOutput()
	if err != nil {
		return "(tc: " + err.Error() + ")"
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "qdisc noqueue ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// SlotMaster returns the address of the master of slot 0 and of its replica.
func SlotMaster(t *testing.T, r Rig) (master, replica topology.NodeInfo) {
	t.Helper()
	s := r.A.Snapshot(context.Background(), r.C.Addrs())
	m, ok := s.Node(s.Owners()[0])
	if !ok {
		t.Fatal("no master owns slot 0")
	}
	for _, n := range s.Members() {
		if n.IsReplica() && n.MasterID == m.ID {
			return m, n
		}
	}
	t.Fatalf("master %s has no replica", m.Addr)
	return
}

// NodeName is the backend's name of the node at addr.
func NodeName(t *testing.T, c *topology.Cluster, addr string) string {
	n, ok := c.Node(addr)
	if !ok {
		t.Fatalf("no node at %s", addr)
	}
	return n.Name
}

// Ping is one PING from this machine (as the harness's clients), with a short timeout.
func Ping(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rc.Close()
	start := time.Now()
	err := rc.Ping(ctx).Err()
	return time.Since(start), err
}

// WaitHealthy waits at the health gate for the rig's cluster.
func WaitHealthy(t *testing.T, r Rig, masters, replicas int) {
	t.Helper()
	if _, err := r.A.WaitHealthy(context.Background(), r.C.Addrs(), topology.Expect{Masters: masters, Replicas: replicas}, 45*time.Second); err != nil {
		t.Fatal(err)
	}
}

// PartitionFailover cuts the master of slot 0 off from every
// other node while this machine's clients still reach it: its replica takes
// over, and after the heal the old master rejoins as a replica.
func PartitionFailover(t *testing.T, r Rig) {
	ctx := context.Background()
	m, rep := SlotMaster(t, r)
	mName := NodeName(t, r.C, m.Addr)
	var cuts []topology.Cut
	for _, n := range r.C.Nodes {
		if n.Name != mName {
			cuts = append(cuts, topology.Cut{From: mName, To: n.Name}, topology.Cut{From: n.Name, To: mName})
		}
	}
	start := time.Now()
	if err := r.Network().Partition(ctx, r.C, cuts); err != nil {
		t.Fatal(err)
	}
	t.Logf("partition of %d cuts in effect after %v", len(cuts), time.Since(start))
	if err := r.Network().Partition(ctx, r.C, cuts[:2]); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := Ping(ctx, m.Addr, time.Second); err != nil {
		t.Errorf("the isolated master no longer answers this machine's clients: %v", err)
	}
	if _, err := r.A.Do(ctx, rep.Addr, "PING"); err != nil {
		t.Fatalf("replica %s: %v", rep.Addr, err)
	}
	// The cut is real: the master cannot reach its replica's port.
	if out, err := r.A.DoText(ctx, m.Addr, "CLUSTER", "NODES"); err == nil {
		t.Logf("master's view right after the cut:\n%s", out)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := wait.Poll(wctx, 100*time.Millisecond, func() (bool, string, error) {
		self, ok := r.A.Snapshot(wctx, []string{rep.Addr}).Views[0].Self()
		return ok && self.IsMaster(), "replica " + rep.Addr + " not promoted", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica promoted %v after the cut", time.Since(start))
	if err := r.Network().Unpartition(ctx, r.C, cuts); err != nil {
		t.Fatal(err)
	}
	if err := r.Network().Unpartition(ctx, r.C, cuts); err != nil { // idempotent
		t.Fatal(err)
	}
	WaitHealthy(t, r, 3, 1)
	self, _ := r.A.Snapshot(ctx, []string{m.Addr}).Views[0].Self()
	if !self.IsReplica() || self.MasterID != rep.ID {
		t.Errorf("old master after heal: flags %v, master %q; want a replica of %s", self.Flags, self.MasterID, rep.ID)
	}
	if err := r.Network().HealNetwork(ctx, r.C); err != nil {
		t.Fatal(err)
	}
}

// KillRestartPauseResume: a node stops answering, comes back,
// and the cluster is healthy again; each primitive is idempotent.
func KillRestartPauseResume(t *testing.T, r Rig) {
	ctx := context.Background()
	_, rep := SlotMaster(t, r)
	name := NodeName(t, r.C, rep.Addr)
	lc := r.Lifecycle()

	for range 2 {
		if err := lc.Kill(ctx, r.C, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Ping(ctx, rep.Addr, 300*time.Millisecond); err == nil {
		t.Error("a killed node answers PING")
	}
	if err := lc.Pause(ctx, r.C, name); err == nil {
		t.Error("pausing a killed node succeeded")
	}
	for range 2 {
		if err := lc.Restart(ctx, r.C, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Ping(ctx, rep.Addr, time.Second); err != nil {
		t.Errorf("restarted node: %v", err)
	}
	WaitHealthy(t, r, 3, 1)

	for range 2 {
		if err := lc.Pause(ctx, r.C, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Ping(ctx, rep.Addr, 300*time.Millisecond); err == nil {
		t.Error("a paused node answers PING")
	}
	for range 2 {
		if err := lc.Resume(ctx, r.C, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Ping(ctx, rep.Addr, time.Second); err != nil {
		t.Errorf("resumed node: %v", err)
	}
	WaitHealthy(t, r, 3, 1)

	// A paused node can be killed, and restarts.
	if err := lc.Pause(ctx, r.C, name); err != nil {
		t.Fatal(err)
	}
	if err := lc.Kill(ctx, r.C, name); err != nil {
		t.Fatalf("kill a paused node: %v", err)
	}
	if err := lc.Restart(ctx, r.C, name); err != nil {
		t.Fatal(err)
	}
	WaitHealthy(t, r, 3, 1)
	if err := lc.Kill(ctx, r.C, "n99"); err == nil {
		t.Error("killing an unknown node succeeded")
	}
}

// MedianPing is the median of n PINGs from this machine.
func MedianPing(t *testing.T, addr string, n int) time.Duration {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rc.Close()
	ctx := context.Background()
	if err := rc.Ping(ctx).Err(); err != nil { // connect outside the measure
		t.Fatalf("PING %s: %v", addr, err)
	}
	var ds []time.Duration
	for range n {
		start := time.Now()
		if err := rc.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING %s: %v", addr, err)
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

// Netem delays one node's packets: its PINGs slow by the delay,
// another node's do not, and clearing it restores the first.
func Netem(t *testing.T, r Rig) {
	if fc, ok := r.B.(topology.FaultChecker); ok {
		if err := fc.CanFault(topology.AbilityNetem); err != nil {
			t.Skipf("skipping: %v", err)
		}
	}
	ctx := context.Background()
	slow, other := r.C.Nodes[0], r.C.Nodes[1]
	before := MedianPing(t, slow.Addr, 9)
	const delay = 80 * time.Millisecond
	if err := r.Network().Netem(ctx, r.C, slow.Name, topology.NetemSpec{Delay: delay, Jitter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	during, fast := MedianPing(t, slow.Addr, 9), MedianPing(t, other.Addr, 9)
	t.Logf("PING median of %s: %v before, %v with %v delay; of %s: %v", slow.Name, before, during, delay, other.Name, fast)
	if during < delay-5*time.Millisecond || during > delay+60*time.Millisecond {
		t.Errorf("PING of the delayed node takes %v, want about %v", during, delay)
	}
	if fast > delay/2 {
		t.Errorf("PING of another node takes %v: the delay is not per node", fast)
	}
	// Replacing the spec: total loss, then back to nothing.
	if err := r.Network().Netem(ctx, r.C, slow.Name, topology.NetemSpec{Loss: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := Ping(ctx, slow.Addr, 300*time.Millisecond); err == nil {
		t.Error("PING got through 100% loss")
	}
	for range 2 {
		if err := r.Network().ClearNetem(ctx, r.C, slow.Name); err != nil {
			t.Fatal(err)
		}
	}
	if after := MedianPing(t, slow.Addr, 9); after > delay/2 {
		t.Errorf("PING after clearing takes %v", after)
	}
	WaitHealthy(t, r, 3, 0)
	// Left in place, a netem goes with HealNetwork.
	if err := r.Network().Netem(ctx, r.C, slow.Name, topology.NetemSpec{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	if err := r.Network().HealNetwork(ctx, r.C); err != nil {
		t.Fatal(err)
	}
	if after := MedianPing(t, slow.Addr, 9); after > delay/2 {
		t.Errorf("PING after HealNetwork takes %v", after)
	}
}

// AssertNoChain fails the test, as root, when this machine's iptables still
// has the cluster's chain.
func AssertNoChain(t *testing.T, c *topology.Cluster) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	chain := topology.ChainName(c)
	out, err := exec.Command("iptables", "-w", "5", "-S").CombinedOutput()
	if err != nil {
		t.Errorf("iptables -S: %v: %s", err, out)
	} else if strings.Contains(string(out), chain) {
		t.Errorf("iptables still has the cluster's chain %s:\n%s", chain, out)
	}
}
