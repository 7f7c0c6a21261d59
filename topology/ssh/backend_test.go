package ssh

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/sshtest"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// sshBackend starts n sshd daemons and returns the backend on them, in a
// fresh store. It skips, saying why, where sshd or redis-server is absent.
func sshBackend(t *testing.T, n int) (*Backend, *sshtest.Hosts) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: no redis-server on PATH for the hosts to run (Debian's redis-server)")
	}
	hs := sshtest.Start(t, n)
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(path, []byte(hs.Inventory()), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(topology.Store{Dir: t.TempDir()}, inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, hs
}

// sshRig is a healthy cluster on the ssh backend; when the test ends it
// checks that the hosts hold nothing of it.
func sshRig(t *testing.T, b *Backend, what string, masters, replicas int) testcluster.Rig {
	t.Helper()
	spec := topology.Spec{Name: "t-" + what, Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}
	r := testcluster.Up(t, b, b.Store, spec, 2*time.Minute, func(t *testing.T, c topology.Cluster) {
		assertNothingLeft(t, b, &c)
	})
	r.A.Timeout = time.Second
	return r
}

// assertNothingLeft fails when a host still runs a server of c, holds its
// dir, or (as root) iptables still has its chain.
func assertNothingLeft(t *testing.T, b *Backend, c *topology.Cluster) {
	t.Helper()
	ctx := context.Background()
	dir := RemoteDir(c)
	for _, h := range b.Inv.Hosts {
		ps, err := b.pool.procs(ctx, h.Addr, dir)
		if err != nil {
			t.Errorf("host %s: %v", h.Addr, err)
		}
		for _, p := range ps {
			t.Errorf("host %s: server pid %d still runs in %s", h.Addr, p.PID, p.Cwd)
		}
	}
	if _, err := os.Stat(dir); err == nil { // the hosts are this machine
		t.Errorf("%s still exists", dir)
	}
	testcluster.AssertNoChain(t, c)
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(root + "/" + cgroupRel(c, "")); err == nil {
			t.Errorf("the cluster's cgroup %s is still there", root+"/"+cgroupRel(c, ""))
		}
	}
	if _, err := b.Store.Load(c.Name); err == nil {
		t.Errorf("the record of %s is still in the store", c.Name)
	}
}

// TestSSHUpCreateDown: 3 masters with a replica each over 3 hosts, formed
// and checked; every replica on another host than its master; logs read
// from the hosts; down leaves nothing (checked by sshRig).
func TestSSHUpCreateDown(t *testing.T) {
	b, hs := sshBackend(t, 3)
	r := sshRig(t, b, "up", 3, 1)
	ctx := context.Background()
	snap := testcluster.Healthy(ctx, t, r.A, r.C.Addrs(), topology.Expect{Masters: 3, Replicas: 1})
	testcluster.CLICheck(t, topology.Server{Kind: "redis"}, r.C.Nodes[0].Addr)
	hosts := map[string]int{}
	for _, n := range r.C.Nodes {
		hosts[n.Host]++
		if !strings.HasPrefix(n.Addr, n.Host+":") || n.PID == 0 || !strings.HasPrefix(n.Dir, RemoteDir(r.C)+"/") {
			t.Errorf("node %+v: want its host's addr, a pid, a dir under %s", n, RemoteDir(r.C))
		}
	}
	for _, a := range hs.Addrs {
		if hosts[a] != 2 {
			t.Errorf("host %s carries %d nodes, want 2 (round-robin)", a, hosts[a])
		}
	}
	for _, m := range snap.Members() {
		if !m.IsReplica() {
			continue
		}
		master, _ := snap.Node(m.MasterID)
		if host(m.Addr) == host(master.Addr) {
			t.Errorf("replica %s is on its master %s's host", m.Addr, master.Addr)
		}
	}
	logs, err := b.Logs(ctx, r.C, "n1")
	if err != nil || !strings.Contains(string(logs), "Ready to accept connections") {
		t.Errorf("logs of n1: %v %q", err, logs)
	}
	// A later harness command reaches the same hosts from the record.
	c, err := b.Store.Load(r.C.Name)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Open(b.Store, c)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if logs, err := b2.Logs(ctx, c, "n2"); err != nil || len(logs) == 0 {
		t.Errorf("logs of n2 through the record's hosts: %v", err)
	}
}

