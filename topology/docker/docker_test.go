package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
)

// fakeNetAPI is the engine as Down's network removal sees it: the network
// keeps endpoints until its containers are removed or disconnected.
type fakeNetAPI struct {
	dockerAPI                   // the rest: not called
	endpoints map[string]string // container id → its cluster label ("" foreign)
	stuck     bool              // every removal answers "active endpoints"
	removes   int
	removed   []string
	unhooked  []string
}

func (f *fakeNetAPI) NetworkRemove(ctx context.Context, id string) error {
	f.removes++
	if f.stuck || len(f.endpoints) > 0 {
		return errors.New("Error response from daemon: error while removing network: network rh-x id " + id + " has active endpoints")
	}
	return nil
}

func (f *fakeNetAPI) NetworkInspect(ctx context.Context, id string, _ network.InspectOptions) (network.Inspect, error) {
	nw := network.Inspect{ID: id, Containers: map[string]network.EndpointResource{}}
	for cid := range f.endpoints {
		nw.Containers[cid] = network.EndpointResource{}
	}
	return nw, nil
}

func (f *fakeNetAPI) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	return container.InspectResponse{Config: &container.Config{Labels: map[string]string{LabelCluster: f.endpoints[id]}}}, nil
}

func (f *fakeNetAPI) ContainerRemove(ctx context.Context, id string, _ container.RemoveOptions) error {
	f.removed = append(f.removed, id)
	delete(f.endpoints, id)
	return nil
}

func (f *fakeNetAPI) NetworkDisconnect(ctx context.Context, _, id string, force bool) error {
	if force {
		f.unhooked = append(f.unhooked, id)
		delete(f.endpoints, id)
	}
	return nil
}

// TestDockerRemoveNetworkActiveEndpoints: a network the engine still sees
// endpoints on is freed (the cluster's containers removed, a foreign one
// only disconnected) and removed on a later try; one that never frees is an
// error after a bounded number of tries.
func TestDockerRemoveNetworkActiveEndpoints(t *testing.T) {
	ctx := context.Background()
	f := &fakeNetAPI{endpoints: map[string]string{"ours": "c1", "theirs": ""}}
	d := &Backend{api: f}
	if err := d.removeNetwork(ctx, "net1", "c1"); err != nil {
		t.Fatalf("removeNetwork: %v", err)
	}
	if !slices.Equal(f.removed, []string{"ours"}) || !slices.Equal(f.unhooked, []string{"theirs"}) || f.removes != 2 {
		t.Errorf("removed %v, disconnected %v, %d removals; want [ours], [theirs], 2", f.removed, f.unhooked, f.removes)
	}
	f = &fakeNetAPI{stuck: true}
	d = &Backend{api: f}
	if err := d.removeNetwork(ctx, "net1", "c1"); err == nil || !strings.Contains(err.Error(), "active endpoints") {
		t.Errorf("a network that never frees: %v, want the engine's error", err)
	}
	if f.removes != 5 {
		t.Errorf("%d removals of a stuck network, want 5", f.removes)
	}
}

