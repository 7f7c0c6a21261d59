package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/internal/wait"
)

// TestServerMatrixLocal runs the cluster operations on each fetched build
// on the local backend: create and check, reshard with keys, failover
// (default and takeover), kill/restart and pause/resume of nodes started
// through the build's own loader, and the cross-check with its own CLI.
func TestServerMatrixLocal(t *testing.T) {
	for _, name := range testcluster.MatrixServers {
		t.Run(name, func(t *testing.T) {
			srv := testcluster.Server(t, name)
			l, c, a := newLocalClusterOn(t, "t-"+strings.ReplaceAll(name, ".", ""), &srv, 3, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			addrs := c.Addrs()
			e := topology.Expect{Masters: 3, Replicas: 1}

			for _, addr := range addrs {
				id, err := a.Identify(ctx, addr)
				if err != nil || id.Server != srv.Kind || id.Version != srv.Version {
					t.Errorf("%s reports %+v, %v; want %s %s", addr, id, err, srv.Kind, srv.Version)
				}
			}
			s := testcluster.Healthy(ctx, t, a, addrs, e)
			testcluster.CLICheck(t, srv, addrs[0])
			st := topology.BuildStatus(s, c.Name, c.Backend, e, nil)
			a.Describe(ctx, &st, topology.LagWithin)
			if st.Server != srv.Label() {
				t.Errorf("status names the server %q, want %q", st.Server, srv.Label())
			}
			for _, n := range st.Nodes {
				if n.Role == "replica" && (n.LagMS == nil || n.LagMSAtLeast) {
					t.Errorf("replica %s: lag_ms %v (at least: %v); want a measured lag", n.Addr, n.LagMS, n.LagMSAtLeast)
				}
			}

			// Reshard 10 slots with keys in them.
			owners := s.Owners()
			from, to := owners[0], owners[topology.NumSlots-1]
			var keys []string
			for slot := 0; slot < 10; slot++ {
				keys = append(keys, testcluster.KeysForSlot(slot, 3)...)
			}
			testcluster.WriteKeys(ctx, t, a, s.AddrOf(from), keys)
			res, err := a.Reshard(ctx, addrs, from, to, 10, topology.ReshardOptions{})
			if err != nil {
				t.Fatalf("reshard: %v", err)
			}
			if res.Slots != 10 || res.Keys != len(keys) {
				t.Errorf("reshard moved %d slots and %d keys, want 10 and %d", res.Slots, res.Keys, len(keys))
			}
			testcluster.ReadKeys(ctx, t, a, s.AddrOf(to), keys)
			s = testcluster.Healthy(ctx, t, a, addrs, e)
			if p := a.Snapshot(ctx, addrs).Problems(e); len(p) > 0 {
				t.Errorf("check after reshard: %s", topology.ProblemsText(p, 10))
			}
			testcluster.CLICheck(t, srv, addrs[0])

			// Failover, default then takeover back.
			m := s.Owners()[topology.NumSlots/2]
			r := testcluster.ReplicaOf(t, s, m).ID
			for _, tc := range []struct {
				mode            topology.FailoverMode
				promote, demote string
			}{{topology.FailoverDefault, r, m}, {topology.FailoverTakeover, m, r}} {
				if _, err := a.Failover(ctx, addrs, tc.promote, tc.mode, 20*time.Second); err != nil {
					t.Fatalf("%s failover: %v", tc.mode, err)
				}
				testcluster.Roles(ctx, t, a, addrs, tc.promote, tc.demote)
				testcluster.Healthy(ctx, t, a, addrs, e)
			}

			// Lifecycle faults find the nodes' processes although they run
			// through the build's loader.
			victim := c.Nodes[len(c.Nodes)-1]
			pid := nodePID(victim)
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if pid == 0 || filepath.Base(exe) != srv.ServerName() {
				t.Fatalf("node %s: pid %d, exe %q; want a %s process", victim.Name, pid, exe, srv.ServerName())
			}
			if err := l.Pause(ctx, c, victim.Name); err != nil {
				t.Fatal(err)
			}
			if st := procState(pid); st != 'T' {
				t.Errorf("paused node state %q, want T", st)
			}
			if err := l.Resume(ctx, c, victim.Name); err != nil {
				t.Fatal(err)
			}
			if err := l.Kill(ctx, c, victim.Name); err != nil {
				t.Fatal(err)
			}
			// The kernel may still be tearing the process down.
			gone := wait.Poll(ctx, 10*time.Millisecond, func() (bool, string, error) {
				return syscall.Kill(pid, 0) != nil || zombie(pid), "", nil
			})
			if gone != nil {
				t.Errorf("killed node's pid %d still runs (state %q)", pid, procState(pid))
			}
			if err := l.Restart(ctx, c, victim.Name); err != nil {
				t.Fatal(err)
			}
			testcluster.Healthy(ctx, t, a, addrs, e)
			testcluster.CLICheck(t, srv, addrs[0])
		})
	}
}
