package backends_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/local"
)

// rig is a healthy cluster of 3 masters on the named backend, or a skip
// saying why that backend is absent here.
func rig(t *testing.T, backend, what string) testcluster.Rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := Spec{Masters: 3, Config: map[string]string{"cluster-node-timeout": "2000"}}
	var b Backend
	var store Store
	switch backend {
	case "local":
		l, err := local.NewHost(Store{Dir: t.TempDir()})
		if err != nil {
			t.Skipf("skipping: %v", err)
		}
		b, store, spec.Name = l, l.Store, "t-"+what
	case "docker":
		if err := docker.Available(ctx); err != nil {
			t.Skipf("docker integration test skipped: %v", err)
		}
		img, err := docker.DefaultImage()
		if err != nil {
			t.Skipf("docker integration test skipped: the node image is built from this machine's redis-server: %v", err)
		}
		d, err := docker.New(ctx, Store{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.EnsureImage(ctx, img, nil); err != nil {
			t.Fatal(err)
		}
		b, store = d, d.Store
		spec.Name = fmt.Sprintf("t%d-%s-%d", os.Getpid(), what, time.Now().UnixNano()%1e6)
	}
	r := testcluster.Up(t, b, store, spec, 2*time.Minute, func(t *testing.T, c Cluster) {
		testcluster.AssertNoChain(t, &c)
		left, err := backends.CleanupWith(context.Background(), store, backends.CleanupOptions{DryRun: true, Cluster: c.Name})
		if err != nil || len(left.Containers)+len(left.Networks)+len(left.Records) > 0 {
			t.Errorf("left behind: %+v, %v", left, err)
		}
	})
	r.A.Timeout = time.Second
	return r
}

// TestCleanupAfterKill leaves what a SIGKILLed harness would (nodes
// running, a partition and a netem rule in place, the record) and checks
// that a cleanup narrowed to the cluster finds and removes all of it; a dry
// run first removes nothing.
func TestCleanupAfterKill(t *testing.T) {
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testcluster.NeedRoot(t)
			cleanupAfterKill(t, rig(t, backend, "clean"))
		})
	}
}

func cleanupAfterKill(t *testing.T, r testcluster.Rig) {
	ctx := context.Background()
	n1, n2 := r.C.Nodes[0].Name, r.C.Nodes[1].Name
	if err := r.Network().Partition(ctx, r.C, []Cut{{From: n1, To: n2}}); err != nil {
		t.Fatal(err)
	}
	// Held by a live run: nothing of it is touched, and cleanup says so.
	release, err := r.Store.Hold(r.C.Name)
	if err != nil {
		t.Fatal(err)
	}
	held, err := backends.CleanupWith(ctx, r.Store, backends.CleanupOptions{DryRun: true, Cluster: r.C.Name})
	release()
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Containers)+len(held.Networks)+len(held.Processes)+len(held.Chains)+len(held.Records) != 0 || !strings.Contains(strings.Join(held.Skipped, "\n"), "in use by a running harness") {
		t.Errorf("cleanup of a held cluster: %+v", held)
	}
	dry, err := backends.CleanupWith(ctx, r.Store, backends.CleanupOptions{DryRun: true, Cluster: r.C.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dry run: %+v", dry)
	if len(dry.Records) != 1 {
		t.Errorf("dry run found records %v, want the cluster's", dry.Records)
	}
	switch r.B.(type) {
	case *local.Backend:
		if len(dry.Processes) != 3 || len(dry.Chains) != 1 {
			t.Errorf("dry run found processes %v and chains %v, want 3 and 1", dry.Processes, dry.Chains)
		}
	case *docker.Backend:
		if len(dry.Containers) != 3 || len(dry.Networks) != 1 {
			t.Errorf("dry run found containers %v and networks %v, want 3 and 1", dry.Containers, dry.Networks)
		}
	}
	if _, err := testcluster.Ping(ctx, r.C.Nodes[0].Addr, time.Second); err != nil {
		t.Fatalf("the dry run stopped a node: %v", err)
	}
	rep, err := backends.CleanupWith(ctx, r.Store, backends.CleanupOptions{Cluster: r.C.Name})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Processes, rep.Chains, rep.Containers, rep.Networks, rep.Records) != fmt.Sprint(dry.Processes, dry.Chains, dry.Containers, dry.Networks, dry.Records) {
		t.Errorf("cleanup removed %+v, the dry run found %+v", rep, dry)
	}
	if _, err := r.Store.Load(r.C.Name); !errors.Is(err, ErrNoCluster) {
		t.Errorf("record still there: %v", err)
	}
	again, err := backends.CleanupWith(ctx, r.Store, backends.CleanupOptions{Cluster: r.C.Name})
	if err != nil || !again.Empty() {
		t.Errorf("second cleanup found %+v, %v; want nothing", again, err)
	}
}

// TestCleanupFindsOtherStores: a run keeps its local cluster's record in
// its own run dir, not in the state dir `harness cleanup` is given. After
// the run is killed, cleanup must still find its servers by their node
// dirs (and only with a matching --name when one is given).
func TestCleanupFindsOtherStores(t *testing.T) {
	l, err := local.NewHost(Store{Dir: filepath.Join(t.TempDir(), "run", "state")})
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
	found := func(rep backends.CleanupReport) int {
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
	rep, err := backends.CleanupWith(ctx, elsewhere, backends.CleanupOptions{DryRun: true})
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
	rep, err = backends.CleanupWith(ctx, elsewhere, backends.CleanupOptions{DryRun: true, Cluster: c.Name})
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
	rep, err = backends.CleanupWith(ctx, elsewhere, backends.CleanupOptions{DryRun: true, Cluster: "some-other-cluster"})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(rep); got != 0 {
		t.Fatalf("cleanup --name some-other-cluster would kill this cluster's servers: %v", rep.Processes)
	}
	if _, err := backends.CleanupWith(ctx, elsewhere, backends.CleanupOptions{Cluster: c.Name}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.Nodes {
		if _, err := testcluster.Ping(ctx, nd.Addr, 500*time.Millisecond); err == nil {
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
	l, err := local.NewHost(Store{Dir: state})
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
	opts := backends.CleanupOptions{Cluster: c.Name, RunStores: []string{runStore}}

	release, err := l.Store.Hold(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	held, err := backends.CleanupWith(ctx, elsewhere, opts)
	release()
	if err != nil {
		t.Fatal(err)
	}
	if len(held.RunState) != 0 || len(held.Processes) != 0 {
		t.Fatalf("cleanup of a held run: %+v", held)
	}
	dry := opts
	dry.DryRun = true
	rep, err := backends.CleanupWith(ctx, elsewhere, dry)
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
	if rep, err := backends.CleanupWith(ctx, elsewhere, other); err != nil || len(rep.RunState) != 0 {
		t.Fatalf("cleanup --name some-other-cluster: %v %v", rep.RunState, err)
	}
	rep, err = backends.CleanupWith(ctx, elsewhere, opts)
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
