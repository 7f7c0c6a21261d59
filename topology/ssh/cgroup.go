package ssh

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
)

// Nodes that share a host share its address, and their connections leave
// from ephemeral ports, so addresses and ports alone cannot cut one of
// them off from a node without the others. Where the host has a writable
// cgroup v2 hierarchy, each node's server runs in a cgroup of its own
// (cgroupRel), and iptables tells its packets apart by it (-m cgroup
// --path) and the connections it takes part in by a connection mark set
// from it (CONNMARK), which makes every cut exact, between two nodes of
// one host too.

// cgroupDir is the harness's dir in a host's cgroup v2 hierarchy.
const cgroupDir = "redis-harness"

// markMask is the part of the connection mark the harness sets: a node's
// number (n5 → 5) shifted left 16 bits.
const markMask = 0x0fff0000

// cgroupRootScript prints the root of the host's writable cgroup v2
// hierarchy (pure v2, or the unified one of a hybrid), having made the
// harness's dir there; nothing when there is none.
const cgroupRootScript = `for r in /sys/fs/cgroup /sys/fs/cgroup/unified; do if [ -f "$r/cgroup.controllers" ] && mkdir -p "$r/` + cgroupDir + `" 2>/dev/null; then echo "$r"; break; fi; done; true`

// cgroupRoot is the host's cgroup v2 root ("" for none), asked once.
func (b *Backend) cgroupRoot(ctx context.Context, h string) (string, error) {
	b.mu.Lock()
	root, ok := b.cgroots[h]
	b.mu.Unlock()
	if ok {
		return root, nil
	}
	out, err := b.pool.run(ctx, h, cgroupRootScript, nil)
	if err != nil {
		return "", fmt.Errorf("host %s: look for cgroup v2: %w", h, err)
	}
	root = strings.TrimSpace(string(out.Stdout))
	b.mu.Lock()
	b.cgroots[h] = root
	b.mu.Unlock()
	return root, nil
}

// cgroupRel is the node's cgroup, relative to the hierarchy's root (as
// iptables' --path takes it); with an empty node, the cluster's.
func cgroupRel(c *topology.Cluster, node string) string {
	rel := cgroupDir + "/" + RemoteDir(c)[len(Root)+1:]
	if node != "" {
		rel += "/" + node
	}
	return rel
}

// nodeMark is the node's connection mark.
func nodeMark(n topology.Node) (int, error) {
	seq, err := strconv.Atoi(strings.TrimPrefix(n.Name, "n"))
	if err != nil || seq <= 0 || seq > markMask>>16 {
		return 0, fmt.Errorf("node %s: no connection mark for this name", n.Name)
	}
	return seq << 16, nil
}

// rmCgroupsScript removes the cluster's cgroups (empty once its servers
// are gone) from whichever hierarchy holds them.
func rmCgroupsScript(rel string) string {
	// A killed server's cgroup empties a moment after the kill: retried
	// for up to 5 s.
	return `for r in /sys/fs/cgroup /sys/fs/cgroup/unified; do d="$r/` + rel + `"; i=0; while [ -d "$d" ] && [ $i -lt 50 ]; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; [ -d "$d" ] && sleep 0.1; i=$((i+1)); done; done; true`
}

// exactRules are the rules of the cuts where every host involved has
// cgroups: per host, the drops of its INPUT chain (another node's packets
// from its listening ports on connections this node opened, told by the
// mark) and of its OUTPUT chain (this node's connections to another's
// ports, told by the cgroup) and the marking rules (OUTPUT, kept until
// the network is healed).
type exactRules struct {
	in, out, marks map[string][]string
}

func (b *Backend) exactCutRules(ctx context.Context, c *topology.Cluster, cuts []topology.Cut) (*exactRules, error) {
	r := &exactRules{in: map[string][]string{}, out: map[string][]string{}, marks: map[string][]string{}}
	marked := map[string]bool{}
	for _, cut := range cuts {
		from, to, err := cutEnds(c, cut)
		if err != nil {
			return nil, err
		}
		if from.Name == to.Name {
			return nil, fmt.Errorf("cut %s: both ends are node %s", cut, from.Name)
		}
		for _, h := range []string{from.Host, to.Host} {
			root, err := b.cgroupRoot(ctx, h)
			if err != nil {
				return nil, err
			}
			if root == "" {
				return nil, nil // not exact: the caller falls back
			}
		}
		fport, err1 := portOf(from)
		tport, err2 := portOf(to)
		mark, err3 := nodeMark(to)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("cut %s: %w", cut, err)
		}
		src, dst := from.Host+"/32", to.Host+"/32"
		fromCG := strconv.Quote(cgroupRel(c, from.Name))
		for _, p := range []int{tport, tport + 10000} {
			r.out[from.Host] = append(r.out[from.Host], fmt.Sprintf("-d %s -p tcp -m cgroup --path %s -m tcp --dport %d -j DROP", dst, fromCG, p))
		}
		for _, p := range []int{fport, fport + 10000} {
			r.in[to.Host] = append(r.in[to.Host], fmt.Sprintf("-s %s -d %s -p tcp -m tcp --sport %d -m connmark --mark 0x%x/0x%x -j DROP", src, dst, p, mark, markMask))
		}
		if !marked[to.Name] {
			marked[to.Name] = true
			r.marks[to.Host] = append(r.marks[to.Host], fmt.Sprintf("-p tcp -m cgroup --path %s -j CONNMARK --set-xmark 0x%x/0x%x", strconv.Quote(cgroupRel(c, to.Name)), mark, markMask))
		}
	}
	return r, nil
}

// outChain is the cluster's chain that OUTPUT jumps to.
func outChain(c *topology.Cluster) string { return topology.ChainName(c) + "-o" }
