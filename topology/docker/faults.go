package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/internal/logtail"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

var (
	_ topology.Lifecycle    = (*Backend)(nil)
	_ topology.Network      = (*Backend)(nil)
	_ topology.FaultChecker = (*Backend)(nil)
)

// Network faults on docker run iptables in each node container's network
// namespace, so that node images, the official redis ones included, need no
// iptables of their own. Where the engine is on this machine and the
// harness is root, they enter the namespace with nsenter (fast, and netem
// is the harness's own delay line, bound in the namespace); elsewhere each
// command runs in a sidecar container that joins the namespace through the
// engine (sidecar.go), and netem is tc's, where the engine's kernel has it.

// dockerKillWithin bounds waiting for a killed container to stop.
const dockerKillWithin = 10 * time.Second

// dockerNodeIface is the interface of a node container on its cluster's
// network (a container's first network is eth0).
const dockerNodeIface = "eth0"

// dockerCanFaultWithin bounds what CanFault asks the engine, the sidecar
// image's build and the netem probe included.
const dockerCanFaultWithin = sidecarBuildWithin + sidecarWithin

// CanFault: lifecycle faults go through the engine's API; network faults
// enter the namespaces from here where the engine is provably local, and
// go through sidecars elsewhere (netem then needs sch_netem on the engine's
// kernel, probed once).
func (d *Backend) CanFault(a topology.Ability) error {
	switch a {
	case topology.AbilityLifecycle:
		return nil
	case topology.AbilityDisk:
		return d.CanDisk()
	case topology.AbilityPartition, topology.AbilityNetem:
		ctx, cancel := context.WithTimeout(context.Background(), dockerCanFaultWithin)
		defer cancel()
		if d.nsenterCandidate() == nil && d.engineLocal(ctx) {
			if err := backendkit.ProbeIptables(a); err != nil {
				return err
			}
			if a == topology.AbilityNetem {
				if err := netfilter.ProbeDelayLine(); err != nil {
					return fmt.Errorf("netem faults on the docker backend: %w", err)
				}
			}
			return nil
		}
		if _, err := findSidecarTools(); err != nil {
			return fmt.Errorf("%s faults on the docker backend at %s run in sidecar containers: %w", a, d.daemonHost(), err)
		}
		if a == topology.AbilityNetem {
			if err := d.sidecarNetem(ctx); err != nil {
				return fmt.Errorf("netem faults on the docker backend at %s run tc netem in a sidecar (the harness's delay line needs the engine on this machine): %w", d.daemonHost(), err)
			}
		}
		return nil
	}
	return fmt.Errorf("the docker backend knows no %q faults", a)
}

// daemonHost is where the engine is, as DOCKER_HOST says.
func (d *Backend) daemonHost() string {
	if h, ok := d.api.(interface{ DaemonHost() string }); ok {
		return h.DaemonHost()
	}
	return "(unknown)"
}

// nsenterCandidate says why nsenter cannot be used, or nil when it may be:
// what remains to prove is that the engine's containers are this machine's
// (nsenterNetNS).
func (d *Backend) nsenterCandidate() error {
	switch {
	case d.Remote:
		return errors.New("the backend is told to treat the engine as remote")
	case !strings.HasPrefix(d.daemonHost(), "unix://"):
		return fmt.Errorf("the engine is at %s", d.daemonHost())
	}
	if err := backendkit.NeedRoot("docker", "iptables rules entered into each node container's network namespace with nsenter", topology.AbilityPartition); err != nil {
		return err
	}
	return netfilter.NeedTools("nsenter", "iptables", "iptables-restore")
}

// nsenterNetNS returns the container's network namespace as a path nsenter
// can enter from here, or "" when only a sidecar reaches it. A unix socket
// alone does not prove the engine local: it may be forwarded from another
// machine (ssh -L), and rootless or VM-backed engines report PIDs of a PID
// namespace that is not ours, where /proc/<pid> here is another process or
// none. The sandbox key is the engine's own bind mount of the container's
// namespace: when it and /proc/<pid>/ns/net are the same inode here, the
// pid is the container's and nsenter reaches its namespace.
func nsenterNetNS(info container.InspectResponse) string {
	if info.ContainerJSONBase == nil || info.State == nil || info.State.Pid <= 0 || info.NetworkSettings == nil || info.NetworkSettings.SandboxKey == "" {
		return ""
	}
	path := fmt.Sprintf("/proc/%d/ns/net", info.State.Pid)
	a, err := os.Stat(path)
	if err != nil {
		return ""
	}
	b, err := os.Stat(info.NetworkSettings.SandboxKey)
	if err != nil || !os.SameFile(a, b) {
		return ""
	}
	return path
}

