package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/internal/logtail"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

// BasePort is the client port of a host's first node; a host carrying
// several nodes of a cluster gives them the next free ports (the bus is
// +10000).
const BasePort = 6379

// startWithin bounds a node's start until it answers PING.
const startWithin = 20 * time.Second

// Backend runs nodes as server processes on the hosts of a hosts file,
// over SSH: placed round-robin over the hosts, each bound to and
// announcing its host's address, with config, data and log under the
// cluster's dir on the host (RemoteDir).
type Backend struct {
	Store topology.Store
	Inv   *Inventory

	pool  *pool
	locks netfilter.Locks
	mu    sync.Mutex
	bins  map[string]string // host addr → its redis-server, found with command -v
	// cgroots are the hosts' cgroup v2 roots ("" where there is none).
	cgroots map[string]string
	agents  agentSet // the delay line agents running for netem (netem.go)
}

var _ topology.Backend = (*Backend)(nil)

// New returns the ssh backend on inv's hosts. Nodes announce their
// host's address, so two hosts may not share one.
func New(store topology.Store, inv *Inventory) (*Backend, error) {
	seen := map[string]bool{}
	for _, h := range inv.Hosts {
		if seen[h.Addr] {
			return nil, fmt.Errorf("%s: host addr %s is listed twice: nodes bind and announce a host's addr, so each host needs its own", inv.where(h.line), h.Addr)
		}
		seen[h.Addr] = true
	}
	return &Backend{Store: store, Inv: inv, pool: &pool{inv: inv}, bins: map[string]string{}, cgroots: map[string]string{}}, nil
}

// Open returns the backend on the hosts c's record names.
func Open(store topology.Store, c *topology.Cluster) (*Backend, error) {
	if c.Hosts == "" {
		return nil, fmt.Errorf("cluster %s: its record names no hosts", c.Name)
	}
	inv, err := ParseInventory([]byte(c.Hosts), filepath.Join(store.ClusterDir(c.Name), "cluster.json"))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: the hosts in its record: %w", c.Name, err)
	}
	return New(store, inv)
}

// Close ends the SSH connections.
func (b *Backend) Close() error {
	b.pool.close()
	return nil
}

// Name is "ssh".
func (b *Backend) Name() string { return "ssh" }

// inventoryText is the hosts file as the record keeps it: paths absolute,
// so that it reads the same from any directory.
func (b *Backend) inventoryText() (string, error) {
	out, err := yaml.Marshal(b.Inv)
	if err != nil {
		return "", fmt.Errorf("record the hosts: %w", err)
	}
	return string(out), nil
}

// Up places the spec's nodes over the hosts and starts them. The record
// is saved before the first server starts, so that down (or cleanup)
// finds a half-made cluster.
func (b *Backend) Up(ctx context.Context, spec topology.Spec) (_ *topology.Cluster, err error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	hosts, err := b.inventoryText()
	if err != nil {
		return nil, err
	}
	c := &topology.Cluster{Name: spec.Name, Backend: b.Name(), RunID: spec.RunID, Spec: spec, Dir: b.Store.ClusterDir(spec.Name), Hosts: hosts}
	unlock, err := b.Store.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := b.Store.Load(spec.Name); err == nil {
		return nil, fmt.Errorf("cluster %q already exists (harness cluster down --name %s removes it)", spec.Name, spec.Name)
	}
	for range spec.Nodes() {
		n, err := b.place(ctx, c)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := b.Store.Save(c); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			b.Down(cctx, c)
		}
	}()
	if err := b.prepare(ctx, c, hostsOf(c.Nodes)); err != nil {
		return nil, err
	}
	err = wait.Parallel(len(c.Nodes), func(i int) error {
		pid, err := b.start(ctx, c, c.Nodes[i])
		c.Nodes[i].PID = pid
		return err
	})
	if serr := b.Store.Save(c); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func hostsOf(nodes []topology.Node) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if !seen[n.Host] {
			seen[n.Host] = true
			out = append(out, n.Host)
		}
	}
	return out
}

