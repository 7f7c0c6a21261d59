package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

var (
	_ topology.Lifecycle    = (*Backend)(nil)
	_ topology.Network      = (*Backend)(nil)
	_ topology.FaultChecker = (*Backend)(nil)
)

// needRoot is the error of a network fault attempted without root.
func needRoot(a topology.Ability) error {
	return backendkit.NeedRoot("local", "iptables rules for the nodes' loopback addresses", a)
}

// localSignalWithin bounds waiting for a signalled server to change state.
const localSignalWithin = 10 * time.Second

// CanFault: local nodes are this user's processes, so lifecycle faults
// always work; network faults need root, iptables, and for netem a kernel
// with nfnetlink_queue.
func (l *Backend) CanFault(a topology.Ability) error {
	switch a {
	case topology.AbilityLifecycle:
		return nil
	case topology.AbilityDisk:
		return l.CanDisk()
	case topology.AbilityPartition, topology.AbilityNetem:
		if err := needRoot(a); err != nil {
			return err
		}
		if err := backendkit.NeedTools(a, "iptables", "iptables-restore"); err != nil {
			return err
		}
		if err := backendkit.ProbeIptables(a); err != nil {
			return err
		}
		if a == topology.AbilityNetem {
			if err := netfilter.ProbeDelayLine(); err != nil {
				return fmt.Errorf("netem faults on the local backend: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("the local backend knows no %q faults", a)
}

func localNode(c *topology.Cluster, name string) (topology.Node, error) {
	n, ok := c.Node(name)
	if !ok {
		return topology.Node{}, fmt.Errorf("cluster %s has no node %q", c.Name, name)
	}
	return n, nil
}

// nodePID is the pid of n's server: the recorded one while it is still
// ours, else the one found in /proc (a restarted node has a new pid, which
// the cluster's record does not follow); 0 when none runs.
func nodePID(n topology.Node) int {
	if ours(n.PID, n) && !zombie(n.PID) && !forkedChild(n.PID) {
		return n.PID
	}
	for _, pid := range nodePIDs(n) {
		if !forkedChild(pid) {
			return pid
		}
	}
	return 0
}

// nodePIDs lists every live process of the node: its server and the
// children the server forked (AOF rewrite, RDB save), which outlive a
// SIGKILL of their parent.
func nodePIDs(n topology.Node) []int {
	var out []int
	for _, pid := range redisPIDs() {
		if ours(pid, n) && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// forkedChild reports whether pid is a child a server forked: Redis titles
// them redis-aof-rewrite, redis-rdb-bgsave, redis-rdb-to-slaves, Valkey
// valkey-… the same. A server started through a fetched build's loader
// has the loader's arguments first in its command line and its title cut
// to the length of its name, so a child is also told by its parent: a
// server process in the same directory.
func forkedChild(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	title := string(b)
	for _, kind := range []string{"redis-", "valkey-"} {
		if strings.HasPrefix(title, kind+"aof-rewrite") || strings.HasPrefix(title, kind+"rdb-") {
			return true
		}
	}
	ppid := parentPID(pid)
	if ppid <= 1 {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	if err != nil || !topology.ServerExe(exe) {
		return false
	}
	cwd, err1 := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	pcwd, err2 := os.Readlink(fmt.Sprintf("/proc/%d/cwd", ppid))
	return err1 == nil && err2 == nil && cwd == pcwd
}

// parentPID is the ppid field of /proc/<pid>/stat (0 when unreadable).
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// redisPIDs lists the processes of this machine whose executable is a
// redis or valkey server (ServerExe).
func redisPIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && topology.ServerExe(exe) {
			out = append(out, pid)
		}
	}
	return out
}

// procState is the state letter of /proc/<pid>/stat (R, S, T, Z…).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// Kill sends SIGKILL to the node's server and waits until it is gone. Its
// address stays reserved for it, so that a cluster made meanwhile (by
// another store, which does not know this one) does not take it.
func (l *Backend) Kill(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := localNode(c, name)
	if err != nil {
		return err
	}
	unlock, err := machineLock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := reserveAddr(n); err != nil {
		return fmt.Errorf("kill node %s (%s): %w", n.Name, n.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, localSignalWithin)
	defer cancel()
	if err := stop(ctx, n); err != nil {
		return fmt.Errorf("kill node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// reservedAddrs is the machine-wide directory of the loopback addresses of
// killed local nodes: one file per address, holding the node's data dir.
func reservedAddrs() string { return filepath.Join(os.TempDir(), "redis-harness-local-reserved") }

func reserveAddr(n topology.Node) error {
	if err := os.MkdirAll(reservedAddrs(), 0o777); err != nil {
		return fmt.Errorf("reserve address %s: %w", n.Host, err)
	}
	if err := os.WriteFile(filepath.Join(reservedAddrs(), n.Host), []byte(n.Dir), 0o666); err != nil {
		return fmt.Errorf("reserve address %s: %w", n.Host, err)
	}
	return nil
}

// addrReserved reports whether ip belongs to a killed node whose data dir
// still exists (once the cluster or the node is removed, the reservation
// lapses by itself).
func addrReserved(ip string) bool {
	b, err := os.ReadFile(filepath.Join(reservedAddrs(), ip))
	if err != nil || len(b) == 0 {
		return false
	}
	_, err = os.Stat(string(b))
	return err == nil
}

// Restart starts the node's redis-server again from its redis.conf, in its
// data dir (nodes.conf, AOF and RDB as the kill left them). The cluster's
// record keeps the old pid: the new one is found in /proc when needed.
func (l *Backend) Restart(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := localNode(c, name)
	if err != nil {
		return err
	}
	if nodePID(n) > 0 {
		return nil
	}
	if _, err := l.start(ctx, c, n); err != nil {
		return fmt.Errorf("restart node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// Pause sends SIGSTOP to the node's server and waits until it is stopped.
func (l *Backend) Pause(ctx context.Context, c *topology.Cluster, name string) error {
	return l.signal(ctx, c, name, "pause", syscall.SIGSTOP, 'T')
}

// Resume sends SIGCONT to the node's server; a node not running is left so.
func (l *Backend) Resume(ctx context.Context, c *topology.Cluster, name string) error {
	return l.signal(ctx, c, name, "resume", syscall.SIGCONT, 0)
}

// signal sends sig to the node's server and waits, when want is not 0,
// until its state letter is want.
func (l *Backend) signal(ctx context.Context, c *topology.Cluster, name, what string, sig syscall.Signal, want byte) error {
	n, err := localNode(c, name)
	if err != nil {
		return err
	}
	pid := nodePID(n)
	if pid == 0 {
		if sig == syscall.SIGCONT {
			return nil
		}
		return fmt.Errorf("%s node %s (%s): its server is not running", what, n.Name, n.Addr)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("%s node %s (%s, pid %d): %w", what, n.Name, n.Addr, pid, err)
	}
	if want == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, localSignalWithin)
	defer cancel()
	return wait.Poll(wctx, time.Millisecond, func() (bool, string, error) {
		st := procState(pid)
		return st == want || st == 0, fmt.Sprintf("%s node %s (pid %d): state %q, want %q", what, n.Name, pid, st, want), nil
	})
}

// localCutSpecs are the drop rules of the cuts: all packets from one node's
// loopback address to the other's (its bus connections come from its own
// address, as bind-source-addr says; clients on this machine come from
// 127.0.0.1 and are not matched).
func localCutSpecs(c *topology.Cluster, cuts []topology.Cut) ([]string, error) {
	var specs []string
	for _, cut := range cuts {
		from, err := localNode(c, cut.From)
		if err != nil {
			return nil, fmt.Errorf("cut %s: %w", cut, err)
		}
		to, err := localNode(c, cut.To)
		if err != nil {
			return nil, fmt.Errorf("cut %s: %w", cut, err)
		}
		if from.Host == to.Host {
			return nil, fmt.Errorf("cut %s: both ends are %s", cut, from.Host)
		}
		specs = append(specs, netfilter.DropSpec(from.Host, to.Host))
	}
	return specs, nil
}

// Partition adds DROP rules for the cuts to the cluster's chain, which the
// INPUT chain jumps to first.
func (l *Backend) Partition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	specs, err := localCutSpecs(c, cuts)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	if err := needRoot(topology.AbilityPartition); err != nil {
		return err
	}
	if _, err := backendkit.HostTable(&l.locks).Add(ctx, topology.ChainName(c), "INPUT", specs, nil); err != nil {
		return fmt.Errorf("partition %v: %w", cuts, err)
	}
	return nil
}

// Unpartition removes the cuts' rules.
func (l *Backend) Unpartition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	specs, err := localCutSpecs(c, cuts)
	if err != nil {
		return fmt.Errorf("heal partition: %w", err)
	}
	if err := needRoot(topology.AbilityPartition); err != nil {
		return err
	}
	if err := backendkit.HostTable(&l.locks).Remove(ctx, topology.ChainName(c), specs, nil); err != nil {
		return fmt.Errorf("heal partition %v: %w", cuts, err)
	}
	return nil
}

// HealNetwork removes the cluster's chain, the jump to it, and closes the
// cluster's delay lines.
func (l *Backend) HealNetwork(ctx context.Context, c *topology.Cluster) error {
	if err := needRoot(topology.AbilityPartition); err != nil {
		return err
	}
	err := backendkit.HostTable(&l.locks).RemoveChain(ctx, topology.ChainName(c))
	if err != nil {
		err = fmt.Errorf("heal network of %s: %w", c.Name, err)
	}
	return errors.Join(err, netfilter.CloseAll(ctx, l.lines.Take(localNetemKey(c, ""))))
}

// localNetemKey names a node's delay line; with an empty name, the prefix
// of the cluster's.
func localNetemKey(c *topology.Cluster, name string) string {
	return "local\x00" + c.Dir + "\x00" + name
}

// Netem delays and drops the packets addressed to the node's loopback
// address with a delay line fed by a rule in the cluster's chain.
func (l *Backend) Netem(ctx context.Context, c *topology.Cluster, name string, q topology.NetemSpec) error {
	n, err := localNode(c, name)
	if err != nil {
		return err
	}
	if err := needRoot(topology.AbilityNetem); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	if _, err := l.lines.Install(ctx, backendkit.HostTable(&l.locks), topology.ChainName(c), "INPUT", localNetemKey(c, n.Name), "-d "+n.Host+"/32", backendkit.Impairment(q)); err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// ClearNetem removes the node's delay line and its rule.
func (l *Backend) ClearNetem(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := localNode(c, name)
	if err != nil {
		return err
	}
	if err := needRoot(topology.AbilityNetem); err != nil {
		return err
	}
	if err := l.lines.Clear(ctx, backendkit.HostTable(&l.locks), topology.ChainName(c), localNetemKey(c, n.Name), "-d "+n.Host+"/32"); err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}