func TestDockerServerArgs(t *testing.T) {
	got := dockerServerArgs([][2]string{
		{"port", "6379"},
		{"logfile", ""},
		{"save", "900 1 300 10"},
		{"syslog-ident", `say "hi"`},
		{"slowlog-log-slower-than", "-1"},
		{"syslog-ident", "--odd \"x\"\\\n"},
		{"x", "-"},
	})
	want := []string{
		"--port", "6379",
		"--logfile", "",
		"--save", "900 1 300 10",
		"--syslog-ident", `say "hi"`,
		"--slowlog-log-slower-than", "-1",
		`--syslog-ident "--odd \"x\"\\\n"`,
		`--x "-"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dockerServerArgs:\n got %q\nwant %q", got, want)
	}
}

func TestRedisQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"a b", `"a b"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\there\r\n", `"tab\there\r\n"`},
		{"\x01\x7fé", `"\x01\x7fé"`},
	}
	for _, tt := range tests {
		if got := redisQuote(tt.in); got != tt.want {
			t.Errorf("redisQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDockerFreeSubnets(t *testing.T) {
	p := netip.MustParsePrefix
	free := dockerFreeSubnets([]netip.Prefix{
		p("172.17.0.0/16"),   // the default bridge: elsewhere
		p("172.30.0.0/24"),   // taken
		p("172.30.1.128/25"), // half of .1 taken
		p("172.30.3.7/32"),   // a host address in .3
		p("fd00::/64"),       // IPv6 never overlaps
	})
	if len(free) != 256-3 {
		t.Errorf("%d free subnets, want %d", len(free), 256-3)
	}
	if free[0] != p("172.30.2.0/24") || free[1] != p("172.30.4.0/24") {
		t.Errorf("first free subnets %v, want 172.30.2.0/24 then 172.30.4.0/24", free[:2])
	}
	if got := dockerFreeSubnets([]netip.Prefix{p("172.16.0.0/12")}); len(got) != 0 {
		t.Errorf("a /12 over the pool left %v free", got)
	}
}

func TestDockerHostAddr(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		subnet string
		h      int
		want   string
		ok     bool
	}{
		{"172.30.5.0/24", 11, "172.30.5.11", true},
		{"172.30.5.0/24", 254, "172.30.5.254", true},
		{"172.30.5.0/24", 255, "", false}, // broadcast
		{"172.30.5.0/24", 0, "", false},
		{"10.1.0.0/16", 300, "10.1.1.44", true},
		{"10.1.2.128/25", 11, "10.1.2.139", true},
	}
	for _, tt := range tests {
		a, ok := dockerHostAddr(p(tt.subnet), tt.h)
		if ok != tt.ok || ok && a.String() != tt.want {
			t.Errorf("dockerHostAddr(%s, %d) = %v, %v; want %s, %v", tt.subnet, tt.h, a, ok, tt.want, tt.ok)
		}
	}
	if _, err := dockerParseSubnet("172.30.9.0/28", 6); err == nil {
		t.Error("a /28 was accepted for 6 nodes from .11")
	}
	if _, err := dockerParseSubnet("fd00::/64", 3); err == nil {
		t.Error("an IPv6 subnet was accepted")
	}
	if got, err := dockerParseSubnet("172.30.9.7/24", 6); err != nil || got != p("172.30.9.0/24") {
		t.Errorf("dockerParseSubnet(172.30.9.7/24) = %v, %v", got, err)
	}
}

func TestDockerNewNodeAddresses(t *testing.T) {
	c := &topology.Cluster{Name: "x", Subnet: "172.30.7.0/24"}
	for i := 1; i <= 3; i++ {
		n, err := (&Backend{}).newNode(c)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("172.30.7.%d", 10+i)
		if n.Name != fmt.Sprintf("n%d", i) || n.Host != want || n.Addr != want+":6379" {
			t.Errorf("node %d = %+v, want host %s", i, n, want)
		}
		c.Nodes = append(c.Nodes, n)
	}
	// Past the end of the subnet, freed addresses are reused, lowest first.
	c.Seq = 300
	c.Nodes = c.Nodes[1:] // .11 is free again
	n, err := (&Backend{}).newNode(c)
	if err != nil || n.Host != "172.30.7.11" || n.Name != "n301" {
		t.Errorf("past the end: %+v, %v; want n301 at 172.30.7.11", n, err)
	}
}

// --- integration: a real engine ---

// dockerTestBackend returns the backend over a store in a temp dir, or skips the
// test, saying why, when no engine answers.
func dockerTestBackend(t *testing.T) *Backend {
	t.Helper()
	ctx := context.Background()
	if err := Available(ctx); err != nil {
		t.Skipf("docker integration test skipped: %v", err)
	}
	if _, err := DefaultImage(); err != nil {
		t.Skipf("docker integration test skipped: the node image is built from this machine's redis-server: %v", err)
	}
	d, err := New(ctx, topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Available said yes, New said: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// dockerTestName is unique per test and process, so parallel CI jobs on one
// engine do not meet.
func dockerTestName(t *testing.T, what string) string {
	return fmt.Sprintf("t%d-%s-%d", os.Getpid(), what, time.Now().UnixNano()%1e6)
}

// dockerDownAtEnd removes the cluster whatever the test did, and fails the test
// if Down fails.
func dockerDownAtEnd(t *testing.T, d *Backend, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Down(ctx, &topology.Cluster{Name: name}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// dockerAssertGone fails the test when the engine still has anything labelled
// with the cluster's name, or the store still has its record.
func dockerAssertGone(t *testing.T, d *Backend, name string) {
	t.Helper()
	ctx := context.Background()
	f := dockerClusterFilter(name)
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conts {
		t.Errorf("container %s (%s) left behind", dockerContainerName(c), c.State)
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		t.Errorf("network %s left behind", n.Name)
	}
	if _, err := d.Store.Load(name); !errors.Is(err, topology.ErrNoCluster) {
		t.Errorf("record of %s left behind (Load: %v)", name, err)
	}
}

func dockerTestPing(ctx context.Context, t *testing.T, n topology.Node) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, Protocol: 2})
	t.Cleanup(func() { rc.Close() })
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatalf("node %s (%s) PING: %v", n.Name, n.Addr, err)
	}
	return rc
}

func TestDockerBuildImage(t *testing.T) {
	d := dockerTestBackend(t)
	tag := dockerTestImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := d.BuildImage(ctx, tag, &out); err != nil {
		t.Fatalf("BuildImage: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Successfully") {
		t.Errorf("build output lacks the success line:\n%s", out.String())
	}
	img, err := d.api.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config == nil || img.Config.Labels[LabelManaged] != "true" ||
		!reflect.DeepEqual([]string(img.Config.Entrypoint), []string{"/usr/bin/redis-server"}) || img.Config.WorkingDir != "/data" {
		t.Errorf("image config = %+v", img.Config)
	}
	if err := d.EnsureImage(ctx, tag, nil); err != nil {
		t.Errorf("EnsureImage of the built image: %v", err)
	}
	err = d.EnsureImage(ctx, "redis-harness-absent:0.0.0", nil)
	if err == nil || !strings.Contains(err.Error(), "cannot be pulled") {
		t.Errorf("EnsureImage of a missing non-default image = %v, want a cannot-be-pulled error", err)
	}
}

func TestDockerLifecycle(t *testing.T) {
	d := dockerTestBackend(t)
	name := dockerTestName(t, "life")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.EnsureImage(ctx, dockerTestImage(t), nil); err != nil {
		t.Fatal(err) // built outside the timed Up below
	}

	start := time.Now()
	c, err := d.Up(ctx, topology.Spec{
		Name: name, Masters: 3, Replicas: 1, RunID: "run-" + name,
		Config: map[string]string{"save": "900 1 300 10", "syslog-ident": `--odd "quoted" \ value`},
	})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up of %d nodes until each answers PING: %v", len(c.Nodes), time.Since(start))
	if len(c.Nodes) != 6 || c.Backend != "docker" || c.Network != "rh-"+name || c.Subnet == "" {
		t.Fatalf("cluster = %+v", c)
	}
	rec, err := d.Store.Load(name)
	if err != nil || !reflect.DeepEqual(rec.Nodes, c.Nodes) {
		t.Fatalf("record = %+v, %v; want the nodes Up returned", rec, err)
	}

	sub := netip.MustParsePrefix(c.Subnet)
	for i, n := range c.Nodes {
		ip := netip.MustParseAddr(n.Host)
		want, _ := dockerHostAddr(sub, 11+i)
		if n.Name != fmt.Sprintf("n%d", i+1) || ip != want || n.Addr != n.Host+":6379" || n.Container == "" {
			t.Errorf("node %d = %+v, want n%d at %s", i, n, i+1, want)
		}
		rc := dockerTestPing(ctx, t, n)
		info, err := rc.Info(ctx, "cluster").Result()
		if err != nil || !strings.Contains(info, "cluster_enabled:1") {
			t.Errorf("node %s INFO cluster = %q, %v", n.Name, info, err)
		}
		ci, err := rc.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(ci, "cluster_state:") {
			t.Errorf("node %s CLUSTER INFO = %q, %v", n.Name, ci, err)
		}
		nodes, err := rc.ClusterNodes(ctx).Result()
		if err != nil || !strings.Contains(nodes, n.Addr+"@16379 myself") {
			t.Errorf("node %s does not announce %s: CLUSTER NODES = %q, %v", n.Name, n.Addr, nodes, err)
		}
	}
	// The config reached the server through the command line intact.
	rc := dockerTestPing(ctx, t, c.Nodes[0])
	for key, want := range map[string]string{
		"save": "900 1 300 10", "syslog-ident": `--odd "quoted" \ value`, "logfile": "",
		"dir": "/data", "repl-diskless-sync-delay": "0", "cluster-announce-ip": c.Nodes[0].Host,
	} {
		got, err := rc.ConfigGet(ctx, key).Result()
		if err != nil || got[key] != want {
			t.Errorf("CONFIG GET %s = %q, %v; want %q", key, got[key], err, want)
		}
	}

	logs, err := d.Logs(ctx, c, "n1")
	if err != nil || !strings.Contains(string(logs), "Ready to accept connections") {
		t.Errorf("Logs(n1) = %q, %v", logs, err)
	}
	if _, err := d.Logs(ctx, c, "n99"); err == nil {
		t.Error("Logs of an unknown node succeeded")
	}

	names, err := d.Clusters(ctx)
	if err != nil || !slices.Contains(names, name) {
		t.Errorf("Clusters = %v, %v; want %s among them", names, err, name)
	}

	n7, err := d.AddNode(ctx, c)
	if err != nil {
		t.Fatalf("AddNode: %v", err)
	}
	want7, _ := dockerHostAddr(sub, 17)
	if n7.Name != "n7" || n7.Host != want7.String() || len(c.Nodes) != 7 {
		t.Errorf("AddNode = %+v (nodes %d), want n7 at %s", n7, len(c.Nodes), want7)
	}
	dockerTestPing(ctx, t, n7)
	if err := d.RemoveNode(ctx, c, "n7"); err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	if _, ok := c.Node("n7"); ok || len(c.Nodes) != 6 {
		t.Errorf("n7 still in the cluster: %+v", c.Nodes)
	}
	if rec, err := d.Store.Load(name); err != nil || len(rec.Nodes) != 6 {
		t.Errorf("record after RemoveNode: %+v, %v", rec, err)
	}
	if err := d.RemoveNode(ctx, c, "n7"); err == nil {
		t.Error("RemoveNode of a removed node succeeded")
	}

	// Down works from a record that lost a node: it finds containers by label.
	partial := *c
	partial.Nodes = c.Nodes[:4]
	if err := d.Down(ctx, &partial); err != nil {
		t.Fatalf("Down: %v", err)
	}
	dockerAssertGone(t, d, name)
	if err := d.Down(ctx, c); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if names, err := d.Clusters(ctx); err != nil || slices.Contains(names, name) {
		t.Errorf("Clusters after Down = %v, %v", names, err)
	}
}

// TestDockerUpCancelled cancels Up once its second container exists, as
// Ctrl-C would, and checks that nothing is left behind.
func TestDockerUpCancelled(t *testing.T) {
	d := dockerTestBackend(t)
	name := dockerTestName(t, "cancel")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.EnsureImage(ctx, dockerTestImage(t), nil); err != nil {
		t.Fatal(err)
	}
	made := make(chan struct{}, 10)
	d.afterCreate = func(topology.Node) {
		made <- struct{}{}
		if len(made) == 2 {
			cancel()
		}
	}
	c, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3, Replicas: 1})
	if err == nil {
		t.Fatalf("Up on a cancelled context succeeded: %+v", c)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Up error = %v, want context.Canceled", err)
	}
	if len(made) < 2 {
		t.Fatalf("only %d containers were made before the cancel; the test did not test cleanup", len(made))
	}
	dockerAssertGone(t, d, name)

	// Already cancelled before it starts: nothing is made at all.
	d.afterCreate = nil
	if _, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3}); err == nil {
		t.Fatal("Up on a context cancelled beforehand succeeded")
	}
	dockerAssertGone(t, d, name)
}

