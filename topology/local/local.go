package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/internal/flock"
	"github.com/redis-harness/harness/topology/internal/logtail"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Backend runs nodes as redis-server processes on this machine, each on its own
// loopback address (127.0.100.x by default) so that network faults can tell
// nodes apart by address, with data dir and log in the cluster's state dir.
type Backend struct {
	Store topology.Store
	// Server is the redis-server binary (default: found on PATH), run by
	// clusters whose spec names no server.
	Server string
	// Port is the client port every node listens on (default 6379; the bus is +10000).
	Port int

	// lines are the netem delay lines this backend opened, and locks
	// serializes its edits of this machine's iptables rules.
	lines netfilter.DelayLines
	locks netfilter.Locks
}

// New returns the local backend. A machine without redis-server still
// gets one: clusters whose spec names a server (a fetched build, --server)
// need none of the host's, and the others are refused at Up, saying so.
func New(store topology.Store) (*Backend, error) {
	bin := os.Getenv("HARNESS_REDIS_SERVER")
	if bin == "" {
		bin, _ = exec.LookPath("redis-server")
	}
	return &Backend{Store: store, Server: bin, Port: 6379}, nil
}

// NewHost is New for callers that will run the host's redis-server (tests
// of it): an error, saying how to install one, when the host has none.
func NewHost(store topology.Store) (*Backend, error) {
	l, err := New(store)
	if err == nil && l.Server == "" {
		err = errNoHostServer
	}
	return l, err
}

// errNoHostServer is Up's error for a cluster that would run the host's
// redis-server on a machine without one.
var errNoHostServer = errors.New("local backend: redis-server not found on PATH (install Debian's redis-server: apt-get install redis-server, set HARNESS_REDIS_SERVER, or pick a fetched build with --server: harness servers list)")

// Name is "local".
func (l *Backend) Name() string { return "local" }

// Up starts the spec's nodes. The record is saved before the first process
// starts, so that down (or cleanup) finds a half-made cluster.
func (l *Backend) Up(ctx context.Context, spec topology.Spec) (_ *topology.Cluster, err error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	c := &topology.Cluster{Name: spec.Name, Backend: l.Name(), RunID: spec.RunID, Spec: spec, Dir: l.Store.ClusterDir(spec.Name)}
	if _, err := l.server(c); err != nil {
		return nil, err
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := l.Store.Load(spec.Name); err == nil {
		return nil, fmt.Errorf("cluster %q already exists (harness cluster down --name %s removes it)", spec.Name, spec.Name)
	}
	addrs, err := l.freeAddrs(spec.Nodes())
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		c.Nodes = append(c.Nodes, l.newNode(c, a))
	}
	if err := l.Store.Save(c); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			l.Down(cctx, c)
		}
	}()
	err = wait.Parallel(len(c.Nodes), func(i int) error {
		pid, err := l.start(ctx, c, c.Nodes[i])
		c.Nodes[i].PID = pid
		return err
	})
	if serr := l.Store.Save(c); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (l *Backend) newNode(c *topology.Cluster, ip string) topology.Node {
	name := c.NextName()
	return topology.Node{
		Name: name, Addr: net.JoinHostPort(ip, strconv.Itoa(l.Port)), Host: ip,
		Dir: filepath.Join(c.Dir, "nodes", name),
	}
}

// lock takes the store's lock and the machine's, held from choosing
// addresses until the servers have bound them.
func (l *Backend) lock() (func(), error) {
	unlockStore, err := l.Store.Lock()
	if err != nil {
		return nil, err
	}
	unlockMachine, err := machineLock()
	if err != nil {
		unlockStore()
		return nil, err
	}
	return func() { unlockMachine(); unlockStore() }, nil
}