// engineLocal says whether the engine's containers are this machine's, as
// one running harness container shows; with none running it trusts the
// unix socket, and each fault checks its own node again.
func (d *Backend) engineLocal(ctx context.Context) bool {
	conts, err := d.api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"), filters.Arg("status", "running"))})
	if err != nil {
		return true
	}
	for _, ct := range conts {
		if ct.Labels[LabelSidecar] != "" {
			continue
		}
		info, err := d.api.ContainerInspect(ctx, ct.ID)
		if err == nil {
			return nsenterNetNS(info) != ""
		}
	}
	return true
}

// dockerNode finds the node and its container's id (or name).
func dockerNode(c *topology.Cluster, name string) (topology.Node, string, error) {
	n, ok := c.Node(name)
	if !ok {
		return topology.Node{}, "", fmt.Errorf("cluster %s has no node %q", c.Name, name)
	}
	id := n.Container
	if id == "" {
		id = dockerNetworkName(c.Name) + "-" + n.Name
	}
	return n, id, nil
}

func (d *Backend) state(ctx context.Context, n topology.Node, id string) (*container.State, error) {
	info, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("node %s: inspect container %s: %w", n.Name, id, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return nil, fmt.Errorf("node %s: container %s has no state", n.Name, id)
	}
	return info.State, nil
}

// Kill sends SIGKILL to the node's container and waits until it has stopped.
func (d *Backend) Kill(ctx context.Context, c *topology.Cluster, name string) error {
	n, id, err := dockerNode(c, name)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, n, id)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	if !st.Running {
		return nil
	}
	if err := d.api.ContainerKill(ctx, id, "SIGKILL"); err != nil {
		if !st.Paused {
			return fmt.Errorf("kill node %s (%s): %w", n.Name, n.Addr, err)
		}
		// Some engines refuse to kill a paused container: thaw it first.
		if uerr := d.api.ContainerUnpause(ctx, id); uerr != nil {
			return fmt.Errorf("kill node %s (%s): %w (and unpausing it first: %v)", n.Name, n.Addr, err, uerr)
		}
		if err := d.api.ContainerKill(ctx, id, "SIGKILL"); err != nil {
			return fmt.Errorf("kill node %s (%s): %w", n.Name, n.Addr, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, dockerKillWithin)
	defer cancel()
	return wait.Poll(wctx, 10*time.Millisecond, func() (bool, string, error) {
		st, err := d.state(wctx, n, id)
		if err != nil {
			return false, "", err
		}
		return !st.Running, fmt.Sprintf("kill node %s: container %s still running", n.Name, id), nil
	})
}

// Restart starts the node's container again: same container, so the same
// address, config and /data (nodes.conf, AOF), and waits until it answers
// PING. Its network namespace is new, so rules made in the old one are gone.
func (d *Backend) Restart(ctx context.Context, c *topology.Cluster, name string) error {
	n, id, err := dockerNode(c, name)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, n, id)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if st.Running {
		return nil
	}
	if err := d.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("restart node %s (%s): start container %s: %w", n.Name, n.Addr, id, err)
	}
	timeout := d.ReadyTimeout
	if timeout <= 0 {
		timeout = dockerReadyDefault
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: 250 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rc.Close()
	dialer := net.Dialer{Timeout: 250 * time.Millisecond}
	err = wait.Poll(rctx, 20*time.Millisecond, func() (bool, string, error) {
		conn, err := dialer.DialContext(rctx, "tcp", n.Addr)
		if err == nil {
			conn.Close()
			err = rc.Ping(rctx).Err()
		}
		if err == nil {
			return true, "", nil
		}
		if st, serr := d.state(rctx, n, id); serr == nil && !st.Running && !st.Restarting {
			return false, "", fmt.Errorf("restart node %s (%s): the server exited (status %d); last lines of its log:\n%s", n.Name, n.Addr, st.ExitCode, logtail.Last(d.logTail(ctx, id), 20))
		}
		return false, fmt.Sprintf("restart node %s (%s): no PING answer after %s: %v", n.Name, n.Addr, timeout, err), nil
	})
	return err
}

