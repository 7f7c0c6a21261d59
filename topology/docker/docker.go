package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/logtail"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Labels on everything the docker backend makes (networks, containers, the
// node image), so that cleanup finds exactly what the harness made.
const (
	// LabelManaged is "true" on every harness resource.
	LabelManaged = "io.redis-harness.managed"
	// LabelCluster carries the cluster's name.
	LabelCluster = "io.redis-harness.cluster"
	// LabelRun carries the run id the cluster was made for.
	LabelRun = "io.redis-harness.run"
	// LabelNode carries the node's backend name (n1, n2…) on containers.
	LabelNode = "io.redis-harness.node"
	// LabelDir carries the cluster's state directory (absolute), where a
	// run in progress holds it (Store.Hold): cleanup leaves it alone.
	LabelDir = "io.redis-harness.dir"
)

const (
	dockerPort          = 6379
	dockerPingWithin    = 2 * time.Second
	dockerReadyDefault  = 30 * time.Second
	dockerCleanupWithin = 60 * time.Second
	dockerCallWithin    = 30 * time.Second
	// dockerFirstHost is the host number of n0: n1 gets .11, n2 .12…
	dockerFirstHost = 10
)

// dockerAPI is the part of the engine's API the backend uses; *client.Client
// implements it, and tests can fake it.
type dockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, networkID string) error
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	// For the fault primitives (faults.go).
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerPause(ctx context.Context, containerID string) error
	ContainerUnpause(ctx context.Context, containerID string) error
	// For the sidecars (sidecar.go).
	ContainerAttach(ctx context.Context, containerID string, options container.AttachOptions) (types.HijackedResponse, error)
	Close() error
}

var _ topology.Backend = (*Backend)(nil)

// Backend runs each node in its own container on a user-defined bridge
// network per cluster, at fixed addresses, with cluster-announce-ip set.
type Backend struct {
	// Store records the clusters.
	Store topology.Store
	// Progress receives the output of image builds that Up starts (nil discards it).
	Progress io.Writer
	// ReadyTimeout bounds the wait for a started node to answer PING (default 30 s).
	ReadyTimeout time.Duration
	// Remote makes network faults go through sidecar containers even where
	// the engine is on this machine and nsenter could reach its containers.
	Remote bool

	api dockerAPI
	// lines are the netem delay lines this backend opened, and locks
	// serializes its edits of each node's iptables rules.
	lines netfilter.DelayLines
	locks netfilter.Locks
	// sidecar is what network faults through the engine learnt once.
	sidecar sidecarState
	// afterCreate, when set (by tests), runs after each node's container is created.
	afterCreate func(topology.Node)
}

// New connects to the engine that DOCKER_HOST (or the default socket)
// names, and fails when it does not answer.
func New(ctx context.Context, store topology.Store) (*Backend, error) {
	cli, err := dockerPing(ctx)
	if err != nil {
		return nil, err
	}
	return &Backend{Store: store, api: cli}, nil
}

// Available returns nil when a docker engine answers a ping within
// about 2 s, else an error that says why not.
func Available(ctx context.Context) error {
	cli, err := dockerPing(ctx)
	if err != nil {
		return err
	}
	return cli.Close()
}

// dockerPing makes a client and pings its engine, which also negotiates the
// API version (the engines here speak 1.41).
func dockerPing(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, dockerPingWithin)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("docker backend: the engine at %s did not answer within %v", cli.DaemonHost(), dockerPingWithin)
		}
		return nil, fmt.Errorf("docker backend: no engine answers at %s: %w", cli.DaemonHost(), err)
	}
	return cli, nil
}

// Name is "docker".
func (d *Backend) Name() string { return "docker" }

// Close releases the connection to the engine.
func (d *Backend) Close() error { return d.api.Close() }

