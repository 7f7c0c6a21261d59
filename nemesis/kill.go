package nemesis

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
)

func killKinds() []Kind {
	return []Kind{{
		Name:    "kill",
		Doc:     "kill -9 the target's servers (SIGKILL / docker kill); heal restarts them with their data",
		Targets: []string{"one", "primary", "replica"},
		Needs:   needs(topology.AbilityLifecycle),
		New:     func(Params) (Nemesis, error) { return kill, nil },
	}}
}

// kill stops servers at once; whatever their AOF had not yet written to
// disk (appendfsync everysec or no) is lost on restart. (The kinds that
// also damage the data files while the node is down are in killdisk.go.)
var kill = stopStart{name: "kill", stop: topology.Lifecycle.Kill, start: topology.Lifecycle.Restart}

// stopStart is a fault on the target's server processes: stop does it to
// each node, start undoes it as the heal. kill and pause are the two.
type stopStart struct {
	name        string
	stop, start func(topology.Lifecycle, context.Context, *topology.Cluster, string) error
}

func (s stopStart) Name() string { return s.name }

func (s stopStart) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	lc, err := env.lifecycle(s.name)
	if err != nil {
		return nil, err
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	nodes := nodesOf(picked)
	return doOnNodes(ctx, s.name, s.name+" "+namesOf(nodes), nodes,
		func(ctx context.Context, n topology.Node) error { return s.stop(lc, ctx, env.cluster(), n.Name) },
		func(ctx context.Context, n topology.Node) error { return s.start(lc, ctx, env.cluster(), n.Name) })
}
