package topology

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newLocalCluster brings up a healthy cluster on the local backend in a
// fresh store, torn down when the test ends. It skips, saying why, only
// where redis-server is absent.
func newLocalCluster(t *testing.T, name string, masters, replicas int) (*Local, *Cluster, *Admin) {
	t.Helper()
	return newLocalClusterOn(t, name, nil, masters, replicas)
}

// newLocalClusterOn is newLocalCluster with the nodes running server (nil:
// the host's redis-server).
func newLocalClusterOn(t *testing.T, name string, server *Server, masters, replicas int) (*Local, *Cluster, *Admin) {
	t.Helper()
	l, err := NewLocal(Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := l.Up(ctx, Spec{Name: name, Masters: masters, Replicas: replicas, Server: server, Config: map[string]string{"cluster-node-timeout": "2000"}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background(), c); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	a := NewAdmin()
	t.Cleanup(a.Close)
	plan, err := PlanCreate(c.Nodes, masters, replicas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, plan, 30*time.Second); err != nil {
		t.Fatalf("create: %v", err)
	}
	return l, c, a
}

func TestLocalUpCreateDown(t *testing.T) {
	l, c, a := newLocalCluster(t, "t-local", 3, 1)
	ctx := context.Background()
	snap := a.Snapshot(ctx, c.Addrs())
	if p := snap.Problems(Expect{Masters: 3, Replicas: 1}); len(p) > 0 {
		t.Fatalf("problems after create: %s", ProblemsText(p, 10))
	}
	owners := snap.Owners()
	for _, want := range EvenSplit(3) {
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
		t.Errorf("logs of n1: %v %q", err, tail(logs, 3))
	}
}

// TestLocalNodeFailsToStart: a node that cannot start is named, with the
// last lines of its log, and nothing is left behind.
func TestLocalNodeFailsToStart(t *testing.T) {
	l, err := NewLocal(Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	_, err = l.Up(context.Background(), Spec{Name: "bad", Masters: 3, Config: map[string]string{"maxmemory-policy": "sometimes"}})
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
	l, err := NewLocal(Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := l.Up(ctx, Spec{Name: "cancel", Masters: 3, Replicas: 3}); err == nil {
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
	err = poll(wctx, 50*time.Millisecond, func() (bool, string, error) {
		n, ok := a.Snapshot(wctx, c.Addrs()).Node(replica.ID)
		return ok && n.IsMaster(), "not master yet", nil
	})
	if err != nil {
		t.Errorf("the takeover did not complete: %v", err)
	}
}

// TestCleanupFindsOtherStores: a run keeps its local cluster's record in
// its own run dir, not in the state dir `harness cleanup` is given. After
// the run is killed, cleanup must still find its servers by their node
// dirs (and only with a matching --name when one is given).
func TestCleanupFindsOtherStores(t *testing.T) {
	l, err := NewLocal(Store{Dir: filepath.Join(t.TempDir(), "run", "state")})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := l.Up(ctx, Spec{Name: "t-cleanup-other", Masters: 3})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() { l.Down(context.Background(), c) })
	elsewhere := Store{Dir: t.TempDir()} // the state dir cleanup is given: empty
	found := func(rep CleanupReport) int {
		n := 0
		for _, nd := range c.Nodes {
			for _, p := range rep.Processes {
				if strings.HasSuffix(p, filepath.Join("clusters", c.Name, "nodes", nd.Name)+")") {
					n++
				}
			}
		}
		return n
	}
	// Dry runs only without --name: other tests' clusters run beside this one.
	rep, err := CleanupWith(ctx, elsewhere, CleanupOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(rep); got != len(c.Nodes) {
		t.Fatalf("cleanup found %d of the %d servers of a cluster in another store: %v", got, len(c.Nodes), rep.Processes)
	}
	// Held by a live process (a run in progress): left alone, and said so.
	release, err := l.Store.Hold(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = CleanupWith(ctx, elsewhere, CleanupOptions{DryRun: true, Cluster: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(rep); got != 0 || !strings.Contains(strings.Join(rep.Skipped, "\n"), "in use by a running harness") {
		t.Fatalf("cleanup of a held cluster: would kill %d of its servers, skipped %v", got, rep.Skipped)
	}
	if _, err := l.Store.Hold(c.Name); err == nil {
		t.Error("a second hold of a held cluster succeeded")
	}
	release()
	rep, err = CleanupWith(ctx, elsewhere, CleanupOptions{DryRun: true, Cluster: "some-other-cluster"})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(rep); got != 0 {
		t.Fatalf("cleanup --name some-other-cluster would kill this cluster's servers: %v", rep.Processes)
	}
	if _, err := CleanupWith(ctx, elsewhere, CleanupOptions{Cluster: c.Name}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.Nodes {
		if _, err := ping(ctx, nd.Addr, 500*time.Millisecond); err == nil {
			t.Errorf("%s (%s) still answers after cleanup --name %s", nd.Name, nd.Addr, c.Name)
		}
	}
}

// TestCleanupRemovesRunState: a run killed with SIGKILL leaves its
// cluster's record and its nodes' data in the run dir's state/, with the
// servers running and nothing holding them. Cleanup given the run store
// names that dir and, once its servers are stopped, removes it; a dry run
// and a run holding its cluster leave it.
func TestCleanupRemovesRunState(t *testing.T) {
	runStore := t.TempDir()
	state := filepath.Join(runStore, "smoke", "20260101T000000-1", "state")
	l, err := NewLocal(Store{Dir: state})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := l.Up(ctx, Spec{Name: "t-cleanup-runstate", Masters: 3})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() { l.Down(context.Background(), c) })
	elsewhere := Store{Dir: t.TempDir()}
	opts := CleanupOptions{Cluster: c.Name, RunStores: []string{runStore}}

	release, err := l.Store.Hold(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	held, err := CleanupWith(ctx, elsewhere, opts)
	release()
	if err != nil {
		t.Fatal(err)
	}
	if len(held.RunState) != 0 || len(held.Processes) != 0 {
		t.Fatalf("cleanup of a held run: %+v", held)
	}
	dry := opts
	dry.DryRun = true
	rep, err := CleanupWith(ctx, elsewhere, dry)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.RunState) != 1 || !strings.HasPrefix(rep.RunState[0], state+" (cluster "+c.Name+", ") {
		t.Fatalf("dry run: run state %v, want %s", rep.RunState, state)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the dry run removed the state: %v", err)
	}
	other := opts
	other.Cluster = "some-other-cluster"
	if rep, err := CleanupWith(ctx, elsewhere, other); err != nil || len(rep.RunState) != 0 {
		t.Fatalf("cleanup --name some-other-cluster: %v %v", rep.RunState, err)
	}
	rep, err = CleanupWith(ctx, elsewhere, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.RunState) != 1 || len(rep.Processes) != len(c.Nodes) {
		t.Errorf("cleanup: run state %v, processes %v", rep.RunState, rep.Processes)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the run's state is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(state)); err != nil {
		t.Errorf("cleanup removed the run dir itself, not only its state: %v", err)
	}
}
