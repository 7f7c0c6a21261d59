package docker

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// dockerRig is a healthy cluster on the docker backend for the fault tests;
// when the test ends it checks that nothing of it is left on the engine or
// in iptables, no delay line of it is open, and, as root, that the network
// faults took the fast path (nsenter), not sidecars.
func dockerRig(t *testing.T, what string, masters, replicas int) testcluster.Rig {
	t.Helper()
	d := dockerTestBackend(t)
	count := countSidecars(d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.EnsureImage(ctx, dockerTestImage(t), nil); err != nil {
		t.Fatal(err)
	}
	spec := topology.Spec{Name: dockerTestName(t, what), Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}
	qdiscs := testcluster.TCQdiscs(t)
	r := testcluster.Up(t, d, d.Store, spec, 2*time.Minute, func(t *testing.T, c topology.Cluster) {
		testcluster.AssertNoChain(t, &c)
		if after := testcluster.TCQdiscs(t); after != qdiscs {
			t.Errorf("tc qdiscs changed:\nbefore: %s\nafter: %s", qdiscs, after)
		}
		dockerAssertGone(t, d, c.Name)
		if n := count.joined.Load(); n > 0 && os.Geteuid() == 0 && strings.HasPrefix(d.daemonHost(), "unix://") {
			t.Errorf("%d sidecars joined nodes' namespaces: nsenter was not chosen for this machine's engine", n)
		}
		if left := d.lines.Take(dockerNetemKey(&c, "")); len(left) > 0 {
			t.Errorf("%d docker delay lines left open", len(left))
		}
	})
	r.A.Timeout = time.Second
	return r
}

func TestFaultsPartitionFailover(t *testing.T) {
	testcluster.NeedRoot(t)
	testcluster.PartitionFailover(t, dockerRig(t, "part", 3, 1))
}

func TestFaultsKillRestartPauseResume(t *testing.T) {
	testcluster.KillRestartPauseResume(t, dockerRig(t, "life", 3, 1))
}

func TestFaultsNetem(t *testing.T) {
	testcluster.NeedRoot(t)
	testcluster.Netem(t, dockerRig(t, "netem", 3, 0))
}
