package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestChainName(t *testing.T) {
	a := ChainName(&Cluster{Name: "x", Dir: "/s1/clusters/x"})
	b := ChainName(&Cluster{Name: "x", Dir: "/s2/clusters/x"})
	if a == b || !strings.HasPrefix(a, ChainPrefix) || len(a) > 28 {
		t.Errorf("chain names %q and %q: want distinct, prefixed, at most 28 characters", a, b)
	}
}

func TestNetemSpecValidate(t *testing.T) {
	ok := []NetemSpec{{Delay: 100 * time.Millisecond}, {Loss: 5}, {Delay: time.Second, Jitter: time.Second, Loss: 100}}
	bad := []NetemSpec{{}, {Delay: -1}, {Delay: time.Millisecond, Jitter: time.Second}, {Loss: 101}, {Delay: 11 * time.Second}}
	for _, q := range ok {
		if err := q.Validate(); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range bad {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}

// --- integration: real clusters on both backends ---

// faultRig is a healthy cluster on one backend, with the fault primitives.
type faultRig struct {
	b     Backend
	c     *Cluster
	a     *Admin
	store Store
}

func (r faultRig) lifecycle() Lifecycle { return r.b.(Lifecycle) }
func (r faultRig) network() Network     { return r.b.(Network) }

// eachBackend runs f on a fresh cluster of each backend, in parallel. A
// backend absent here skips its half, saying why; so do network faults
// without root.
func eachBackend(t *testing.T, what string, masters, replicas int, network bool, f func(t *testing.T, r faultRig)) {
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			if network && os.Geteuid() != 0 {
				t.Skipf("skipping: network faults need root (iptables), and this test runs as uid %d", os.Geteuid())
			}
			f(t, newFaultRig(t, backend, what, masters, replicas))
		})
	}
}

func newFaultRig(t *testing.T, backend, what string, masters, replicas int) faultRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := Spec{Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}
	var r faultRig
	switch backend {
	case "local":
		l, err := NewLocal(Store{Dir: t.TempDir()})
		if err != nil {
			t.Skipf("skipping: %v", err)
		}
		r.b, r.store, spec.Name = l, l.Store, "t-"+what
	case "docker":
		d := dockerTestBackend(t)
		if err := d.EnsureImage(ctx, dockerTestImage(t), nil); err != nil {
			t.Fatal(err)
		}
		r.b, r.store, spec.Name = d, d.Store, dockerTestName(t, what)
	}
	c, err := r.b.Up(ctx, spec)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	r.c = c
	assertNoFaultLeftovers(t, r) // registered first, so it runs after Down
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if n, ok := r.b.(Network); ok && os.Geteuid() == 0 {
			if err := n.HealNetwork(ctx, c); err != nil {
				t.Errorf("heal network: %v", err)
			}
		}
		if l, ok := r.b.(Lifecycle); ok {
			for _, n := range c.Nodes {
				l.Resume(ctx, c, n.Name) // a paused container cannot be removed everywhere
			}
		}
		if err := r.b.Down(ctx, c); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	r.a = NewAdmin()
	r.a.Timeout = time.Second
	t.Cleanup(r.a.Close)
	plan, err := PlanCreate(c.Nodes, masters, replicas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.Create(ctx, plan, time.Minute); err != nil {
		t.Fatalf("create: %v", err)
	}
	return r
}

// assertNoFaultLeftovers checks, when the test ends, that nothing of the
// cluster remains: no chain, no qdisc, no process, no container.
func assertNoFaultLeftovers(t *testing.T, r faultRig) {
	t.Helper()
	qdiscs := tcQdiscs(t)
	chain := ChainName(r.c)
	c := *r.c
	c.Nodes = slices.Clone(r.c.Nodes)
	t.Cleanup(func() {
		if os.Geteuid() == 0 {
			out, err := exec.Command("iptables", "-w", "5", "-S").CombinedOutput()
			if err != nil {
				t.Errorf("iptables -S: %v: %s", err, out)
			} else if strings.Contains(string(out), chain) {
				t.Errorf("iptables still has the cluster's chain %s:\n%s", chain, out)
			}
		}
		if after := tcQdiscs(t); after != qdiscs {
			t.Errorf("tc qdiscs changed:\nbefore: %s\nafter: %s", qdiscs, after)
		}
		switch b := r.b.(type) {
		case *Local:
			for _, n := range c.Nodes {
				if pid := nodePID(n); pid != 0 {
					t.Errorf("node %s: redis-server pid %d still runs", n.Name, pid)
				}
			}
			if left := b.lines.Take(localNetemKey(&c, "")); len(left) > 0 {
				t.Errorf("%d local delay lines left open", len(left))
			}
		case *Docker:
			dockerAssertGone(t, b, c.Name)
			if left := b.lines.Take(dockerNetemKey(&c, "")); len(left) > 0 {
				t.Errorf("%d docker delay lines left open", len(left))
			}
		}
	})
}