// Up makes the network and the spec's nodes and waits until every node
// answers PING. The record is saved as soon as the network exists and after
// each container, so that Down finds a half-made cluster; on error or
// cancellation Up removes what it made, under a context of its own.
func (d *Backend) Up(ctx context.Context, spec topology.Spec) (_ *topology.Cluster, err error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Image == "" && spec.Server != nil && (spec.Server.Root != "" || spec.Server.Source == "path") {
		// A fetched build, or a binary given by path: its own image, made
		// here from it when missing.
		spec.Image = spec.Server.Image()
		if err := d.EnsureServerImage(ctx, *spec.Server, d.Progress); err != nil {
			return nil, err
		}
	} else {
		if spec.Image == "" {
			img, err := DefaultImage()
			if err != nil {
				return nil, fmt.Errorf("docker backend: %w", err)
			}
			spec.Image = img
		}
		if err := d.EnsureImage(ctx, spec.Image, d.Progress); err != nil {
			return nil, err
		}
	}
	c := &topology.Cluster{
		Name: spec.Name, Backend: d.Name(), RunID: spec.RunID, Spec: spec,
		Dir: d.Store.ClusterDir(spec.Name), Network: dockerNetworkName(spec.Name),
	}
	if err := d.claim(ctx, c); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanupWithin)
		defer cancel()
		if derr := d.Down(cctx, c); derr != nil {
			err = fmt.Errorf("%w (cleanup failed too: %v; harness cluster down --name %s retries it)", err, derr, c.Name)
		}
	}()

	nodes := make([]topology.Node, spec.Nodes())
	for i := range nodes {
		if nodes[i], err = d.newNode(c); err != nil {
			return nil, err
		}
	}
	// All nodes start at once; the first failure stops the others, and it
	// (not their "context canceled") is what Up reports.
	var (
		mu       sync.Mutex
		created  = make([]bool, len(nodes))
		firstErr error
		wg       sync.WaitGroup
	)
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.runNode(nctx, c, &nodes[i], func() error {
				mu.Lock()
				defer mu.Unlock()
				created[i] = true
				c.Nodes = c.Nodes[:0]
				for j, ok := range created {
					if ok {
						c.Nodes = append(c.Nodes, nodes[j])
					}
				}
				return d.Store.Save(c)
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil && (ctx.Err() != nil || nctx.Err() == nil) {
					firstErr = err
				}
				mu.Unlock()
				stop()
			}
		}()
	}
	wg.Wait()
	if err = firstErr; err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("docker up %s: %w", c.Name, err)
	}
	c.Nodes = nodes
	if err := d.Store.Save(c); err != nil {
		return nil, err
	}
	return c, nil
}

// claim takes c's name and makes its network, under the store lock so that
// concurrent harness processes neither reuse a name nor race for a subnet.
// It saves the record once the network exists.
func (d *Backend) claim(ctx context.Context, c *topology.Cluster) error {
	unlock, err := d.Store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := d.Store.Load(c.Name); err == nil {
		return fmt.Errorf("cluster %q already exists (harness cluster down --name %s removes it)", c.Name, c.Name)
	}
	left, err := d.leftovers(ctx, c.Name)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("cluster %q: docker still has %s labelled %s=%s from an earlier run (harness cluster down --name %s removes them)",
			c.Name, strings.Join(left, ", "), LabelCluster, c.Name, c.Name)
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return fmt.Errorf("docker up %s: list networks: %w", c.Name, err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		if n.Name == c.Network {
			return fmt.Errorf("docker up %s: a network named %s exists and is not the harness's; remove or rename it", c.Name, c.Network)
		}
		for _, cfg := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	used = append(used, hostPrefixes()...)

	var candidates []netip.Prefix
	if c.Spec.Subnet != "" {
		p, err := dockerParseSubnet(c.Spec.Subnet, c.Spec.Nodes())
		if err != nil {
			return err
		}
		candidates = []netip.Prefix{p}
	} else {
		candidates = dockerFreeSubnets(used)
		if len(candidates) == 0 {
			return fmt.Errorf("docker up %s: every /24 of 172.30.0.0/16 is taken by a docker network or a host interface; pass --subnet", c.Name)
		}
	}
	var lastErr error
	for _, p := range candidates {
		if err := ctx.Err(); err != nil {
			return err
		}
		gw, _ := dockerHostAddr(p, 1)
		cctx, cancel := dockerDetached(ctx)
		_, err := d.api.NetworkCreate(cctx, c.Network, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: p.String(), Gateway: gw.String()}}},
			Labels: d.labels(c, ""),
		})
		cancel()
		if err != nil {
			lastErr = err
			if c.Spec.Subnet == "" && strings.Contains(strings.ToLower(err.Error()), "overlap") {
				continue // another engine user took it since we listed
			}
			return fmt.Errorf("docker up %s: create network %s (%s): %w", c.Name, c.Network, p, err)
		}
		c.Subnet = p.String()
		if err := d.Store.Save(c); err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanupWithin)
			defer cancel()
			d.api.NetworkRemove(cctx, c.Network)
			return err
		}
		return nil
	}
	return fmt.Errorf("docker up %s: no free subnet for network %s: %w", c.Name, c.Network, lastErr)
}