// place makes c's next node: on the host carrying the fewest of c's
// nodes (the first in the hosts file on a tie), which is round-robin for
// a new cluster, at the lowest port from BasePort that the host has free
// for it and its bus and that no cluster of the store uses there.
// topology.PlanCreate then gives every master its replicas on other
// hosts where the host count allows.
func (b *Backend) place(ctx context.Context, c *topology.Cluster) (topology.Node, error) {
	count := map[string]int{}
	for _, n := range c.Nodes {
		count[n.Host]++
	}
	h := b.Inv.Hosts[0]
	for _, cand := range b.Inv.Hosts {
		if count[cand.Addr] < count[h.Addr] {
			h = cand
		}
	}
	used, err := b.pool.listeningPorts(ctx, h.Addr)
	if err != nil {
		return topology.Node{}, err
	}
	others, err := b.Store.List()
	if err != nil {
		return topology.Node{}, err
	}
	for _, o := range append(others, c) {
		for _, n := range o.Nodes {
			if n.Host == h.Addr {
				if _, p, err := net.SplitHostPort(n.Addr); err == nil {
					port, _ := strconv.Atoi(p)
					used[port] = true
				}
			}
		}
	}
	port := BasePort
	for ; used[port] || used[port+10000]; port++ {
		if port >= 55535 {
			return topology.Node{}, fmt.Errorf("host %s: no free port pair from %d up for a node and its bus", h.Addr, BasePort)
		}
	}
	name := c.NextName()
	return topology.Node{
		Name: name, Addr: net.JoinHostPort(h.Addr, strconv.Itoa(port)), Host: h.Addr,
		Dir: RemoteDir(c) + "/" + name,
	}, nil
}

// prepare makes the cluster's dir on each host, with its owner file, and
// puts the server there: a fetched build is uploaded into it; otherwise
// the host's own redis-server is looked up.
func (b *Backend) prepare(ctx context.Context, c *topology.Cluster, hosts []string) error {
	dir := RemoteDir(c)
	return wait.Parallel(len(hosts), func(i int) error {
		h := hosts[i]
		owner := c.Name + "\n" + c.Dir + "\n"
		cmd := fmt.Sprintf("mkdir -p %s && cat > %s", Quote(dir), Quote(dir+"/"+ownerFile))
		if _, err := b.pool.run(ctx, h, cmd, strings.NewReader(owner)); err != nil {
			return fmt.Errorf("host %s: make the cluster's dir: %w", h, err)
		}
		if s := c.Spec.Server; s != nil && s.Root != "" {
			return b.upload(ctx, c, h, *s)
		}
		_, err := b.hostServer(ctx, h)
		return err
	})
}

// hostServer is the host's redis-server.
func (b *Backend) hostServer(ctx context.Context, h string) (string, error) {
	b.mu.Lock()
	bin, ok := b.bins[h]
	b.mu.Unlock()
	if ok {
		return bin, nil
	}
	out, err := b.pool.run(ctx, h, "command -v redis-server", nil)
	bin = strings.TrimSpace(string(out.Stdout))
	if err != nil || bin == "" {
		return "", fmt.Errorf("host %s: no redis-server on its PATH (install Debian's redis-server there, or give --server NAME of a fetched build, which the harness uploads): %v", h, err)
	}
	b.mu.Lock()
	b.bins[h] = bin
	b.mu.Unlock()
	return bin, nil
}

// serverDir is where a fetched build is uploaded in the cluster's dir.
func serverDir(c *topology.Cluster) string { return RemoteDir(c) + "/server" }

// upload copies a fetched build to the host, laid out as on an empty
// root (Server.Files) under serverDir, with its loader under the server's
// name beside it, as topology/local runs it.
func (b *Backend) upload(ctx context.Context, c *topology.Cluster, h string, s topology.Server) error {
	files, err := s.Files()
	if err != nil {
		return fmt.Errorf("upload server %s to %s: %w", s.Name, h, err)
	}
	conn, err := b.pool.conn(ctx, h)
	if err != nil {
		return err
	}
	files = append(files, topology.ServerFile{Path: "/launch/" + s.ServerName(), Source: s.Loader})
	for _, f := range files {
		src, err := os.Open(f.Source)
		if err != nil {
			return fmt.Errorf("upload server %s to %s: %w", s.Name, h, err)
		}
		err = conn.Upload(ctx, serverDir(c)+f.Path, 0o755, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("upload server %s to %s: %w", s.Name, h, err)
		}
	}
	return nil
}