// freeAddrs picks n loopback addresses that no recorded cluster uses and on
// which both the client and the bus port can be bound now. Called under lock.
func (l *Backend) freeAddrs(n int) ([]string, error) {
	used := map[string]bool{}
	clusters, err := l.Store.List()
	if err != nil {
		return nil, err
	}
	for _, c := range clusters {
		for _, nd := range c.Nodes {
			used[nd.Host] = true
		}
	}
	var out []string
	for b := 100; b < 110 && len(out) < n; b++ {
		for d := 1; d < 255 && len(out) < n; d++ {
			ip := fmt.Sprintf("127.0.%d.%d", b, d)
			if !used[ip] && !addrReserved(ip) && canBind(ip, l.Port) && canBind(ip, l.Port+10000) {
				out = append(out, ip)
			}
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("local backend: only %d free loopback addresses in 127.0.100.0-127.0.109.255 for port %d, need %d", len(out), l.Port, n)
	}
	return out, nil
}

func canBind(ip string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// config renders the node's redis.conf.
func (l *Backend) config(c *topology.Cluster, n topology.Node) string {
	ip, port, _ := net.SplitHostPort(n.Addr)
	return backendkit.ProcessConfig(c.Spec, ip, port, n.Dir)
}

// start launches the node's server in its own session (it outlives the
// harness command that started it) and waits until it answers PING.
func (l *Backend) start(ctx context.Context, c *topology.Cluster, n topology.Node) (int, error) {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	conf := filepath.Join(n.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(l.config(c, n)), 0o644); err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	logf, err := os.OpenFile(filepath.Join(n.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", n.Name, err)
	}
	defer logf.Close()
	server, err := l.server(c)
	if err != nil {
		return 0, err
	}
	cmd := server.Command(conf)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("node %s: start %s: %w", n.Name, server.Bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rc.Close()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = wait.Poll(wctx, 10*time.Millisecond, func() (bool, string, error) {
		select {
		case werr := <-exited:
			return false, "", fmt.Errorf("node %s (%s) exited at start (%v); last lines of %s:\n%s", n.Name, n.Addr, werr, filepath.Join(n.Dir, "redis.log"), logtail.Last(l.logBytes(n), 20))
		default:
		}
		if err := rc.Ping(wctx).Err(); err != nil {
			return false, fmt.Sprintf("node %s (%s) does not answer PING: %v", n.Name, n.Addr, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		cmd.Process.Kill()
		if errors.Is(err, wait.ErrTimeout) {
			err = fmt.Errorf("%w; last lines of its log:\n%s", err, logtail.Last(l.logBytes(n), 20))
		}
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// server is what c's nodes run: the server its spec records, else the
// host's redis-server.
func (l *Backend) server(c *topology.Cluster) (topology.Server, error) {
	if c.Spec.Server != nil && c.Spec.Server.Bin != "" {
		return *c.Spec.Server, nil
	}
	if l.Server == "" {
		return topology.Server{}, errNoHostServer
	}
	return topology.Server{Name: "host", Kind: "redis", Bin: l.Server}, nil
}

func (l *Backend) logBytes(n topology.Node) []byte {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "redis.log"))
	return b
}

// ours reports whether pid is still the server the harness started for n:
// a redis or valkey server whose working directory is n's data dir (PIDs
// get reused).
func ours(pid int, n topology.Node) bool {
	if pid <= 0 {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil || cwd != n.Dir {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && topology.ServerExe(exe)
}

// stop kills the node's server (SIGKILL: its data is about to be removed or
// it is meant to die) and waits until it is gone.
func stop(ctx context.Context, n topology.Node) error {
	pids := nodePIDs(n) // not n.PID alone: a restarted node has a new pid, and forked children outlive it
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill node %s (pid %d): %w", n.Name, pid, err)
		}
	}
	return wait.Poll(ctx, 10*time.Millisecond, func() (bool, string, error) {
		left := nodePIDs(n)
		return len(left) == 0, fmt.Sprintf("node %s (pids %v) still running", n.Name, left), nil
	})
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// Down kills every node and removes the cluster's dir.
func (l *Backend) Down(ctx context.Context, c *topology.Cluster) error {
	err := wait.Parallel(len(c.Nodes), func(i int) error { return stop(ctx, c.Nodes[i]) })
	if err != nil {
		return fmt.Errorf("down %s: %w", c.Name, err)
	}
	return l.Store.Remove(c.Name)
}

// AddNode starts one more empty node.
func (l *Backend) AddNode(ctx context.Context, c *topology.Cluster) (topology.Node, error) {
	unlock, err := l.lock()
	if err != nil {
		return topology.Node{}, err
	}
	defer unlock()
	addrs, err := l.freeAddrs(1)
	if err != nil {
		return topology.Node{}, err
	}
	n := l.newNode(c, addrs[0])
	c.Nodes = append(c.Nodes, n)
	if err := l.Store.Save(c); err != nil {
		return topology.Node{}, err
	}
	pid, err := l.start(ctx, c, n)
	if err != nil {
		l.RemoveNode(context.WithoutCancel(ctx), c, n.Name)
		return topology.Node{}, err
	}
	c.Nodes[len(c.Nodes)-1].PID = pid
	return c.Nodes[len(c.Nodes)-1], l.Store.Save(c)
}

// RemoveNode kills the node and deletes its data dir.
func (l *Backend) RemoveNode(ctx context.Context, c *topology.Cluster, name string) error {
	for i, n := range c.Nodes {
		if n.Name != name && n.Addr != name {
			continue
		}
		if err := stop(ctx, n); err != nil {
			return err
		}
		if err := os.RemoveAll(n.Dir); err != nil {
			return fmt.Errorf("remove node %s: %w", n.Name, err)
		}
		c.Nodes = append(c.Nodes[:i:i], c.Nodes[i+1:]...)
		return l.Store.Save(c)
	}
	return fmt.Errorf("cluster %s has no node %q", c.Name, name)
}

// Logs returns the node's redis.log.
func (l *Backend) Logs(ctx context.Context, c *topology.Cluster, name string) ([]byte, error) {
	n, ok := c.Node(name)
	if !ok {
		return nil, fmt.Errorf("cluster %s has no node %q", c.Name, name)
	}
	b, err := os.ReadFile(filepath.Join(n.Dir, "redis.log"))
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", name, err)
	}
	return b, nil
}

// machineLock is held while local nodes are given addresses and bind them:
// stores are per user or per test, but loopback addresses are per machine.
func machineLock() (func(), error) {
	return flock.Lock(filepath.Join(os.TempDir(), "redis-harness-local.lock"), syscall.LOCK_EX)
}