// leftovers names the harness's containers and networks labelled with the cluster's name.
func (d *Backend) leftovers(ctx context.Context, name string) ([]string, error) {
	f := dockerClusterFilter(name)
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of cluster %s: %w", name, err)
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks of cluster %s: %w", name, err)
	}
	var out []string
	for _, ct := range conts {
		out = append(out, "container "+dockerContainerName(ct))
	}
	for _, n := range nets {
		out = append(out, "network "+n.Name)
	}
	return out, nil
}

// newNode names the next node and gives it an address: host number 10+seq
// while the subnet has room, else the lowest one no node of c holds.
func (d *Backend) newNode(c *topology.Cluster) (topology.Node, error) {
	p, err := netip.ParsePrefix(c.Subnet)
	if err != nil {
		return topology.Node{}, fmt.Errorf("cluster %s: subnet %q: %w", c.Name, c.Subnet, err)
	}
	name := c.NextName()
	ip, ok := dockerHostAddr(p, dockerFirstHost+c.Seq)
	if !ok {
		held := map[string]bool{}
		for _, n := range c.Nodes {
			held[n.Host] = true
		}
		for h := dockerFirstHost + 1; ; h++ {
			a, ok := dockerHostAddr(p, h)
			if !ok {
				return topology.Node{}, fmt.Errorf("cluster %s: no address left in %s for node %s", c.Name, c.Subnet, name)
			}
			if !held[a.String()] {
				ip = a
				break
			}
		}
	}
	return topology.Node{Name: name, Host: ip.String(), Addr: net.JoinHostPort(ip.String(), strconv.Itoa(dockerPort))}, nil
}

