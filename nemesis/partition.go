package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis-harness/harness/topology"
)

// Partitions cut links between nodes, the client port and the cluster bus
// alike. The harness's clients run on this machine and are never cut off:
// a master isolated from the rest of the cluster keeps serving them, which
// is how writes acknowledged by a master about to be replaced get lost.

func partitionKinds() []Kind {
	net := needs(topology.AbilityPartition)
	return []Kind{
		{
			Name:    "partition",
			Doc:     "isolate the target from every other node, both ways (clients still reach it)",
			Targets: []string{"one", "primary", "replica", "minority"},
			Needs:   net,
			New:     func(Params) (Nemesis, error) { return partition{shape: "isolate"}, nil },
		},
		{
			Name:    "partition-one-way",
			Doc:     "drop what the rest sends to the target (direction=in) or what the target sends to the rest (out)",
			Params:  map[string]string{"direction": "in"},
			Targets: []string{"one", "primary"},
			Needs:   net,
			New: func(p Params) (Nemesis, error) {
				dir, err := p.oneOf("direction", "in", "out")
				if err != nil {
					return nil, err
				}
				return partition{shape: "one-way-" + dir}, nil
			},
		},
		{
			Name:    "partition-halves",
			Doc:     "split the nodes at random into two halves (the smaller first)",
			Targets: []string{"all"},
			Needs:   net,
			New:     func(Params) (Nemesis, error) { return partition{shape: "halves"}, nil },
		},
		{
			Name:    "partition-ring",
			Doc:     "majorities ring: every node sees a majority, no two nodes the same one (one-way cuts)",
			Targets: []string{"all"},
			Needs:   net,
			New:     func(Params) (Nemesis, error) { return partition{shape: "ring"}, nil },
		},
		{
			Name:    "partition-bridge",
			Doc:     "two halves that cannot see each other and one node that sees both",
			Targets: []string{"all"},
			Needs:   net,
			New:     func(Params) (Nemesis, error) { return partition{shape: "bridge"}, nil },
		},
	}
}

type partition struct {
	shape string // isolate, one-way-in, one-way-out, halves, ring, bridge
}

func (p partition) Name() string {
	switch {
	case p.shape == "isolate":
		return "partition"
	case strings.HasPrefix(p.shape, "one-way"):
		return "partition-one-way"
	}
	return "partition-" + p.shape
}

func (p partition) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	net, err := env.network(p.Name())
	if err != nil {
		return nil, err
	}
	picked, all, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name(), err)
	}
	var cuts []topology.Cut
	var desc string
	switch p.shape {
	case "isolate", "one-way-in", "one-way-out":
		in, out := names(picked), names(without(all, picked))
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: target %s is every node: there is no rest to cut it from", p.Name(), target)
		}
		switch p.shape {
		case "isolate":
			cuts = append(complete(in, out), complete(out, in)...)
			desc = fmt.Sprintf("isolate %s from %s", strings.Join(in, ","), strings.Join(out, ","))
		case "one-way-in":
			cuts = complete(out, in)
			desc = fmt.Sprintf("%s hear nothing from %s", strings.Join(in, ","), strings.Join(out, ","))
		case "one-way-out":
			cuts = complete(in, out)
			desc = fmt.Sprintf("%s hear nothing from %s", strings.Join(out, ","), strings.Join(in, ","))
		}
	default:
		ring := names(all)
		env.shuffle(len(ring), func(i, j int) { ring[i], ring[j] = ring[j], ring[i] })
		switch p.shape {
		case "halves":
			a, b := halves(ring)
			cuts = append(complete(a, b), complete(b, a)...)
			desc = fmt.Sprintf("halves %s | %s", strings.Join(a, ","), strings.Join(b, ","))
		case "bridge":
			a, bridge, b := bridged(ring)
			cuts = append(complete(a, b), complete(b, a)...)
			desc = fmt.Sprintf("bridge %s | %s | %s", strings.Join(a, ","), bridge, strings.Join(b, ","))
		case "ring":
			cuts = majoritiesRing(ring)
			desc = "majorities ring " + strings.Join(ring, ",")
		}
	}
	if len(cuts) == 0 {
		return nil, fmt.Errorf("%s: %d nodes are too few to partition", p.Name(), len(all))
	}
	f := &partitionFault{net: net, env: env, cuts: cuts, desc: desc, nodes: addrsOf(nodesOf(picked))}
	if p.shape == "halves" || p.shape == "bridge" || p.shape == "ring" {
		f.nodes = addrsOf(nodesOf(all))
	}
	if err := net.Partition(ctx, env.cluster(), cuts); err != nil {
		if herr := net.Unpartition(context.WithoutCancel(ctx), env.cluster(), cuts); herr != nil {
			err = fmt.Errorf("%w (undoing it: %v)", err, herr)
		}
		return nil, fmt.Errorf("%s %s: %w", p.Name(), desc, err)
	}
	return f, nil
}

// partitionFault is cuts in place; Heal removes exactly them.
type partitionFault struct {
	net topology.Network
	// env gives the cluster as it is at heal time.
	env   *Env
	cuts  []topology.Cut
	desc  string
	nodes []string

	mu     sync.Mutex
	healed bool
}

func (f *partitionFault) String() string  { return f.desc }
func (f *partitionFault) Nodes() []string { return f.nodes }
func (f *partitionFault) Details() map[string]any {
	cuts := make([]string, len(f.cuts))
	for i, c := range f.cuts {
		cuts[i] = c.String()
	}
	return map[string]any{"cuts": cuts}
}

func (f *partitionFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	if err := f.net.Unpartition(ctx, f.env.cluster(), f.cuts); err != nil {
		return fmt.Errorf("heal %s: %w", f.desc, err)
	}
	f.healed = true
	return nil
}

// complete cuts every link from each of from to each of to.
func complete(from, to []string) []topology.Cut {
	var out []topology.Cut
	for _, a := range from {
		for _, b := range to {
			out = append(out, topology.Cut{From: a, To: b})
		}
	}
	return out
}

// halves splits nodes in two, the smaller half first.
func halves(nodes []string) (a, b []string) {
	return nodes[:len(nodes)/2], nodes[len(nodes)/2:]
}

// bridged splits nodes into two halves and the node between them.
func bridged(nodes []string) (a []string, bridge string, b []string) {
	if len(nodes) < 3 {
		return nil, "", nil
	}
	m := (len(nodes) - 1) / 2
	return nodes[:m], nodes[m], nodes[m+1:]
}

// majoritiesRing places the nodes on a ring; each one hears only the
// majority of nodes nearest to it (itself included), so every node sees a
// majority and no two see the same one. The cuts are one-way: node i drops
// what the others send it.
func majoritiesRing(nodes []string) []topology.Cut {
	n := len(nodes)
	if n < 3 {
		return nil
	}
	m := n/2 + 1
	back := (m - 1) / 2
	var out []topology.Cut
	for i, to := range nodes {
		hears := map[int]bool{}
		for k := -back; k < m-back; k++ {
			hears[((i+k)%n+n)%n] = true
		}
		for j, from := range nodes {
			if !hears[j] {
				out = append(out, topology.Cut{From: from, To: to})
			}
		}
	}
	return out
}

func names(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func without(all, some []member) []member {
	var out []member
	for _, m := range all {
		if !slices.ContainsFunc(some, func(x member) bool { return x.Name == m.Name }) {
			out = append(out, m)
		}
	}
	return out
}
