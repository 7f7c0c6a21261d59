package docker

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// sidecarCounter is the engine's API with the sidecars created through it
// counted: those joined to a node's namespace, and the rest.
type sidecarCounter struct {
	dockerAPI
	host          string
	joined, other atomic.Int64
}

func (s *sidecarCounter) DaemonHost() string { return s.host }

func (s *sidecarCounter) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	if cfg != nil && cfg.Labels[LabelSidecar] != "" {
		if strings.HasPrefix(string(hc.NetworkMode), "container:") {
			s.joined.Add(1)
		} else {
			s.other.Add(1)
		}
	}
	return s.dockerAPI.ContainerCreate(ctx, cfg, hc, nc, p, name)
}

// countSidecars wraps d's API in a sidecarCounter.
func countSidecars(d *Backend) *sidecarCounter {
	s := &sidecarCounter{dockerAPI: d.api, host: d.daemonHost()}
	d.api = s
	return s
}

// engineProxy forwards loopback TCP connections to the engine's unix
// socket, as an engine on another machine would be reached, and counts them.
type engineProxy struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func startEngineProxy(t *testing.T, socket string) *engineProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &engineProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				u, err := net.Dial("unix", socket)
				if err != nil {
					return
				}
				defer u.Close()
				// Each way half-closes the other, so that a hijacked
				// attach sees the end of its stdin.
				done := make(chan struct{})
				go func() {
					io.Copy(u, c)
					u.(*net.UnixConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, u)
				c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

// remoteRig is a healthy cluster on a docker backend that reaches this
// machine's engine over loopback TCP, as DOCKER_HOST=tcp://… names a remote
// one, and is told to treat it as remote. When the test ends it checks that
// nothing of the cluster is left.
func remoteRig(t *testing.T, what string, masters, replicas int) (testcluster.Rig, *sidecarCounter, *engineProxy) {
	t.Helper()
	local := dockerTestBackend(t)
	host := local.daemonHost()
	socket, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Skipf("skipping: the test forwards a unix socket to TCP, and this engine is at %s", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := local.EnsureImage(ctx, dockerTestImage(t), nil); err != nil {
		t.Fatal(err)
	}
	proxy := startEngineProxy(t, socket)
	t.Setenv("DOCKER_HOST", "tcp://"+proxy.ln.Addr().String())
	d, err := New(ctx, local.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if !strings.HasPrefix(d.daemonHost(), "tcp://127.0.0.1:") {
		t.Fatalf("the backend talks to %s, not the proxy", d.daemonHost())
	}
	d.Remote = true
	var progress strings.Builder
	d.Progress = &progress
	count := countSidecars(d)
	spec := topology.Spec{Name: dockerTestName(t, what), Masters: masters, Replicas: replicas, Config: map[string]string{"cluster-node-timeout": "2000"}}
	r := testcluster.Up(t, d, d.Store, spec, 2*time.Minute, func(t *testing.T, c topology.Cluster) {
		dockerAssertGone(t, local, c.Name)
		assertNoSidecars(t, local, "")
	})
	r.A.Timeout = time.Second
	t.Cleanup(func() {
		if progress.Len() > 0 {
			t.Logf("backend progress:\n%s", progress.String())
		}
	})
	return r, count, proxy
}

// assertNoSidecars fails the test when the engine has a sidecar container
// of the cluster (of any, with an empty name).
func assertNoSidecars(t *testing.T, d *Backend, cluster string) {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", LabelSidecar))
	if cluster != "" {
		f.Add("label", LabelCluster+"="+cluster)
	}
	conts, err := d.api.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conts {
		if cluster == "" && !strings.HasPrefix(c.Labels[LabelCluster], "t"+strconv.Itoa(os.Getpid())+"-") && c.Labels[LabelSidecar] != "probe" {
			continue // another test process's, running now
		}
		t.Errorf("sidecar container %s (%s, cluster %q) left behind", dockerContainerName(c), c.State, c.Labels[LabelCluster])
	}
}

// TestFaultsRemotePartitionFailover runs the shared partition scenario
// against an engine reached over TCP: every rule goes in through sidecars
// joined to the nodes' namespaces, none is left, and neither is a sidecar.
func TestFaultsRemotePartitionFailover(t *testing.T) {
	r, count, proxy := remoteRig(t, "rpart", 3, 1)
	if err := r.B.(topology.FaultChecker).CanFault(topology.AbilityPartition); err != nil {
		t.Fatalf("CanFault(partition) through the engine: %v", err)
	}
	testcluster.PartitionFailover(t, r)
	if n := count.other.Load(); n > 1 {
		t.Errorf("%d netem probes ran, want at most one", n)
	}
	if count.joined.Load() == 0 {
		t.Fatal("no sidecar joined a node's namespace: the partition did not go through the engine")
	}
	t.Logf("%d sidecars joined nodes' namespaces, %d others; %d connections through the proxy", count.joined.Load(), count.other.Load(), proxy.conns.Load())
	d := r.B.(*Backend)
	assertNoSidecars(t, d, r.C.Name)
	// The chain is gone from every node's namespace, as a sidecar sees it.
	for _, n := range r.C.Nodes {
		rules, err := d.sidecarTable(r.C, n, n.Container).Rules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range rules {
			if strings.Contains(l, topology.ChainName(r.C)) {
				t.Errorf("node %s still has %q", n.Name, l)
			}
		}
	}
	assertNoSidecars(t, d, r.C.Name)
}

// TestFaultsRemoteNetem runs the shared netem scenario through sidecars
// where the engine's kernel has sch_netem; elsewhere CanFault must say so,
// and Netem must refuse rather than pretend.
func TestFaultsRemoteNetem(t *testing.T) {
	r, count, _ := remoteRig(t, "rnetem", 3, 0)
	err := r.B.(topology.FaultChecker).CanFault(topology.AbilityNetem)
	if err != nil {
		t.Logf("CanFault(netem) through the engine: %v", err)
		if !strings.Contains(err.Error(), "netem") {
			t.Errorf("the reason does not say what is missing: %v", err)
		}
		if nerr := r.Network().Netem(context.Background(), r.C, r.C.Nodes[0].Name, topology.NetemSpec{Delay: 50 * time.Millisecond}); nerr == nil {
			t.Fatal("Netem succeeded where CanFault said it cannot work")
		}
		if err := r.Network().ClearNetem(context.Background(), r.C, r.C.Nodes[0].Name); err != nil {
			t.Errorf("ClearNetem where netem cannot be: %v", err)
		}
		if count.other.Load() != 1 {
			t.Errorf("%d probe sidecars ran, want exactly one (the probe is made once)", count.other.Load())
		}
		assertNoSidecars(t, r.B.(*Backend), "")
		return
	}
	testcluster.Netem(t, r)
	assertNoSidecars(t, r.B.(*Backend), r.C.Name)
}

// TestNsenterNetNS: nsenter is chosen only when the pid's namespace and
// the sandbox key are the same inode here.
func TestNsenterNetNS(t *testing.T) {
	inspect := func(pid int, key string) container.InspectResponse {
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{Running: true, Pid: pid}},
			NetworkSettings:   &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{SandboxKey: key}},
		}
	}
	self := "/proc/self/ns/net"
	if _, err := os.Stat(self); err != nil {
		t.Skipf("skipping: no %s here: %v", self, err)
	}
	plain := filepath.Join(t.TempDir(), "netns")
	os.WriteFile(plain, nil, 0o644)
	for _, tt := range []struct {
		name string
		in   container.InspectResponse
		want bool
	}{
		{"same namespace", inspect(os.Getpid(), self), true},
		{"sandbox key not here", inspect(os.Getpid(), "/var/run/docker/netns/absent-in-this-test"), false},
		{"sandbox key another file", inspect(os.Getpid(), plain), false},
		{"no sandbox key", inspect(os.Getpid(), ""), false},
		{"pid not here", inspect(1<<30, self), false},
		{"not running", container.InspectResponse{}, false},
	} {
		if got := nsenterNetNS(tt.in) != ""; got != tt.want {
			t.Errorf("%s: nsenterNetNS = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTCNetemArgs: the tc command carries the delay, jitter and loss.
func TestTCNetemArgs(t *testing.T) {
	for _, tt := range []struct {
		q    topology.NetemSpec
		want string
	}{
		{topology.NetemSpec{Delay: 80 * time.Millisecond, Jitter: 5 * time.Millisecond}, "qdisc replace dev eth0 root netem delay 80000us 5000us"},
		{topology.NetemSpec{Loss: 100}, "qdisc replace dev eth0 root netem loss 100%"},
		{topology.NetemSpec{Delay: time.Second, Loss: 0.5}, "qdisc replace dev eth0 root netem delay 1000000us loss 0.5%"},
	} {
		if got := strings.Join(tcNetemArgs(tt.q), " "); got != tt.want {
			t.Errorf("tcNetemArgs(%v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestSidecarImageHere: the sidecar image holds iptables, its extensions
// and their libraries, and a sidecar run in a namespace of its own lists
// an empty filter table and reports a failing command's stderr.
func TestSidecarImageHere(t *testing.T) {
	tools, err := findSidecarTools()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	d := dockerTestBackend(t)
	count := countSidecars(d)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	tag, err := d.BuildSidecarImage(ctx, &out)
	if err != nil {
		t.Fatalf("BuildSidecarImage: %v\n%s", err, out.String())
	}
	if tag != tools.tag {
		t.Errorf("built %s, want %s", tag, tools.tag)
	}
	labels := map[string]string{LabelSidecar: "probe"}
	got, err := d.sidecarRun(ctx, "", "rh-sidecar-test", labels, "iptables", []string{"-w", "5", "-t", "filter", "-S"}, nil)
	if err != nil {
		t.Fatalf("iptables -S in a sidecar: %v", err)
	}
	if !slices.Contains(strings.Split(strings.TrimSpace(string(got)), "\n"), "-P INPUT ACCEPT") {
		t.Errorf("iptables -S in a fresh namespace printed %q", got)
	}
	in := "*filter\n:RH-sidecar-test - [0:0]\n-A RH-sidecar-test -s 10.9.9.9/32 -j DROP\nCOMMIT\n"
	if _, err := d.sidecarRun(ctx, "", "rh-sidecar-test", labels, "iptables-restore", []string{"-w", "5", "--noflush"}, strings.NewReader(in)); err != nil {
		t.Fatalf("iptables-restore in a sidecar: %v", err)
	}
	_, err = d.sidecarRun(ctx, "", "rh-sidecar-test", labels, "iptables", []string{"-w", "5", "-X", "RH-no-such-chain"}, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status") {
		t.Errorf("a failing command in a sidecar = %v, want its exit status and stderr", err)
	}
	if count.other.Load() != 3 {
		t.Errorf("%d sidecars made, want 3", count.other.Load())
	}
	assertNoSidecars(t, d, "")
}

// TestCleanupRemovesSidecars: a sidecar a killed harness left (made, never
// removed) is found and removed by cleanup, narrowed to its cluster or not.
func TestCleanupRemovesSidecars(t *testing.T) {
	if _, err := findSidecarTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	d := dockerTestBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := d.sidecarImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &topology.Cluster{Name: dockerTestName(t, "left"), Dir: d.Store.ClusterDir("x"), RunID: "r1"}
	labels := d.labels(c, "")
	labels[LabelSidecar] = "n1"
	resp, err := d.api.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"iptables", "-S"}, Labels: labels},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, dockerNetworkName(c.Name)+"-n1-sidecar-left")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.api.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true}) })
	dry, ok, err := Cleanup(ctx, d.Store, c.Name, true)
	if err != nil || !ok {
		t.Fatalf("dry cleanup: %v (ok %v)", err, ok)
	}
	want := dockerNetworkName(c.Name) + "-n1-sidecar-left (cluster " + c.Name + ")"
	if !slices.Equal(dry.Containers, []string{want}) {
		t.Fatalf("dry cleanup found %q, want %q", dry.Containers, want)
	}
	assertSidecarCount(t, d, c.Name, 1)
	if _, _, err := Cleanup(ctx, d.Store, c.Name, false); err != nil {
		t.Fatal(err)
	}
	assertSidecarCount(t, d, c.Name, 0)
}

func assertSidecarCount(t *testing.T, d *Backend, cluster string, want int) {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", LabelSidecar), filters.Arg("label", LabelCluster+"="+cluster))
	conts, err := d.api.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(conts) != want {
		t.Errorf("%d sidecars of cluster %s on the engine, want %d", len(conts), cluster, want)
	}
}

// TestFaultsRemoteKillRestartPauseResume: lifecycle faults need nothing but
// the API, and make no sidecar.
func TestFaultsRemoteKillRestartPauseResume(t *testing.T) {
	r, count, _ := remoteRig(t, "rlife", 3, 1)
	testcluster.KillRestartPauseResume(t, r)
	if n := count.joined.Load() + count.other.Load(); n != 0 {
		t.Errorf("%d sidecars made for lifecycle faults", n)
	}
}