func host(addr string) string { return addr[:strings.LastIndexByte(addr, ':')] }

func TestSSHKillRestartPauseResume(t *testing.T) {
	b, _ := sshBackend(t, 3)
	testcluster.KillRestartPauseResume(t, sshRig(t, b, "life", 3, 1))
}

// TestSSHPartitionFailover runs the shared partition scenario on three
// hosts of two nodes each: the master is cut off from every other node,
// the one on its own host too, which the nodes' cgroups make possible.
func TestSSHPartitionFailover(t *testing.T) {
	testcluster.NeedRoot(t)
	b, hs := sshBackend(t, 3)
	if root, err := b.cgroupRoot(context.Background(), hs.Addrs[0]); err != nil || root == "" {
		t.Skipf("skipping: no writable cgroup v2 hierarchy here (%v), so nodes of one host cannot be cut apart", err)
	}
	testcluster.PartitionFailover(t, sshRig(t, b, "part", 3, 1))
}

// withoutCgroups makes b behave as on hosts without cgroup v2.
func withoutCgroups(b *Backend) {
	for _, h := range b.Inv.Hosts {
		b.cgroots[h.Addr] = ""
	}
}

// TestSSHPartitionFailoverByAddress: on hosts without cgroups the cuts
// are made by addresses and ports; with one node per host they are exact.
func TestSSHPartitionFailoverByAddress(t *testing.T) {
	testcluster.NeedRoot(t)
	b, _ := sshBackend(t, 6)
	withoutCgroups(b)
	testcluster.PartitionFailover(t, sshRig(t, b, "part6", 3, 1))
}

// TestSSHPartitionShared: on hosts without cgroups, with two nodes per
// host, a cut between hosts holds (the cut node's peers say it fails), a
// cut within one host is refused saying why, and heal removes the chain.
func TestSSHPartitionShared(t *testing.T) {
	testcluster.NeedRoot(t)
	b, _ := sshBackend(t, 3)
	withoutCgroups(b)
	r := sshRig(t, b, "cut", 3, 1)
	ctx := context.Background()
	a, c := r.C.Nodes[0], r.C.Nodes[1] // on hosts 1 and 2
	if a.Host == c.Host {
		t.Fatalf("n1 and n2 on one host %s", a.Host)
	}
	if err := b.Partition(ctx, r.C, []topology.Cut{{From: a.Name, To: c.Name}, {From: c.Name, To: a.Name}}); err != nil {
		t.Fatal(err)
	}
	// a and c no longer see each other's bus: c's view of a goes to fail?.
	if _, err := testcluster.Ping(ctx, a.Addr, time.Second); err != nil {
		t.Errorf("this machine no longer reaches %s: %v", a.Addr, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := r.A.DoText(ctx, c.Addr, "CLUSTER", "NODES")
		if err == nil && strings.Contains(lineOf(out, a.Addr), "fail") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw %s fail after the cut:\n%s", c.Addr, a.Addr, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var same topology.Node
	for _, n := range r.C.Nodes[1:] {
		if n.Host == a.Host {
			same = n
		}
	}
	if err := b.Partition(ctx, r.C, []topology.Cut{{From: a.Name, To: same.Name}}); err == nil || !strings.Contains(err.Error(), "both nodes are on host") {
		t.Errorf("a cut within one host: %v", err)
	}
	if err := b.HealNetwork(ctx, r.C); err != nil {
		t.Fatal(err)
	}
	testcluster.AssertNoChain(t, r.C)
	testcluster.WaitHealthy(t, r, 3, 1)
}

func lineOf(text, addr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, " "+addr+"@") {
			return l
		}
	}
	return ""
}

// TestSSHNetemUnavailable: netem on hosts that cannot be reached is
// refused before a run, saying why; lifecycle is always there.
func TestSSHNetemUnavailable(t *testing.T) {
	inv, err := ParseInventory([]byte("ssh: {insecure_ignore_host_key: true, key: /nonexistent}\nhosts:\n  - {addr: 127.0.102.254}\n"), "hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(topology.Store{Dir: t.TempDir()}, inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CanFault(topology.AbilityLifecycle); err != nil {
		t.Errorf("lifecycle: %v", err)
	}
	if err := b.CanFault(topology.AbilityNetem); err == nil || !strings.Contains(err.Error(), "netem faults on the ssh backend") {
		t.Errorf("netem: %v", err)
	}
	if _, err := New(topology.Store{}, &Inventory{Hosts: []Host{{Addr: "10.0.0.1"}, {Addr: "10.0.0.1", SSHPort: 2222}}}); err == nil {
		t.Error("two hosts with one addr accepted")
	}
}

