package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/wait"
)

var (
	_ topology.Lifecycle    = (*Backend)(nil)
	_ topology.Network      = (*Backend)(nil)
	_ topology.FaultChecker = (*Backend)(nil)
)

// signalWithin bounds waiting for a signalled server to change state.
const signalWithin = 10 * time.Second

// CanFault: lifecycle faults are signals sent over SSH, always possible;
// partitions need iptables on every host (as root, or through sudo -n);
// disk faults edit files over SSH; netem needs every host to run the
// harness's delay line agent (canNetem).
func (b *Backend) CanFault(a topology.Ability) error {
	switch a {
	case topology.AbilityLifecycle:
		return nil
	case topology.AbilityPartition:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		hosts := b.hostsOf(nil)
		return wait.Parallel(len(hosts), func(i int) error {
			if _, err := b.pool.table(hosts[i], nil).Rules(ctx); err != nil {
				return fmt.Errorf("partition faults on the ssh backend need iptables on every host: %w", err)
			}
			return nil
		})
	case topology.AbilityNetem:
		return b.canNetem()
	case topology.AbilityDisk:
		return b.CanDisk()
	}
	return fmt.Errorf("the ssh backend knows no %q faults", a)
}

// Kill sends SIGKILL to the node's server (and the children it forked)
// and waits until they are gone; its dir stays as it was.
func (b *Backend) Kill(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, signalWithin)
	defer cancel()
	if err := b.stop(ctx, n); err != nil {
		return fmt.Errorf("kill node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// Restart starts the node's server again in its dir (nodes.conf, AOF and
// RDB as the kill left them); a running node is left so.
func (b *Backend) Restart(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	ps, err := b.pool.procs(ctx, n.Host, n.Dir)
	if err != nil {
		return fmt.Errorf("restart node %s (%s): %w", n.Name, n.Addr, err)
	}
	if mainProc(ps) != nil {
		return nil
	}
	if _, err := b.start(ctx, c, n); err != nil {
		return fmt.Errorf("restart node %s (%s): %w", n.Name, n.Addr, err)
	}
	return nil
}

// Pause sends SIGSTOP to the node's server and waits until it is stopped.
func (b *Backend) Pause(ctx context.Context, c *topology.Cluster, name string) error {
	return b.signal(ctx, c, name, "pause", "STOP", 'T')
}

// Resume sends SIGCONT to the node's server; a node not running is left so.
func (b *Backend) Resume(ctx context.Context, c *topology.Cluster, name string) error {
	return b.signal(ctx, c, name, "resume", "CONT", 0)
}

// signal sends sig to the node's server and waits, when want is not 0,
// until its state letter is want.
func (b *Backend) signal(ctx context.Context, c *topology.Cluster, name, what, sig string, want byte) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, signalWithin)
	defer cancel()
	ps, err := b.pool.procs(ctx, n.Host, n.Dir)
	if err != nil {
		return fmt.Errorf("%s node %s (%s): %w", what, n.Name, n.Addr, err)
	}
	p := mainProc(ps)
	if p == nil {
		if sig == "CONT" {
			return nil
		}
		return fmt.Errorf("%s node %s (%s): its server is not running", what, n.Name, n.Addr)
	}
	if _, err := b.pool.run(ctx, n.Host, fmt.Sprintf("kill -%s %d", sig, p.PID), nil); err != nil {
		return fmt.Errorf("%s node %s (%s, pid %d on %s): %w", what, n.Name, n.Addr, p.PID, n.Host, err)
	}
	if want == 0 {
		return nil
	}
	return wait.Poll(ctx, 20*time.Millisecond, func() (bool, string, error) {
		ps, err := b.pool.procs(ctx, n.Host, n.Dir)
		if err != nil {
			return false, "", err
		}
		for _, q := range ps {
			if q.PID == p.PID {
				return q.State == want, fmt.Sprintf("%s node %s (pid %d on %s): state %q, want %q", what, n.Name, p.PID, n.Host, q.State, want), nil
			}
		}
		return true, "", nil // it is gone: nothing left to pause
	})
}

// cutRules are, where a host has no cgroup v2, per host, the drop rules
// of the cuts: they go into the
// INPUT chain of the host the packets arrive at (the cut's To). A node
// shares its host's address with the other nodes there, so the rules also
// name ports: the packets From's host sends to To's client and bus ports
// (From's connections to To), and those From sends from its own two ports
// to To's host (its answers on To's connections). Connections go out from
// ephemeral ports, so the first kind also cuts the other nodes on From's
// host from To; a cut between two nodes of one host cannot be made.
// Traffic from the harness's clients comes from other addresses and is
// never cut.
func cutRules(c *topology.Cluster, cuts []topology.Cut) (map[string][]string, error) {
	out := map[string][]string{}
	for _, cut := range cuts {
		from, to, err := cutEnds(c, cut)
		if err != nil {
			return nil, err
		}
		if from.Host == to.Host {
			return nil, fmt.Errorf("cut %s: both nodes are on host %s, and iptables cannot tell their connections apart (give the cluster more hosts)", cut, from.Host)
		}
		fport, err1 := portOf(from)
		tport, err2 := portOf(to)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("cut %s: %w", cut, err)
		}
		src, dst := from.Host+"/32", to.Host+"/32"
		out[to.Host] = append(out[to.Host],
			fmt.Sprintf("-s %s -d %s -p tcp -m tcp --dport %d -j DROP", src, dst, tport),
			fmt.Sprintf("-s %s -d %s -p tcp -m tcp --dport %d -j DROP", src, dst, tport+10000),
			fmt.Sprintf("-s %s -d %s -p tcp -m tcp --sport %d -j DROP", src, dst, fport),
			fmt.Sprintf("-s %s -d %s -p tcp -m tcp --sport %d -j DROP", src, dst, fport+10000),
		)
	}
	return out, nil
}