// Pause freezes the node's container (the cgroup freezer).
func (d *Backend) Pause(ctx context.Context, c *topology.Cluster, name string) error {
	n, id, err := dockerNode(c, name)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, n, id)
	switch {
	case err != nil:
		return fmt.Errorf("pause: %w", err)
	case st.Paused:
		return nil
	case !st.Running:
		return fmt.Errorf("pause node %s (%s): its container is not running", n.Name, n.Addr)
	}
	if err := d.api.ContainerPause(ctx, id); err != nil {
		return fmt.Errorf("pause node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// Resume thaws the node's container; one not paused is left as it is.
func (d *Backend) Resume(ctx context.Context, c *topology.Cluster, name string) error {
	n, id, err := dockerNode(c, name)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, n, id)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if !st.Paused {
		return nil
	}
	if err := d.api.ContainerUnpause(ctx, id); err != nil {
		return fmt.Errorf("resume node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// errNotRunning marks a node whose network namespace does not exist now.
var errNotRunning = errors.New("not running")

// netfilter returns the node container's network namespace: entered with
// nsenter where the engine is provably on this machine, else reached
// through sidecars (the table's Exec is then set).
func (d *Backend) netfilter(ctx context.Context, c *topology.Cluster, n topology.Node, id string) (netfilter.Table, error) {
	info, err := d.api.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return netfilter.Table{}, fmt.Errorf("node %s (%s) is %w: its container is gone", n.Name, n.Addr, errNotRunning)
	}
	if err != nil {
		return netfilter.Table{}, fmt.Errorf("node %s: inspect container %s: %w", n.Name, id, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil || !info.State.Running || info.State.Pid <= 0 {
		return netfilter.Table{}, fmt.Errorf("node %s (%s) is %w: its network namespace exists only while its container runs", n.Name, n.Addr, errNotRunning)
	}
	if d.nsenterCandidate() == nil {
		if path := nsenterNetNS(info); path != "" {
			return netfilter.Table{NetNS: path, Where: fmt.Sprintf("node %s's network namespace (container %s)", n.Name, shortID(id)), Locks: &d.locks}, nil
		}
	}
	return d.sidecarTable(c, n, info.ID), nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// dockerCuts groups the cuts' drop rules by the node whose namespace holds
// them: a cut from A to B drops, in B's namespace, what comes from A.
func dockerCuts(c *topology.Cluster, cuts []topology.Cut) (map[string][]string, error) {
	out := map[string][]string{}
	for _, cut := range cuts {
		from, ok := c.Node(cut.From)
		if !ok {
			return nil, fmt.Errorf("cut %s: cluster %s has no node %q", cut, c.Name, cut.From)
		}
		to, ok := c.Node(cut.To)
		if !ok {
			return nil, fmt.Errorf("cut %s: cluster %s has no node %q", cut, c.Name, cut.To)
		}
		if from.Name == to.Name {
			return nil, fmt.Errorf("cut %s: both ends are node %s", cut, from.Name)
		}
		out[to.Name] = append(out[to.Name], netfilter.DropSpec(from.Host, ""))
	}
	return out, nil
}

// eachNode runs f concurrently for the named nodes' namespaces; nodes not
// running are skipped when skipStopped, else an error.
func (d *Backend) eachNode(ctx context.Context, c *topology.Cluster, names []string, skipStopped bool, f func(n topology.Node, nf netfilter.Table) error) error {
	var mu sync.Mutex
	var errs []error
	wait.Parallel(len(names), func(i int) error {
		n, id, err := dockerNode(c, names[i])
		if err == nil {
			var nf netfilter.Table
			if nf, err = d.netfilter(ctx, c, n, id); err == nil {
				err = f(n, nf)
			} else if skipStopped && errors.Is(err, errNotRunning) {
				err = nil
			}
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return nil
	})
	return errors.Join(errs...)
}

// Partition adds the cuts' DROP rules to the cluster's chain in each
// receiving node's namespace, which its INPUT chain jumps to first.
func (d *Backend) Partition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	byNode, err := dockerCuts(c, cuts)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	err = d.eachNode(ctx, c, slices.Sorted(maps.Keys(byNode)), false, func(n topology.Node, nf netfilter.Table) error {
		_, err := nf.Add(ctx, topology.ChainName(c), "INPUT", byNode[n.Name], nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("partition %v: %w", cuts, err)
	}
	return nil
}

// Unpartition removes the cuts' rules; a node not running has none left.
func (d *Backend) Unpartition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	byNode, err := dockerCuts(c, cuts)
	if err != nil {
		return fmt.Errorf("heal partition: %w", err)
	}
	err = d.eachNode(ctx, c, slices.Sorted(maps.Keys(byNode)), true, func(n topology.Node, nf netfilter.Table) error {
		return nf.Remove(ctx, topology.ChainName(c), byNode[n.Name], nil)
	})
	if err != nil {
		return fmt.Errorf("heal partition %v: %w", cuts, err)
	}
	return nil
}

// HealNetwork removes the cluster's chain from every running node's
// namespace, and its netem: the delay lines, or through sidecars the tc
// qdiscs.
func (d *Backend) HealNetwork(ctx context.Context, c *topology.Cluster) error {
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = n.Name
	}
	err := d.eachNode(ctx, c, names, true, func(n topology.Node, nf netfilter.Table) error {
		err := nf.RemoveChain(ctx, topology.ChainName(c))
		if nf.Exec != nil && d.sidecarNetem(ctx) == nil {
			err = errors.Join(err, tcClear(ctx, nf))
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("heal network of %s: %w", c.Name, err)
	}
	return errors.Join(err, netfilter.CloseAll(ctx, d.lines.Take(dockerNetemKey(c, ""))))
}

// dockerNetemKey names a node's delay line; with an empty name, the prefix
// of the cluster's.
func dockerNetemKey(c *topology.Cluster, name string) string {
	return "docker\x00" + c.Name + "\x00" + c.Dir + "\x00" + name
}

// Netem delays and drops the packets entering the node's container on its
// network interface, with a delay line bound in the container's namespace;
// through sidecars, with tc netem on the packets leaving it (tcNetemArgs).
func (d *Backend) Netem(ctx context.Context, c *topology.Cluster, name string, q topology.NetemSpec) error {
	return d.eachNode(ctx, c, []string{name}, false, func(n topology.Node, nf netfilter.Table) error {
		if err := q.Validate(); err != nil {
			return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
		}
		if nf.Exec != nil {
			if err := d.sidecarNetem(ctx); err != nil {
				return fmt.Errorf("node %s (%s): netem through the engine at %s: %w", n.Name, n.Addr, d.daemonHost(), err)
			}
			if _, err := nf.Exec(ctx, "tc", tcNetemArgs(q), nil); err != nil {
				return fmt.Errorf("node %s (%s): tc netem %s: %w", n.Name, n.Addr, q, err)
			}
			return nil
		}
		if _, err := d.lines.Install(ctx, nf, topology.ChainName(c), "INPUT", dockerNetemKey(c, n.Name), "-i "+dockerNodeIface, backendkit.Impairment(q)); err != nil {
			return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
		}
		return nil
	})
}

// ClearNetem removes the node's delay line and its rule, or its tc qdisc.
func (d *Backend) ClearNetem(ctx context.Context, c *topology.Cluster, name string) error {
	n, _, err := dockerNode(c, name)
	if err != nil {
		return err
	}
	err = d.eachNode(ctx, c, []string{name}, true, func(n topology.Node, nf netfilter.Table) error {
		if nf.Exec != nil {
			if d.sidecarNetem(ctx) != nil {
				return nil // no tc netem there: nothing was set
			}
			return tcClear(ctx, nf)
		}
		return nf.Remove(ctx, topology.ChainName(c), nil, func(spec string) bool { return netfilter.IsQueueSpec(spec, "-i "+dockerNodeIface) })
	})
	if err != nil {
		return fmt.Errorf("node %s (%s): clear netem: %w", n.Name, n.Addr, err)
	}
	return netfilter.CloseAll(ctx, d.lines.Take(dockerNetemKey(c, n.Name)+"\x00"))
}
