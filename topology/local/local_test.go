package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/logtail"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// newLocalCluster brings up a healthy cluster on the local backend in a
// fresh store, torn down when the test ends. It skips, saying why, only
// where redis-server is absent.
func newLocalCluster(t *testing.T, name string, masters, replicas int) (*Backend, *topology.Cluster, *topology.Admin) {
	t.Helper()
	return newLocalClusterOn(t, name, nil, masters, replicas)
}

// newLocalClusterOn is newLocalCluster with the nodes running server (nil:
// the host's redis-server).
func newLocalClusterOn(t *testing.T, name string, server *topology.Server, masters, replicas int) (*Backend, *topology.Cluster, *topology.Admin) {
	t.Helper()
	var l *Backend
	var err error
	if server != nil {
		// A build of its own needs no redis-server of the host's: run it
		// as on a machine without one.
		l, err = New(topology.Store{Dir: t.TempDir()})
		l.Server = ""
	} else {
		l, err = NewHost(topology.Store{Dir: t.TempDir()})
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	r := testcluster.Up(t, l, l.Store, topology.Spec{Name: name, Masters: masters, Replicas: replicas, Server: server, Config: map[string]string{"cluster-node-timeout": "2000"}}, time.Minute, nil)
	return l, r.C, r.A
}

func TestLocalUpCreateDown(t *testing.T) {
	l, c, a := newLocalCluster(t, "t-local", 3, 1)
	ctx := context.Background()
	snap := a.Snapshot(ctx, c.Addrs())
	if p := snap.Problems(topology.Expect{Masters: 3, Replicas: 1}); len(p) > 0 {
		t.Fatalf("problems after create: %s", topology.ProblemsText(p, 10))
	}
	owners := snap.Owners()
	for _, want := range topology.EvenSplit(3) {
		if owners[want.Start] != owners[want.End] || owners[want.Start] == "" {
			t.Errorf("range %v not owned by one master", want)
		}
	}
	if path, err := exec.LookPath("redis-cli"); err == nil {
		out, err := exec.Command(path, "--cluster", "check", c.Nodes[0].Addr).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "[OK] All 16384 slots covered.") {
			t.Errorf("redis-cli --cluster check: %v\n%s", err, out)
		}
	} else {
		t.Log("redis-cli absent: not cross-checking with redis-cli --cluster check")
	}
	logs, err := l.Logs(ctx, c, "n1")
	if err != nil || !strings.Contains(string(logs), "Ready to accept connections") {
		t.Errorf("logs of n1: %v %q", err, logtail.Last(logs, 3))
	}
}

// TestLocalNodeFailsToStart: a node that cannot start is named, with the
// last lines of its log, and nothing is left behind.
func TestLocalNodeFailsToStart(t *testing.T) {
	l, err := NewHost(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	_, err = l.Up(context.Background(), topology.Spec{Name: "bad", Masters: 3, Config: map[string]string{"maxmemory-policy": "sometimes"}})
	if err == nil || !strings.Contains(err.Error(), "node n") || !strings.Contains(err.Error(), "maxmemory-policy") {
		t.Fatalf("error should name the node and quote its log: %v", err)
	}
	if cs, _ := l.Store.List(); len(cs) != 0 {
		t.Errorf("records left: %d", len(cs))
	}
	assertNoServers(t, l.Store.Dir)
}

// TestLocalUpCancelled: Ctrl-C during up removes what was made.
func TestLocalUpCancelled(t *testing.T) {
	l, err := NewHost(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := l.Up(ctx, topology.Spec{Name: "cancel", Masters: 3, Replicas: 3}); err == nil {
		t.Skip("up finished before the cancellation: nothing to observe")
	}
	if cs, _ := l.Store.List(); len(cs) != 0 {
		t.Errorf("records left: %d", len(cs))
	}
	assertNoServers(t, l.Store.Dir)
}

// assertNoServers fails if a redis-server runs with a working directory under dir.
func assertNoServers(t *testing.T, dir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && strings.HasPrefix(cwd, dir) {
			if exe, _ := os.Readlink(strings.TrimSuffix(p, "cwd") + "exe"); strings.Contains(exe, "redis") {
				t.Errorf("a redis-server is still running in %s (%s)", cwd, p)
			}
		}
	}
}

// TestNoHostServer: on a machine without redis-server the backend still
// opens (clusters of fetched builds need none), and a cluster that would
// run the host's is refused before anything starts, saying what to do.
func TestNoHostServer(t *testing.T) {
	l, err := New(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l.Server = ""
	_, err = l.Up(context.Background(), topology.Spec{Name: "t-nohost", Masters: 3})
	if err == nil || !strings.Contains(err.Error(), "redis-server not found") || !strings.Contains(err.Error(), "--server") {
		t.Fatalf("Up with no server at all: %v", err)
	}
	if cs, _ := l.Store.List(); len(cs) != 0 {
		t.Fatalf("a refused Up left %d cluster records", len(cs))
	}
	if _, err := NewHost(l.Store); err == nil && os.Getenv("HARNESS_REDIS_SERVER") == "" {
		if _, lerr := exec.LookPath("redis-server"); lerr != nil {
			t.Fatal("NewHost on a machine without redis-server: no error")
		}
	}
}