func portOf(n topology.Node) (int, error) {
	_, p, err := net.SplitHostPort(n.Addr)
	if err != nil {
		return 0, fmt.Errorf("node %s: addr %q: %w", n.Name, n.Addr, err)
	}
	var port int
	if _, err := fmt.Sscan(p, &port); err != nil {
		return 0, fmt.Errorf("node %s: addr %q: %w", n.Name, n.Addr, err)
	}
	return port, nil
}

// Partition adds the cuts' drop rules to the cluster's chains: exact ones
// where the hosts have cgroups (exactCutRules), else by addresses and
// ports (cutRules). The INPUT and OUTPUT chains jump to them first.
func (b *Backend) Partition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	exact, err := b.exactCutRules(ctx, c, cuts)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	if exact != nil {
		for _, h := range hostsIn(exact.in, exact.out, exact.marks) {
			t := b.pool.table(h, &b.locks)
			if len(exact.in[h]) > 0 {
				if _, err := t.Add(ctx, topology.ChainName(c), "INPUT", exact.in[h], nil); err != nil {
					return fmt.Errorf("partition %v: %w", cuts, err)
				}
			}
			if len(exact.out[h])+len(exact.marks[h]) > 0 {
				if _, err := t.Add(ctx, outChain(c), "OUTPUT", exact.out[h], exact.marks[h]); err != nil {
					return fmt.Errorf("partition %v: %w", cuts, err)
				}
			}
		}
		return nil
	}
	rules, err := cutRules(c, cuts)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	for h, specs := range rules {
		if _, err := b.pool.table(h, &b.locks).Add(ctx, topology.ChainName(c), "INPUT", specs, nil); err != nil {
			return fmt.Errorf("partition %v: %w", cuts, err)
		}
	}
	return nil
}

// hostsIn lists the hosts that have rules in any of the maps, sorted.
func hostsIn(ms ...map[string][]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for h := range m {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Unpartition removes the cuts' drop rules (the marking rules stay until
// HealNetwork: other cuts may need them).
func (b *Backend) Unpartition(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) error {
	var errs []error
	exact, err := b.exactCutRules(ctx, c, cuts)
	if err != nil {
		return fmt.Errorf("heal partition: %w", err)
	}
	if exact != nil {
		for _, h := range hostsIn(exact.in, exact.out) {
			t := b.pool.table(h, &b.locks)
			if err := t.Remove(ctx, topology.ChainName(c), exact.in[h], nil); err != nil {
				errs = append(errs, fmt.Errorf("heal partition %v: %w", cuts, err))
			}
			if err := t.Remove(ctx, outChain(c), exact.out[h], nil); err != nil {
				errs = append(errs, fmt.Errorf("heal partition %v: %w", cuts, err))
			}
		}
		return errors.Join(errs...)
	}
	rules, err := cutRules(c, cuts)
	if err != nil {
		return fmt.Errorf("heal partition: %w", err)
	}
	for h, specs := range rules {
		if err := b.pool.table(h, &b.locks).Remove(ctx, topology.ChainName(c), specs, nil); err != nil {
			errs = append(errs, fmt.Errorf("heal partition %v: %w", cuts, err))
		}
	}
	return errors.Join(errs...)
}

// HealNetwork removes the cluster's chains, and the jumps to them, on
// every host, then stops the cluster's delay line agents.
func (b *Backend) HealNetwork(ctx context.Context, c *topology.Cluster) error {
	hosts := b.hostsOf(c)
	err := wait.Parallel(len(hosts), func(i int) error {
		t := b.pool.table(hosts[i], &b.locks)
		return errors.Join(t.RemoveChain(ctx, topology.ChainName(c)), t.RemoveChain(ctx, outChain(c)))
	})
	err = errors.Join(err, b.stopAgents(ctx, c))
	if err != nil {
		return fmt.Errorf("heal network of %s: %w", c.Name, err)
	}
	return nil
}

// cutEnds are the nodes a cut goes from and to.
func cutEnds(c *topology.Cluster, cut topology.Cut) (from, to topology.Node, err error) {
	if from, err = sshNode(c, cut.From); err != nil {
		return from, to, fmt.Errorf("cut %s: %w", cut, err)
	}
	if to, err = sshNode(c, cut.To); err != nil {
		return from, to, fmt.Errorf("cut %s: %w", cut, err)
	}
	return from, to, nil
}
