package nemesis

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
)

func netemKinds() []Kind {
	return []Kind{{
		Name:    "netem",
		Doc:     "delay (± jitter) and drop the packets addressed to the target; heal clears it",
		Params:  map[string]string{"delay": "100ms", "jitter": "", "loss": ""},
		Targets: []string{"one", "primary", "replica"},
		Needs:   needs(topology.AbilityNetem),
		New: func(p Params) (Nemesis, error) {
			var q topology.NetemSpec
			var err error
			if q.Delay, err = p.duration("delay"); err != nil {
				return nil, err
			}
			if q.Jitter, err = p.duration("jitter"); err != nil {
				return nil, err
			}
			if q.Loss, err = p.float("loss"); err != nil {
				return nil, err
			}
			if err := q.Validate(); err != nil {
				return nil, err
			}
			return netem{q: q}, nil
		},
	}}
}

type netem struct{ q topology.NetemSpec }

func (netem) Name() string { return "netem" }

func (n netem) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	net, err := env.network("netem")
	if err != nil {
		return nil, err
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("netem: %w", err)
	}
	nodes := nodesOf(picked)
	f, err := doOnNodes(ctx, "netem", fmt.Sprintf("netem %s on %s", n.q, namesOf(nodes)), nodes,
		func(ctx context.Context, nd topology.Node) error { return net.Netem(ctx, env.cluster(), nd.Name, n.q) },
		func(ctx context.Context, nd topology.Node) error { return net.ClearNetem(ctx, env.cluster(), nd.Name) })
	if err != nil {
		return nil, err
	}
	f.detail = map[string]any{"delay_ns": int64(n.q.Delay), "jitter_ns": int64(n.q.Jitter), "loss": n.q.Loss}
	return f, nil
}