// serverCommand is the shell command that runs c's server with conf on
// host h.
func (b *Backend) serverCommand(ctx context.Context, c *topology.Cluster, h, conf string) (string, error) {
	if s := c.Spec.Server; s != nil && s.Root != "" {
		dir := serverDir(c)
		lib := dir + "/usr/lib/" + filepath.Base(s.LibDir)
		return strings.Join([]string{
			Quote(dir + "/launch/" + s.ServerName()), "--library-path", Quote(lib), "--argv0", Quote(s.ServerName()),
			Quote(dir + "/usr/bin/" + s.ServerName()), Quote(conf),
		}, " "), nil
	}
	bin, err := b.hostServer(ctx, h)
	if err != nil {
		return "", err
	}
	return Quote(bin) + " " + Quote(conf), nil
}

// start writes the node's config and starts its server in a session of
// its own (it outlives the SSH session), then waits until it answers
// PING from this machine.
func (b *Backend) start(ctx context.Context, c *topology.Cluster, n topology.Node) (int, error) {
	ip, port, _ := net.SplitHostPort(n.Addr)
	conf := n.Dir + "/redis.conf"
	conn, err := b.pool.conn(ctx, n.Host)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	if err := conn.Upload(ctx, conf, 0o644, strings.NewReader(backendkit.ProcessConfig(c.Spec, ip, port, n.Dir))); err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	server, err := b.serverCommand(ctx, c, n.Host, conf)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	// Where the host has cgroup v2, the server runs in a cgroup of its
	// own, which makes cuts exact (cgroup.go).
	root, err := b.cgroupRoot(ctx, n.Host)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	if root != "" {
		cg := root + "/" + cgroupRel(c, n.Name)
		server = fmt.Sprintf("sh -c %s", Quote(fmt.Sprintf("mkdir -p %s && echo $$ > %s && exec %s", Quote(cg), Quote(cg+"/cgroup.procs"), server)))
	}
	cmd := fmt.Sprintf("cd %s && { setsid %s >>redis.log 2>&1 </dev/null & }", Quote(n.Dir), server)
	if _, err := b.pool.run(ctx, n.Host, cmd, nil); err != nil {
		return 0, fmt.Errorf("node %s: start the server on %s: %w", n.Name, n.Host, err)
	}
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rc.Close()
	wctx, cancel := context.WithTimeout(ctx, startWithin)
	defer cancel()
	began := time.Now()
	lastCheck := began
	pid := 0
	err = wait.Poll(wctx, 20*time.Millisecond, func() (bool, string, error) {
		if err := rc.Ping(wctx).Err(); err != nil {
			// Now and then, whether the server still runs at all.
			if time.Since(lastCheck) > time.Second {
				lastCheck = time.Now()
				if ps, perr := b.pool.procs(wctx, n.Host, n.Dir); perr == nil && mainProc(ps) == nil {
					return false, "", fmt.Errorf("node %s (%s) exited at start; last lines of %s on %s:\n%s", n.Name, n.Addr, n.Dir+"/redis.log", n.Host, logtail.Last(b.logBytes(ctx, n), 20))
				}
			}
			return false, fmt.Sprintf("node %s (%s) does not answer PING: %v", n.Name, n.Addr, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		b.stop(cctx, n)
		if errors.Is(err, wait.ErrTimeout) {
			err = fmt.Errorf("%w; last lines of its log on %s:\n%s", err, n.Host, logtail.Last(b.logBytes(cctx, n), 20))
		}
		return 0, err
	}
	if ps, err := b.pool.procs(ctx, n.Host, n.Dir); err == nil {
		if p := mainProc(ps); p != nil {
			pid = p.PID
		}
	}
	return pid, nil
}

// logBytes is the node's log, or what went wrong reading it.
func (b *Backend) logBytes(ctx context.Context, n topology.Node) []byte {
	out, err := b.pool.run(ctx, n.Host, "cat "+Quote(n.Dir+"/redis.log"), nil)
	if err != nil {
		return []byte(err.Error())
	}
	return out.Stdout
}

// stop kills every server process of the node (its forked children too)
// and waits until they are gone.
func (b *Backend) stop(ctx context.Context, n topology.Node) error {
	return b.killUnder(ctx, n.Host, n.Dir, func(p proc) bool { return p.Cwd == n.Dir }, "node "+n.Name)
}

// killUnder SIGKILLs the server processes under dir on host h that match
// keep, and waits until none is left.
func (b *Backend) killUnder(ctx context.Context, h, dir string, match func(proc) bool, what string) error {
	var left []int
	err := wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		ps, err := b.pool.procs(ctx, h, dir)
		if err != nil {
			return false, "", err
		}
		left = left[:0]
		for _, p := range ps {
			if match(p) {
				left = append(left, p.PID)
			}
		}
		if len(left) == 0 {
			return true, "", nil
		}
		var pids []string
		for _, pid := range left {
			pids = append(pids, strconv.Itoa(pid))
		}
		if _, err := b.pool.run(ctx, h, "kill -KILL "+strings.Join(pids, " ")+" 2>/dev/null; true", nil); err != nil {
			return false, "", err
		}
		return false, fmt.Sprintf("%s on %s: pids %v still running", what, h, left), nil
	})
	if err != nil {
		return fmt.Errorf("kill %s on %s: %w", what, h, err)
	}
	return nil
}

// Down kills every server of the cluster on every host, removes its dir
// there, heals its network, and removes its record.
func (b *Backend) Down(ctx context.Context, c *topology.Cluster) error {
	dir := RemoteDir(c)
	hosts := b.hostsOf(c)
	// The rules first: they name the nodes' cgroups.
	err := b.HealNetwork(ctx, c)
	err = errors.Join(err, wait.Parallel(len(hosts), func(i int) error {
		h := hosts[i]
		if err := b.killUnder(ctx, h, dir, func(proc) bool { return true }, "cluster "+c.Name); err != nil {
			return err
		}
		if _, err := b.pool.run(ctx, h, "rm -rf "+Quote(dir)+"; "+rmCgroupsScript(cgroupRel(c, "")), nil); err != nil {
			return fmt.Errorf("remove %s on %s: %w", dir, h, err)
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("down %s: %w", c.Name, err)
	}
	return b.Store.Remove(c.Name)
}

// hostsOf are the hosts c may have anything on: every host of the hosts
// file (a node removed or a half-made up may have left its dir).
func (b *Backend) hostsOf(c *topology.Cluster) []string {
	var out []string
	for _, h := range b.Inv.Hosts {
		out = append(out, h.Addr)
	}
	return out
}

// AddNode starts one more empty node on the host carrying the fewest.
func (b *Backend) AddNode(ctx context.Context, c *topology.Cluster) (topology.Node, error) {
	unlock, err := b.Store.Lock()
	if err != nil {
		return topology.Node{}, err
	}
	defer unlock()
	n, err := b.place(ctx, c)
	if err != nil {
		return topology.Node{}, err
	}
	c.Nodes = append(c.Nodes, n)
	if err := b.Store.Save(c); err != nil {
		return topology.Node{}, err
	}
	if err := b.prepare(ctx, c, []string{n.Host}); err != nil {
		b.RemoveNode(context.WithoutCancel(ctx), c, n.Name)
		return topology.Node{}, err
	}
	pid, err := b.start(ctx, c, n)
	if err != nil {
		b.RemoveNode(context.WithoutCancel(ctx), c, n.Name)
		return topology.Node{}, err
	}
	c.Nodes[len(c.Nodes)-1].PID = pid
	return c.Nodes[len(c.Nodes)-1], b.Store.Save(c)
}

// RemoveNode kills the node and deletes its dir on its host.
func (b *Backend) RemoveNode(ctx context.Context, c *topology.Cluster, name string) error {
	for i, n := range c.Nodes {
		if n.Name != name && n.Addr != name {
			continue
		}
		if err := b.stop(ctx, n); err != nil {
			return err
		}
		if _, err := b.pool.run(ctx, n.Host, "rm -rf "+Quote(n.Dir), nil); err != nil {
			return fmt.Errorf("remove node %s: %w", n.Name, err)
		}
		c.Nodes = append(c.Nodes[:i:i], c.Nodes[i+1:]...)
		return b.Store.Save(c)
	}
	return fmt.Errorf("cluster %s has no node %q", c.Name, name)
}

// Logs returns the node's redis.log from its host.
func (b *Backend) Logs(ctx context.Context, c *topology.Cluster, name string) ([]byte, error) {
	n, err := sshNode(c, name)
	if err != nil {
		return nil, err
	}
	out, err := b.pool.run(ctx, n.Host, "cat "+Quote(path.Join(n.Dir, "redis.log")), nil)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", name, err)
	}
	return bytes.Clone(out.Stdout), nil
}

func sshNode(c *topology.Cluster, name string) (topology.Node, error) {
	n, ok := c.Node(name)
	if !ok {
		return topology.Node{}, fmt.Errorf("cluster %s has no node %q", c.Name, name)
	}
	return n, nil
}