// runNode creates n's container (filling n.Container and calling created),
// starts it, and waits until the server answers PING.
func (d *Backend) runNode(ctx context.Context, c *topology.Cluster, n *topology.Node, created func() error) error {
	managed := [][2]string{
		{"port", strconv.Itoa(dockerPort)},
		{"bind", "0.0.0.0"},
		{"cluster-announce-ip", n.Host},
		{"cluster-config-file", "nodes.conf"},
		{"dir", "/data"},
		{"logfile", ""},
	}
	cname := dockerNetworkName(c.Name) + "-" + n.Name
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := dockerDetached(ctx)
	defer cancel()
	resp, err := d.api.ContainerCreate(cctx,
		&container.Config{
			Image:    c.Spec.Image,
			Cmd:      dockerServerArgs(topology.NodeConfig(c.Spec, managed)),
			Hostname: n.Name,
			Labels:   d.labels(c, n.Name),
		},
		&container.HostConfig{
			NetworkMode: container.NetworkMode(c.Network),
			CapAdd:      []string{"NET_ADMIN"},
			LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "100m", "max-file": "3"}},
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			c.Network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.Host}},
		}},
		nil, cname)
	if err != nil {
		return fmt.Errorf("node %s: create container %s: %w", n.Name, cname, err)
	}
	n.Container = resp.ID
	if d.afterCreate != nil {
		d.afterCreate(*n)
	}
	if err := created(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if err := d.api.ContainerStart(cctx, resp.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("node %s: start container %s: %w", n.Name, cname, err)
	}
	// Asked after the start, "not-running" also reports a server that has
	// already exited, which "next-exit" asked before it could miss.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitc, werrc := d.api.ContainerWait(wctx, resp.ID, container.WaitConditionNotRunning)

	timeout := d.ReadyTimeout
	if timeout <= 0 {
		timeout = dockerReadyDefault
	}
	rctx, rcancel := context.WithTimeout(ctx, timeout)
	defer rcancel()
	rc := redis.NewClient(&redis.Options{
		Addr: n.Addr, DialTimeout: 250 * time.Millisecond, ReadTimeout: time.Second,
		MaxRetries: -1, PoolSize: 1, Protocol: 2,
	})
	defer rc.Close()
	dialer := net.Dialer{Timeout: 250 * time.Millisecond}
	err = wait.Poll(rctx, 20*time.Millisecond, func() (bool, string, error) {
		select {
		case st := <-exitc:
			msg := fmt.Sprintf("exit status %d", st.StatusCode)
			if st.Error != nil {
				msg += ": " + st.Error.Message
			}
			return false, "", fmt.Errorf("node %s (%s, container %s) exited at start (%s); last lines of its log:\n%s",
				n.Name, n.Addr, cname, msg, logtail.Last(d.logTail(ctx, resp.ID), 20))
		case werr := <-werrc:
			if ctx.Err() == nil {
				return false, "", fmt.Errorf("node %s: wait for container %s: %w", n.Name, cname, werr)
			}
		default:
		}
		// A bare connect first: go-redis logs every failed dial and, after
		// PoolSize of them, fails fast for a second, both wrong for a probe.
		conn, err := dialer.DialContext(rctx, "tcp", n.Addr)
		if err == nil {
			conn.Close()
			err = rc.Ping(rctx).Err()
		}
		if err != nil {
			return false, fmt.Sprintf("node %s (%s, container %s) does not answer PING after %v: %v", n.Name, n.Addr, cname, timeout, err), nil
		}
		return true, "", nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, wait.ErrTimeout) {
		return fmt.Errorf("%w; last lines of its log:\n%s", err, logtail.Last(d.logTail(ctx, resp.ID), 20))
	}
	return err
}

// dockerDetached is the context of a call that changes the engine: a
// cancelled request may still take effect there after the client gave up,
// and cleanup must come after it, so such calls run to their end (bounded)
// and the caller checks ctx between them.
func dockerDetached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), dockerCallWithin)
}

// logTail fetches a container's log for an error message, even when ctx is done.
func (d *Backend) logTail(ctx context.Context, id string) []byte {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b, err := d.containerLogs(lctx, id, "50")
	if err != nil {
		return []byte("(no log: " + err.Error() + ")")
	}
	return b
}

func (d *Backend) containerLogs(ctx context.Context, id, tailLines string) ([]byte, error) {
	rc, err := d.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: tailLines})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	// One buffer for both streams keeps the server's lines in order.
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.Bytes(), err
	}
	return buf.Bytes(), nil
}

// labels are what every resource of c carries; node is empty for the network.
func (d *Backend) labels(c *topology.Cluster, node string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelCluster: c.Name, LabelRun: c.RunID}
	if dir, err := filepath.Abs(c.Dir); err == nil && c.Dir != "" {
		l[LabelDir] = dir
	}
	if node != "" {
		l[LabelNode] = node
	}
	return l
}

// Down removes every container and the network labelled with c's name (found
// on the engine, not only in the record, so that a half-made cluster goes
// too), then c's record. What is already gone is not an error.
func (d *Backend) Down(ctx context.Context, c *topology.Cluster) error {
	f := dockerClusterFilter(c.Name)
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("down %s: list containers: %w", c.Name, err)
	}
	ids := map[string]string{}
	for _, ct := range conts {
		ids[ct.ID] = dockerContainerName(ct)
	}
	for _, n := range c.Nodes {
		if n.Container != "" && !dockerHasID(ids, n.Container) {
			ids[n.Container] = n.Name
		}
	}
	if err := d.removeContainers(ctx, ids); err != nil {
		return fmt.Errorf("down %s: %w", c.Name, err)
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("down %s: list networks: %w", c.Name, err)
	}
	for _, n := range nets {
		if err := d.removeNetwork(ctx, n.ID, c.Name); err != nil {
			return fmt.Errorf("down %s: remove network %s: %w", c.Name, n.Name, err)
		}
	}
	return d.Store.Remove(c.Name)
}

