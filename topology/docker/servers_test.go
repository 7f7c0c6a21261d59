package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/internal/wait"
)

// TestServerMatrixDocker runs a Valkey cluster in containers made FROM
// scratch from the fetched build: create, identify, a node killed and
// restarted, and the cross-check with valkey-cli.
func TestServerMatrixDocker(t *testing.T) {
	d := dockerTestBackend(t)
	srv := testcluster.Server(t, "valkey-8.1.1")
	name := dockerTestName(t, "valkey")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := d.EnsureServerImage(ctx, srv, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s", srv.Image(), time.Since(start).Round(time.Millisecond))
	c, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3, Replicas: 1, RunID: "run-" + name, Server: &srv, Config: map[string]string{"cluster-node-timeout": "2000"}})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if c.Spec.Image != srv.Image() {
		t.Errorf("image %q, want %q", c.Spec.Image, srv.Image())
	}
	a := topology.NewAdmin()
	t.Cleanup(a.Close)
	plan, err := topology.PlanCreate(c.Nodes, 3, 1)
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
	// Valkey writes a replica's shard id to nodes.conf before gossip has
	// made it its primary's, and refuses to start from such a file
	// ("corrupted cluster config file"; valkey-io/valkey#774, #2171): a
	// node killed in that window never comes back. This test is about the
	// build running and restarting, so it waits until every node sees
	// three shards of a primary and its replica.
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	err = wait.Poll(sctx, 100*time.Millisecond, func() (bool, string, error) {
		for _, n := range c.Nodes {
			reply, err := a.Do(sctx, n.Addr, "CLUSTER", "SHARDS")
			if err != nil {
				return false, err.Error(), nil
			}
			shards, err := topology.ParseClusterShards(reply)
			if err != nil {
				return false, "", err
			}
			if len(shards) != 3 {
				return false, fmt.Sprintf("%s sees %d shards", n.Addr, len(shards)), nil
			}
			for _, sh := range shards {
				if len(sh.Nodes) != 2 {
					return false, fmt.Sprintf("%s sees a shard of %d nodes", n.Addr, len(sh.Nodes)), nil
				}
			}
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("shard ids did not settle: %v", err)
	}
	victim := c.Nodes[len(c.Nodes)-1].Name
	if err := d.Kill(ctx, c, victim); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(ctx, c, victim); err != nil {
		t.Fatal(err)
	}
	testcluster.Healthy(ctx, t, a, c.Addrs(), topology.Expect{Masters: 3, Replicas: 1})
	testcluster.CLICheck(t, srv, c.Nodes[0].Addr)
}

// TestPathServerDocker: --server PATH on docker makes a node image of that
// binary (with the libraries it loads) and runs the cluster on it; the
// binary changed in place gets a new image.
func TestPathServerDocker(t *testing.T) {
	d := dockerTestBackend(t)
	host, err := topology.HostServer(context.Background())
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "redis-server")
	b, err := os.ReadFile(host.Bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := topology.Servers{}.Resolve(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err == nil {
			_, _ = cli.ImageRemove(context.Background(), srv.Image(), image.RemoveOptions{Force: true, PruneChildren: true})
			cli.Close()
		}
	})
	name := dockerTestName(t, "path")
	dockerDownAtEnd(t, d, name)
	c, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3, RunID: "run-" + name, Server: &srv})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if c.Spec.Image != srv.Image() || !strings.Contains(srv.Image(), ":path-redis-"+host.Version+"-") {
		t.Errorf("image %q (server image %q)", c.Spec.Image, srv.Image())
	}
	a := topology.NewAdmin()
	t.Cleanup(a.Close)
	for _, n := range c.Nodes {
		if id, err := a.Identify(ctx, n.Addr); err != nil || id.Version != host.Version {
			t.Errorf("%s reports %+v, %v; want version %s", n.Addr, id, err, host.Version)
		}
	}
	first, err := d.api.ImageInspect(ctx, srv.Image())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureServerImage(ctx, srv, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := d.api.ImageInspect(ctx, srv.Image()); again.ID != first.ID {
		t.Errorf("the same binary was built again: %s, then %s", first.ID, again.ID)
	}
	// Rebuilt in place (a trailing byte leaves the ELF runnable): a new image.
	if err := os.WriteFile(bin, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureServerImage(ctx, srv, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := d.api.ImageInspect(ctx, srv.Image()); again.ID == first.ID {
		t.Error("the binary changed in place but its image was kept")
	}
}