// TestDockerUpNodeFails starts servers that refuse their config: Up names
// the node, shows its log, and cleans up.
func TestDockerUpNodeFails(t *testing.T) {
	d := dockerTestBackend(t)
	name := dockerTestName(t, "fail")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3, Config: map[string]string{"maxmemory-policy": "bogus"}})
	if err == nil {
		t.Fatal("Up with a bad config succeeded")
	}
	t.Logf("Up error, as wanted: %v", err)
	for _, want := range []string{"node n", "exited at start", "maxmemory-policy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Up error lacks %q:\n%v", want, err)
		}
	}
	dockerAssertGone(t, d, name)
}

// TestDockerUpNameTaken refuses a second cluster of the same name and
// leaves the first one alone.
func TestDockerUpNameTaken(t *testing.T) {
	d := dockerTestBackend(t)
	name := dockerTestName(t, "dup")
	dockerDownAtEnd(t, d, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Up = %v, want already exists", err)
	}
	// A leftover without a record is refused too, with the way out.
	if err := d.Store.Remove(name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Up(ctx, topology.Spec{Name: name, Masters: 3}); err == nil || !strings.Contains(err.Error(), "cluster down --name "+name) {
		t.Errorf("Up over leftovers = %v, want a pointer to cluster down", err)
	}
	for _, n := range c.Nodes {
		dockerTestPing(ctx, t, n)
	}
}

func dockerTestImage(t *testing.T) string {
	t.Helper()
	img, err := DefaultImage()
	if err != nil {
		t.Fatalf("the node image cannot be built here: %v", err)
	}
	return img
}