// removeNetwork removes the cluster's network. The engine may still count
// an endpoint of a container just removed ("has active endpoints"), or one
// of a container the listing missed: then the endpoints left are
// disconnected by force (and the cluster's own containers among them
// removed) and the removal tried again, a few times.
func (d *Backend) removeNetwork(ctx context.Context, id, cluster string) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		err = d.api.NetworkRemove(ctx, id)
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		nw, ierr := d.api.NetworkInspect(ctx, id, network.InspectOptions{})
		if ierr != nil {
			if cerrdefs.IsNotFound(ierr) {
				return nil
			}
			return errors.Join(err, ierr)
		}
		for cid := range nw.Containers {
			ct, cerr := d.api.ContainerInspect(ctx, cid)
			if cerr == nil && ct.Config != nil && ct.Config.Labels[LabelCluster] == cluster {
				d.api.ContainerRemove(ctx, cid, container.RemoveOptions{Force: true, RemoveVolumes: true})
				continue
			}
			d.api.NetworkDisconnect(ctx, id, cid, true)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return err
}

// dockerHasID reports whether id, full or short, is among the keys of ids.
func dockerHasID(ids map[string]string, id string) bool {
	for k := range ids {
		if strings.HasPrefix(k, id) || strings.HasPrefix(id, k) {
			return true
		}
	}
	return false
}

// removeContainers force-removes the containers (id → name for messages)
// concurrently, with their anonymous volumes.
func (d *Backend) removeContainers(ctx context.Context, ids map[string]string) error {
	keys := slices.Sorted(maps.Keys(ids))
	return wait.Parallel(len(keys), func(i int) error {
		err := d.api.ContainerRemove(ctx, keys[i], container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: %w", ids[keys[i]], err)
		}
		return nil
	})
}

// AddNode starts one more empty node on c's network and waits until it
// answers PING. On failure its container is removed.
func (d *Backend) AddNode(ctx context.Context, c *topology.Cluster) (topology.Node, error) {
	unlock, err := d.Store.Lock()
	if err != nil {
		return topology.Node{}, err
	}
	n, err := d.newNode(c)
	if err == nil {
		err = d.Store.Save(c) // the advanced Seq: the name is not handed out twice
	}
	unlock()
	if err != nil {
		return topology.Node{}, err
	}
	err = d.runNode(ctx, c, &n, func() error {
		c.Nodes = append(c.Nodes, n)
		return d.Store.Save(c)
	})
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanupWithin)
		defer cancel()
		if _, ok := c.Node(n.Name); ok {
			if rerr := d.RemoveNode(cctx, c, n.Name); rerr != nil {
				err = fmt.Errorf("%w (cleanup failed too: %v)", err, rerr)
			}
		}
		return topology.Node{}, fmt.Errorf("docker add node to %s: %w", c.Name, err)
	}
	return n, nil
}

// RemoveNode force-removes the node's container (found by id and by label)
// and drops it from c's record.
func (d *Backend) RemoveNode(ctx context.Context, c *topology.Cluster, name string) error {
	for i, n := range c.Nodes {
		if n.Name != name && n.Addr != name {
			continue
		}
		f := dockerClusterFilter(c.Name)
		f.Add("label", LabelNode+"="+n.Name)
		conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("remove node %s: list containers: %w", n.Name, err)
		}
		ids := map[string]string{}
		for _, ct := range conts {
			ids[ct.ID] = dockerContainerName(ct)
		}
		if n.Container != "" && !dockerHasID(ids, n.Container) {
			ids[n.Container] = n.Name
		}
		if err := d.removeContainers(ctx, ids); err != nil {
			return fmt.Errorf("remove node %s: %w", n.Name, err)
		}
		c.Nodes = append(c.Nodes[:i:i], c.Nodes[i+1:]...)
		return d.Store.Save(c)
	}
	return fmt.Errorf("cluster %s has no node %q", c.Name, name)
}

