package topology

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// matrixServers are the fetched builds the integration tests run on
// besides the host's redis-server.
var matrixServers = []string{"redis-8.0.2", "valkey-8.1.1"}

// testServer returns the named build from the default state dir, fetching
// it there first when it is missing (.ci/run fetches them beforehand, so
// that tests find them cached). It skips, saying why, when the build
// cannot be had here.
func testServer(t *testing.T, name string) Server {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping on %s in -short mode", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sv := Servers{Dir: ServersDir(DefaultStateDir())}
	s, err := sv.Fetch(ctx, name, FetchOptions{})
	if err != nil {
		t.Skipf("skipping on %s: the build cannot be fetched here: %v", name, err)
	}
	return s
}

// cliCheck runs the build's own `<kind>-cli --cluster check` and wants it
// to agree with the harness: every slot covered, nothing open.
func cliCheck(t *testing.T, s Server, addr string) {
	t.Helper()
	cmd, err := s.CLICommand("--cluster", "check", addr)
	if err != nil {
		t.Logf("not cross-checking with the CLI: %v", err)
		return
	}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil || !strings.Contains(text, "[OK] All 16384 slots covered.") ||
		strings.Contains(text, "[ERR]") || strings.Contains(text, "[WARNING]") {
		t.Errorf("%s-cli --cluster check %s: %v\n%s", s.Kind, addr, err, text)
	}
}

// TestServerMatrixLocal runs the cluster operations on each fetched build
// on the local backend: create and check, reshard with keys, failover
// (default and takeover), kill/restart and pause/resume of nodes started
// through the build's own loader, and the cross-check with its own CLI.
func TestServerMatrixLocal(t *testing.T) {
	for _, name := range matrixServers {
		t.Run(name, func(t *testing.T) {
			srv := testServer(t, name)
			l, c, a := newLocalClusterOn(t, "t-"+strings.ReplaceAll(name, ".", ""), &srv, 3, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			addrs := c.Addrs()
			e := Expect{Masters: 3, Replicas: 1}

			for _, addr := range addrs {
				id, err := a.Identify(ctx, addr)
				if err != nil || id.Server != srv.Kind || id.Version != srv.Version {
					t.Errorf("%s reports %+v, %v; want %s %s", addr, id, err, srv.Kind, srv.Version)
				}
			}
			s := healthy(ctx, t, a, addrs, e)
			cliCheck(t, srv, addrs[0])
			st := BuildStatus(s, c.Name, c.Backend, e, nil)
			a.Describe(ctx, &st, LagWithin)
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
			from, to := owners[0], owners[NumSlots-1]
			var keys []string
			for slot := 0; slot < 10; slot++ {
				keys = append(keys, keysForSlot(slot, 3)...)
			}
			writeKeys(ctx, t, a, s.AddrOf(from), keys)
			res, err := a.Reshard(ctx, addrs, from, to, 10, ReshardOptions{})
			if err != nil {
				t.Fatalf("reshard: %v", err)
			}
			if res.Slots != 10 || res.Keys != len(keys) {
				t.Errorf("reshard moved %d slots and %d keys, want 10 and %d", res.Slots, res.Keys, len(keys))
			}
			readKeys(ctx, t, a, s.AddrOf(to), keys)
			s = healthy(ctx, t, a, addrs, e)
			if p := a.Snapshot(ctx, addrs).Problems(e); len(p) > 0 {
				t.Errorf("check after reshard: %s", ProblemsText(p, 10))
			}
			cliCheck(t, srv, addrs[0])

			// Failover, default then takeover back.
			m := s.Owners()[NumSlots/2]
			r := replicaOf(t, s, m).ID
			for _, tc := range []struct {
				mode            FailoverMode
				promote, demote string
			}{{FailoverDefault, r, m}, {FailoverTakeover, m, r}} {
				if _, err := a.Failover(ctx, addrs, tc.promote, tc.mode, 20*time.Second); err != nil {
					t.Fatalf("%s failover: %v", tc.mode, err)
				}
				roles(ctx, t, a, addrs, tc.promote, tc.demote)
				healthy(ctx, t, a, addrs, e)
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
			gone := poll(ctx, 10*time.Millisecond, func() (bool, string, error) {
				return syscall.Kill(pid, 0) != nil || zombie(pid), "", nil
			})
			if gone != nil {
				t.Errorf("killed node's pid %d still runs (state %q)", pid, procState(pid))
			}
			if err := l.Restart(ctx, c, victim.Name); err != nil {
				t.Fatal(err)
			}
			healthy(ctx, t, a, addrs, e)
			cliCheck(t, srv, addrs[0])
		})
	}
}

// TestServerMatrixDocker runs a Valkey cluster in containers made FROM
// scratch from the fetched build: create, identify, a node killed and
// restarted, and the cross-check with valkey-cli.
func TestServerMatrixDocker(t *testing.T) {
	d := dockerTestBackend(t)
	srv := testServer(t, "valkey-8.1.1")
	name := dockerTestName(t, "valkey")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := d.EnsureServerImage(ctx, srv, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s", srv.Image(), time.Since(start).Round(time.Millisecond))
	c, err := d.Up(ctx, Spec{Name: name, Masters: 3, Replicas: 1, RunID: "run-" + name, Server: &srv, Config: map[string]string{"cluster-node-timeout": "2000"}})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if c.Spec.Image != srv.Image() {
		t.Errorf("image %q, want %q", c.Spec.Image, srv.Image())
	}
	a := NewAdmin()
	t.Cleanup(a.Close)
	plan, err := PlanCreate(c.Nodes, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, plan, 60*time.Second); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, n := range c.Nodes {
		id, err := a.Identify(ctx, n.Addr)
		if err != nil || id.Label() != "Valkey 8.1.1" {
			t.Errorf("%s reports %+v, %v; want Valkey 8.1.1", n.Addr, id, err)
		}
	}
	victim := c.Nodes[len(c.Nodes)-1].Name
	if err := d.Kill(ctx, c, victim); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(ctx, c, victim); err != nil {
		t.Fatal(err)
	}
	healthy(ctx, t, a, c.Addrs(), Expect{Masters: 3, Replicas: 1})
	cliCheck(t, srv, c.Nodes[0].Addr)
}
