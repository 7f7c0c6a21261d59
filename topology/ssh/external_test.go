package ssh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// TestExternalFaults treats a cluster the ssh backend made as one the
// harness did not make: its nodes found from one address and the hosts
// file alone (not the backend's record), then killed and restarted,
// paused and resumed, and a master cut off and healed through what was
// found, the cluster healthy after each.
func TestExternalFaults(t *testing.T) {
	b, _ := sshBackend(t, 6) // a host per node: cuts by address and port
	testcluster.NeedRoot(t)
	r := sshRig(t, b, "ext", 3, 1)
	ctx := context.Background()
	a := topology.NewAdmin()
	defer a.Close()
	addrs, err := a.Discover(ctx, r.C.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	ext, c, err := DiscoverExternal(ctx, a, b.Inv, addrs, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	if len(c.Nodes) != len(r.C.Nodes) {
		t.Fatalf("found %d nodes, want %d", len(c.Nodes), len(r.C.Nodes))
	}
	for _, f := range ext.Found() {
		t.Log(f)
		own, ok := r.C.Node(f.Addr)
		if !ok {
			t.Fatalf("found node %s, which the backend did not make", f.Addr)
		}
		if f.Host != own.Host || f.PID != own.PID || f.Dir != own.Dir || f.Config != own.Dir+"/redis.conf" {
			t.Errorf("found %+v, want host %s, pid %d, dir %s and its redis.conf", f, own.Host, own.PID, own.Dir)
		}
		if len(f.Command) != 2 || !strings.HasSuffix(f.Command[0], "redis-server") || f.Command[1] != f.Config {
			t.Errorf("node %s: restart command %q, want redis-server and its config", f.Addr, f.Command)
		}
	}
	for _, ab := range []topology.Ability{topology.AbilityLifecycle, topology.AbilityPartition, topology.AbilityDisk} {
		if err := ext.CanFault(ab); err != nil {
			t.Errorf("%s: %v", ab, err)
		}
	}
	if _, err := ext.AddNode(ctx, c); err == nil {
		t.Error("adding a node to a cluster given by address succeeded")
	}
	rig := testcluster.Rig{B: ext, C: c, A: r.A}
	testcluster.KillRestartPauseResume(t, rig)
	testcluster.PartitionFailover(t, rig)
	// netem through the delay line agent, as on the ssh backend.
	if err := ext.CanFault(topology.AbilityNetem); err != nil {
		t.Fatalf("netem: %v", err)
	}
	target := c.Nodes[0].Addr
	before := testcluster.MedianPing(t, target, 5)
	if err := ext.Netem(ctx, c, target, topology.NetemSpec{Delay: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if during := testcluster.MedianPing(t, target, 5); during < 150*time.Millisecond {
		t.Errorf("PING of %s under netem delay 200ms: median %v (before: %v)", target, during, before)
	}
	if err := ext.ClearNetem(ctx, c, target); err != nil {
		t.Fatal(err)
	}
	if after := testcluster.MedianPing(t, target, 5); after > 100*time.Millisecond {
		t.Errorf("PING of %s after netem was cleared: median %v", target, after)
	}
	// Down removes nothing but the run's chain.
	if err := ext.Down(ctx, c); err != nil {
		t.Fatal(err)
	}
	testcluster.AssertNoChain(t, c)
	if left := agentsOf(t, b, c); len(left) > 0 {
		t.Errorf("agents still run after Down: %+v", left)
	}
	testcluster.Healthy(ctx, t, r.A, r.C.Addrs(), topology.Expect{Masters: 3, Replicas: 1})
}

// TestExternalUnmapped: a node whose address no host of the hosts file
// has is refused, saying so.
func TestExternalUnmapped(t *testing.T) {
	inv, err := ParseInventory([]byte("hosts:\n  - {addr: 10.0.0.11}\n"), "hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &External{Backend: &Backend{Inv: inv}}
	if h, err := e.hostOf("10.0.0.11:6379"); err != nil || h != "10.0.0.11" {
		t.Errorf("hostOf(10.0.0.11:6379) = %q, %v", h, err)
	}
	if _, err := e.hostOf("10.0.0.12:6379"); err == nil || !strings.Contains(err.Error(), "no host with addr 10.0.0.12") {
		t.Errorf("an unmapped node: %v", err)
	}
}

// TestRestartCommand: a command line Redis rewrote into its title gives
// way to the executable and config file; an intact one is kept.
func TestRestartCommand(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    string
	}{
		{"redis-server 10.0.0.1:6379 [cluster]", "/usr/bin/redis-server /etc/redis/7000.conf"},
		{"/usr/bin/redis-server\x00/etc/redis/7000.conf\x00--port\x007000", "/usr/bin/redis-server /etc/redis/7000.conf --port 7000"},
		{"valkey-server *:7000", "/usr/bin/redis-server /etc/redis/7000.conf"},
		{"", "/usr/bin/redis-server /etc/redis/7000.conf"},
	} {
		got, _ := restartCommand([]byte(tc.cmdline), "/usr/bin/redis-server", "/proc-exe", "/etc/redis/7000.conf")
		if strings.Join(got, " ") != tc.want {
			t.Errorf("restartCommand(%q) = %q, want %q", tc.cmdline, got, tc.want)
		}
	}
	if got, _ := restartCommand([]byte("redis-server *:7000"), "", "/usr/bin/redis-server", ""); strings.Join(got, " ") != "/usr/bin/redis-server" {
		t.Errorf("without INFO's executable and a config: %q", got)
	}
}

// TestExternalPartitionSharedHost: partitions are refused before a run
// where two nodes share a host, naming them.
func TestExternalPartitionSharedHost(t *testing.T) {
	e := &External{Backend: &Backend{}, nodes: map[string]Found{
		"10.0.0.11:6379": {Addr: "10.0.0.11:6379", Host: "10.0.0.11", Command: []string{"redis-server"}},
		"10.0.0.11:6380": {Addr: "10.0.0.11:6380", Host: "10.0.0.11", Command: []string{"redis-server"}},
	}}
	err := e.CanFault(topology.AbilityPartition)
	if err == nil || !strings.Contains(err.Error(), "10.0.0.11:6379 and 10.0.0.11:6380 share host 10.0.0.11") {
		t.Errorf("partition with two nodes on one host: %v", err)
	}
	if err := e.CanFault(topology.AbilityLifecycle); err != nil {
		t.Errorf("lifecycle: %v", err)
	}
}