// tcQdiscs lists this machine's qdiscs but the noqueue ones that every
// container's veth comes and goes with.
func tcQdiscs(t *testing.T) string {
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

// slotMaster returns the address of the master of slot 0 and of its replica.
func slotMaster(t *testing.T, r faultRig) (master, replica NodeInfo) {
	t.Helper()
	s := r.a.Snapshot(context.Background(), r.c.Addrs())
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

func nodeName(t *testing.T, c *Cluster, addr string) string {
	n, ok := c.Node(addr)
	if !ok {
		t.Fatalf("no node at %s", addr)
	}
	return n.Name
}

// ping is one PING from this machine (as the harness's clients), with a short timeout.
func ping(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rc.Close()
	start := time.Now()
	err := rc.Ping(ctx).Err()
	return time.Since(start), err
}

func waitHealthy(t *testing.T, r faultRig, masters, replicas int) {
	t.Helper()
	if _, err := r.a.WaitHealthy(context.Background(), r.c.Addrs(), Expect{Masters: masters, Replicas: replicas}, 45*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestFaultsPartitionFailover cuts the master of slot 0 off from every
// other node while this machine's clients still reach it: its replica takes
// over, and after the heal the old master rejoins as a replica.
func TestFaultsPartitionFailover(t *testing.T) {
	eachBackend(t, "part", 3, 1, true, func(t *testing.T, r faultRig) {
		ctx := context.Background()
		m, rep := slotMaster(t, r)
		mName := nodeName(t, r.c, m.Addr)
		var cuts []Cut
		for _, n := range r.c.Nodes {
			if n.Name != mName {
				cuts = append(cuts, Cut{From: mName, To: n.Name}, Cut{From: n.Name, To: mName})
			}
		}
		start := time.Now()
		if err := r.network().Partition(ctx, r.c, cuts); err != nil {
			t.Fatal(err)
		}
		t.Logf("partition of %d cuts in effect after %v", len(cuts), time.Since(start))
		if err := r.network().Partition(ctx, r.c, cuts[:2]); err != nil { // idempotent
			t.Fatal(err)
		}
		if _, err := ping(ctx, m.Addr, time.Second); err != nil {
			t.Errorf("the isolated master no longer answers this machine's clients: %v", err)
		}
		if _, err := r.a.Do(ctx, rep.Addr, "PING"); err != nil {
			t.Fatalf("replica %s: %v", rep.Addr, err)
		}
		// The cut is real: the master cannot reach its replica's port.
		if out, err := r.a.DoText(ctx, m.Addr, "CLUSTER", "NODES"); err == nil {
			t.Logf("master's view right after the cut:\n%s", out)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := poll(wctx, 100*time.Millisecond, func() (bool, string, error) {
			self, ok := r.a.Snapshot(wctx, []string{rep.Addr}).Views[0].Self()
			return ok && self.IsMaster(), "replica " + rep.Addr + " not promoted", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("replica promoted %v after the cut", time.Since(start))
		if err := r.network().Unpartition(ctx, r.c, cuts); err != nil {
			t.Fatal(err)
		}
		if err := r.network().Unpartition(ctx, r.c, cuts); err != nil { // idempotent
			t.Fatal(err)
		}
		waitHealthy(t, r, 3, 1)
		self, _ := r.a.Snapshot(ctx, []string{m.Addr}).Views[0].Self()
		if !self.IsReplica() || self.MasterID != rep.ID {
			t.Errorf("old master after heal: %s, want a replica of %s", nodeRole(self), short(rep.ID))
		}
		if err := r.network().HealNetwork(ctx, r.c); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFaultsKillRestartPauseResume: a node stops answering, comes back,
// and the cluster is healthy again; each primitive is idempotent.
func TestFaultsKillRestartPauseResume(t *testing.T) {
	eachBackend(t, "life", 3, 1, false, func(t *testing.T, r faultRig) {
		ctx := context.Background()
		_, rep := slotMaster(t, r)
		name := nodeName(t, r.c, rep.Addr)
		lc := r.lifecycle()

		for range 2 {
			if err := lc.Kill(ctx, r.c, name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ping(ctx, rep.Addr, 300*time.Millisecond); err == nil {
			t.Error("a killed node answers PING")
		}
		if err := lc.Pause(ctx, r.c, name); err == nil {
			t.Error("pausing a killed node succeeded")
		}
		for range 2 {
			if err := lc.Restart(ctx, r.c, name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ping(ctx, rep.Addr, time.Second); err != nil {
			t.Errorf("restarted node: %v", err)
		}
		waitHealthy(t, r, 3, 1)

		for range 2 {
			if err := lc.Pause(ctx, r.c, name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ping(ctx, rep.Addr, 300*time.Millisecond); err == nil {
			t.Error("a paused node answers PING")
		}
		for range 2 {
			if err := lc.Resume(ctx, r.c, name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ping(ctx, rep.Addr, time.Second); err != nil {
			t.Errorf("resumed node: %v", err)
		}
		waitHealthy(t, r, 3, 1)

		// A paused node can be killed, and restarts.
		if err := lc.Pause(ctx, r.c, name); err != nil {
			t.Fatal(err)
		}
		if err := lc.Kill(ctx, r.c, name); err != nil {
			t.Fatalf("kill a paused node: %v", err)
		}
		if err := lc.Restart(ctx, r.c, name); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, r, 3, 1)
		if err := lc.Kill(ctx, r.c, "n99"); err == nil {
			t.Error("killing an unknown node succeeded")
		}
	})
}

// medianPing is the median of n PINGs from this machine.
func medianPing(t *testing.T, addr string, n int) time.Duration {
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

// TestFaultsNetem delays one node's packets: its PINGs slow by the delay,
// another node's do not, and clearing it restores the first.
func TestFaultsNetem(t *testing.T) {
	eachBackend(t, "netem", 3, 0, true, func(t *testing.T, r faultRig) {
		if fc, ok := r.b.(FaultChecker); ok {
			if err := fc.CanFault(AbilityNetem); err != nil {
				t.Skipf("skipping: %v", err)
			}
		}
		ctx := context.Background()
		slow, other := r.c.Nodes[0], r.c.Nodes[1]
		before := medianPing(t, slow.Addr, 9)
		const delay = 80 * time.Millisecond
		if err := r.network().Netem(ctx, r.c, slow.Name, NetemSpec{Delay: delay, Jitter: 5 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		during, fast := medianPing(t, slow.Addr, 9), medianPing(t, other.Addr, 9)
		t.Logf("PING median of %s: %v before, %v with %v delay; of %s: %v", slow.Name, before, during, delay, other.Name, fast)
		if during < delay-5*time.Millisecond || during > delay+60*time.Millisecond {
			t.Errorf("PING of the delayed node takes %v, want about %v", during, delay)
		}
		if fast > delay/2 {
			t.Errorf("PING of another node takes %v: the delay is not per node", fast)
		}
		// Replacing the spec: total loss, then back to nothing.
		if err := r.network().Netem(ctx, r.c, slow.Name, NetemSpec{Loss: 100}); err != nil {
			t.Fatal(err)
		}
		if _, err := ping(ctx, slow.Addr, 300*time.Millisecond); err == nil {
			t.Error("PING got through 100% loss")
		}
		for range 2 {
			if err := r.network().ClearNetem(ctx, r.c, slow.Name); err != nil {
				t.Fatal(err)
			}
		}
		if after := medianPing(t, slow.Addr, 9); after > delay/2 {
			t.Errorf("PING after clearing takes %v", after)
		}
		waitHealthy(t, r, 3, 0)
		// Left in place, a netem goes with HealNetwork.
		if err := r.network().Netem(ctx, r.c, slow.Name, NetemSpec{Delay: delay}); err != nil {
			t.Fatal(err)
		}
		if err := r.network().HealNetwork(ctx, r.c); err != nil {
			t.Fatal(err)
		}
		if after := medianPing(t, slow.Addr, 9); after > delay/2 {
			t.Errorf("PING after HealNetwork takes %v", after)
		}
	})
}

// TestCleanupAfterKill leaves what a SIGKILLed harness would (nodes
// running, a partition and a netem rule in place, the record) and checks
// that a cleanup narrowed to the cluster finds and removes all of it; a dry
// run first removes nothing.
func TestCleanupAfterKill(t *testing.T) {
	eachBackend(t, "clean", 3, 0, true, func(t *testing.T, r faultRig) {
		ctx := context.Background()
		n1, n2 := r.c.Nodes[0].Name, r.c.Nodes[1].Name
		if err := r.network().Partition(ctx, r.c, []Cut{{From: n1, To: n2}}); err != nil {
			t.Fatal(err)
		}
		// Held by a live run: nothing of it is touched, and cleanup says so.
		release, err := r.store.Hold(r.c.Name)
		if err != nil {
			t.Fatal(err)
		}
		held, err := CleanupWith(ctx, r.store, CleanupOptions{DryRun: true, Cluster: r.c.Name})
		release()
		if err != nil {
			t.Fatal(err)
		}
		if len(held.Containers)+len(held.Networks)+len(held.Processes)+len(held.Chains)+len(held.Records) != 0 || !strings.Contains(strings.Join(held.Skipped, "\n"), "in use by a running harness") {
			t.Errorf("cleanup of a held cluster: %+v", held)
		}
		dry, err := CleanupWith(ctx, r.store, CleanupOptions{DryRun: true, Cluster: r.c.Name})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dry run: %+v", dry)
		if len(dry.Records) != 1 {
			t.Errorf("dry run found records %v, want the cluster's", dry.Records)
		}
		switch r.b.(type) {
		case *Local:
			if len(dry.Processes) != 3 || len(dry.Chains) != 1 {
				t.Errorf("dry run found processes %v and chains %v, want 3 and 1", dry.Processes, dry.Chains)
			}
		case *Docker:
			if len(dry.Containers) != 3 || len(dry.Networks) != 1 {
				t.Errorf("dry run found containers %v and networks %v, want 3 and 1", dry.Containers, dry.Networks)
			}
		}
		if _, err := ping(ctx, r.c.Nodes[0].Addr, time.Second); err != nil {
			t.Fatalf("the dry run stopped a node: %v", err)
		}
		rep, err := CleanupWith(ctx, r.store, CleanupOptions{Cluster: r.c.Name})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rep.Processes, rep.Chains, rep.Containers, rep.Networks, rep.Records) != fmt.Sprint(dry.Processes, dry.Chains, dry.Containers, dry.Networks, dry.Records) {
			t.Errorf("cleanup removed %+v, the dry run found %+v", rep, dry)
		}
		if _, err := r.store.Load(r.c.Name); !errors.Is(err, ErrNoCluster) {
			t.Errorf("record still there: %v", err)
		}
		again, err := CleanupWith(ctx, r.store, CleanupOptions{Cluster: r.c.Name})
		if err != nil || !again.Empty() {
			t.Errorf("second cleanup found %+v, %v; want nothing", again, err)
		}
	})
}

// TestFaultErrorsSayWhat: bad cuts and missing root are refused, saying why.
func TestFaultErrorsSayWhat(t *testing.T) {
	c := &Cluster{Name: "x", Nodes: []Node{{Name: "n1", Addr: "127.0.100.1:6379", Host: "127.0.100.1"}}}
	if _, err := localCutSpecs(c, []Cut{{From: "n1", To: "n9"}}); err == nil || !strings.Contains(err.Error(), `no node "n9"`) {
		t.Errorf("cut to an unknown node: %v", err)
	}
	if _, err := localCutSpecs(c, []Cut{{From: "n1", To: "n1"}}); err == nil {
		t.Error("a cut from a node to itself was accepted")
	}
	l := &Local{}
	if err := l.CanFault(AbilityLifecycle); err != nil {
		t.Errorf("CanFault(lifecycle) = %v", err)
	}
	for _, a := range []Ability{AbilityPartition, AbilityNetem} {
		err := l.CanFault(a)
		switch {
		case os.Geteuid() != 0 && (err == nil || !strings.Contains(err.Error(), string(a)+" faults on the local backend need root")):
			t.Errorf("CanFault(%s) without root = %v, want it to say root is needed", a, err)
		case os.Geteuid() == 0 && err != nil:
			t.Errorf("CanFault(%s) as root = %v", a, err)
		}
	}
}
