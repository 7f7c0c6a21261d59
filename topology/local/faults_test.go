package local

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// localRig is a healthy cluster on the local backend for the fault tests;
// when the test ends it checks that no server of it runs and no delay line
// of it is open.
func localRig(t *testing.T, what string, masters, replicas int) testcluster.Rig {
	t.Helper()
	l, err := NewHost(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	spec := topology.Spec{Name: "t-" + what, Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}
	qdiscs := testcluster.TCQdiscs(t)
	r := testcluster.Up(t, l, l.Store, spec, 2*time.Minute, func(t *testing.T, c topology.Cluster) {
		testcluster.AssertNoChain(t, &c)
		if after := testcluster.TCQdiscs(t); after != qdiscs {
			t.Errorf("tc qdiscs changed:\nbefore: %s\nafter: %s", qdiscs, after)
		}
		for _, n := range c.Nodes {
			if pid := nodePID(n); pid != 0 {
				t.Errorf("node %s: redis-server pid %d still runs", n.Name, pid)
			}
		}
		if left := l.lines.Take(localNetemKey(&c, "")); len(left) > 0 {
			t.Errorf("%d local delay lines left open", len(left))
		}
	})
	r.A.Timeout = time.Second
	return r
}

func TestFaultsPartitionFailover(t *testing.T) {
	testcluster.NeedRoot(t)
	testcluster.PartitionFailover(t, localRig(t, "part", 3, 1))
}

func TestFaultsKillRestartPauseResume(t *testing.T) {
	testcluster.KillRestartPauseResume(t, localRig(t, "life", 3, 1))
}

func TestFaultsNetem(t *testing.T) {
	testcluster.NeedRoot(t)
	testcluster.Netem(t, localRig(t, "netem", 3, 0))
}

// TestFaultErrorsSayWhat: bad cuts and missing root are refused, saying why.
func TestFaultErrorsSayWhat(t *testing.T) {
	c := &topology.Cluster{Name: "x", Nodes: []topology.Node{{Name: "n1", Addr: "127.0.100.1:6379", Host: "127.0.100.1"}}}
	if _, err := localCutSpecs(c, []topology.Cut{{From: "n1", To: "n9"}}); err == nil || !strings.Contains(err.Error(), `no node "n9"`) {
		t.Errorf("cut to an unknown node: %v", err)
	}
	if _, err := localCutSpecs(c, []topology.Cut{{From: "n1", To: "n1"}}); err == nil {
		t.Error("a cut from a node to itself was accepted")
	}
	l := &Backend{}
	if err := l.CanFault(topology.AbilityLifecycle); err != nil {
		t.Errorf("CanFault(lifecycle) = %v", err)
	}
	for _, a := range []topology.Ability{topology.AbilityPartition, topology.AbilityNetem} {
		err := l.CanFault(a)
		switch {
		case os.Geteuid() != 0 && (err == nil || !strings.Contains(err.Error(), string(a)+" faults on the local backend need root")):
			t.Errorf("CanFault(%s) without root = %v, want it to say root is needed", a, err)
		case os.Geteuid() == 0 && err != nil:
			t.Errorf("CanFault(%s) as root = %v", a, err)
		}
	}
}