// TestSSHCleanupAfterKill: a harness killed with SIGKILL leaves servers,
// their dirs and a partition chain on the hosts; cleanup finds and
// removes them all, and a second cleanup finds nothing.
func TestSSHCleanupAfterKill(t *testing.T) {
	b, _ := sshBackend(t, 3)
	ctx := context.Background()
	// A name of this test process's own: cleanup --name takes that
	// cluster from every store.
	c, err := b.Up(ctx, topology.Spec{Name: fmt.Sprintf("t-killed-%d", os.Getpid()), Masters: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Down(context.Background(), c) }) // when the test fails midway
	if os.Geteuid() == 0 {
		if err := b.Partition(ctx, c, []topology.Cut{{From: "n1", To: "n2"}}); err != nil {
			t.Fatal(err)
		}
	}
	// The harness dies here: no heal, no down.
	dry, err := Cleanup(ctx, b.Inv, b.Store, c.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	// The hosts are this machine, so each sees every server and the dir.
	pids := map[string]bool{}
	for _, p := range dry.Processes {
		_, what, _ := strings.Cut(p, ": ")
		pids[what] = true
	}
	if len(pids) != 3 || len(dry.Dirs) != 3 {
		t.Fatalf("dry run found %d servers and %d host dirs, want 3 and 3: %+v", len(pids), len(dry.Dirs), dry)
	}
	for _, n := range c.Nodes {
		if _, err := testcluster.Ping(ctx, n.Addr, time.Second); err != nil {
			t.Errorf("a dry run stopped %s: %v", n.Addr, err)
		}
	}
	left, err := Cleanup(ctx, b.Inv, b.Store, c.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed: %+v", left)
	if os.Geteuid() == 0 && len(left.Chains) == 0 {
		t.Error("the partition's chain was not found")
	}
	b.Store.Remove(c.Name) // what backends.Cleanup does with the record
	assertNothingLeft(t, b, c)
	again, err := Cleanup(ctx, b.Inv, b.Store, c.Name, false)
	if err != nil || len(again.Processes)+len(again.Dirs)+len(again.Chains) > 0 {
		t.Errorf("second cleanup: %v %+v", err, again)
	}
}

// TestSSHDisk: the disk faults edit a stopped node's files on its host:
// refused while it runs; the AOF tail cut as reported; the data wiped with
// nodes.conf kept; the node restarts either way.
func TestSSHDisk(t *testing.T) {
	b, _ := sshBackend(t, 3)
	r := sshRig(t, b, "disk", 3, 0)
	ctx := context.Background()
	n := r.C.Nodes[0]
	testcluster.WriteKeys(ctx, t, r.A, n.Addr, testcluster.KeysForSlot(0, 20))
	if _, err := b.TruncateAOF(ctx, r.C, n.Name, 10); err == nil || !strings.Contains(err.Error(), "kill it first") {
		t.Fatalf("truncate a running node's AOF: %v", err)
	}
	if err := b.Kill(ctx, r.C, n.Name); err != nil {
		t.Fatal(err)
	}
	rep, err := b.TruncateAOF(ctx, r.C, n.Name, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 1 || !strings.HasPrefix(rep.Files[0], "appendonlydir/") || rep.Size <= 0 || rep.Truncated != min(10, rep.Size) {
		t.Fatalf("truncate report %+v", rep)
	}
	if st, err := os.Stat(filepath.Join(n.Dir, rep.Files[0])); err != nil || st.Size() != rep.Size-rep.Truncated { // the hosts are this machine
		t.Errorf("the AOF after the cut: %v, %v; want %d bytes", st, err, rep.Size-rep.Truncated)
	}
	wiped, err := b.WipeData(ctx, r.C, n.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(wiped.Files, "appendonlydir") {
		t.Errorf("wipe report %+v", wiped)
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "appendonlydir")); err == nil {
		t.Error("appendonlydir survived the wipe")
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "nodes.conf")); err != nil {
		t.Errorf("nodes.conf: %v", err)
	}
	if err := b.Restart(ctx, r.C, n.Name); err != nil {
		t.Fatal(err)
	}
}