// Logs returns the node's server log: the container's stdout and stderr.
func (d *Backend) Logs(ctx context.Context, c *topology.Cluster, name string) ([]byte, error) {
	n, ok := c.Node(name)
	if !ok {
		return nil, fmt.Errorf("cluster %s has no node %q", c.Name, name)
	}
	id := n.Container
	if id == "" {
		id = dockerNetworkName(c.Name) + "-" + n.Name
	}
	b, err := d.containerLogs(ctx, id, "all")
	if err != nil {
		return b, fmt.Errorf("logs of node %s: %w", n.Name, err)
	}
	return b, nil
}

// Clusters names the clusters that have harness-labelled containers or
// networks on the engine, recorded or not, sorted: cluster list shows the
// leftovers that have no record with them.
func (d *Backend) Clusters(ctx context.Context) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list harness containers: %w", err)
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list harness networks: %w", err)
	}
	names := map[string]bool{}
	for _, ct := range conts {
		if n := ct.Labels[LabelCluster]; n != "" {
			names[n] = true
		}
	}
	for _, n := range nets {
		if name := n.Labels[LabelCluster]; name != "" {
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names)), nil
}

// dockerNetworkName is the cluster's network, and the prefix of its containers' names.
func dockerNetworkName(cluster string) string { return "rh-" + cluster }

func dockerClusterFilter(name string) filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelManaged+"=true"), filters.Arg("label", LabelCluster+"="+name))
}

func dockerContainerName(ct container.Summary) string {
	if len(ct.Names) > 0 {
		return strings.TrimPrefix(ct.Names[0], "/")
	}
	if len(ct.ID) > 12 {
		return ct.ID[:12]
	}
	return ct.ID
}

// dockerServerArgs turns "key value" config pairs into redis-server
// arguments. redis-server quotes each value argument itself, so empty values
// and values with spaces or quotes pass through as they are; but a value that
// starts with "--" is read as an option name by some versions (and after
// --save by all), and a last "-" means "config from stdin", so such a pair
// goes as one "--key \"value\"" argument, which redis-server hands to its
// config parser unquoted.
func dockerServerArgs(cfg [][2]string) []string {
	out := make([]string, 0, 2*len(cfg))
	for _, kv := range cfg {
		if strings.HasPrefix(kv[1], "--") || kv[1] == "-" {
			out = append(out, "--"+kv[0]+" "+redisQuote(kv[1]))
			continue
		}
		out = append(out, "--"+kv[0], kv[1])
	}
	return out
}

// redisQuote writes v as a double-quoted string that the redis.conf
// tokenizer (sdssplitargs) reads back as v.
func redisQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; ch {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if ch < 0x20 || ch == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, ch)
			} else {
				b.WriteByte(ch)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// dockerSubnetPool is where clusters' networks go unless --subnet says otherwise.
var dockerSubnetPool = netip.MustParsePrefix("172.30.0.0/16")

// dockerFreeSubnets lists the /24s of the pool, in order, that overlap none of used.
func dockerFreeSubnets(used []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	base := dockerSubnetPool.Addr().As4()
	for n := 0; n < 256; n++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(n), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			out = append(out, p)
		}
	}
	return out
}

// dockerParseSubnet checks a --subnet: IPv4, with room for n nodes from host .11 on.
func dockerParseSubnet(s string, n int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--subnet %q: want an IPv4 subnet such as 172.30.5.0/24", s)
	}
	p = p.Masked()
	if _, ok := dockerHostAddr(p, dockerFirstHost+n); !ok {
		return netip.Prefix{}, fmt.Errorf("--subnet %s: too small for %d nodes at host numbers %d and up", s, n, dockerFirstHost+1)
	}
	return p, nil
}

// dockerHostAddr is the address with host number h in p, and whether it is
// a usable host address (not the network or broadcast address).
func dockerHostAddr(p netip.Prefix, h int) (netip.Addr, bool) {
	a := p.Masked().Addr().As4()
	size := uint64(1) << (32 - p.Bits())
	if h <= 0 || uint64(h) >= size-1 {
		return netip.Addr{}, false
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(a[:])+uint32(h))
	return netip.AddrFrom4(b), true
}

// hostPrefixes are the IPv4 networks of this machine's interfaces: a docker
// network over one of them would cut the machine off from it.
func hostPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(ipn.String()); err == nil && p.Addr().Is4() {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}
