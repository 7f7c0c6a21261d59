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
		New:     func(Params) (Nemesis, error) { return kill{}, nil },
	}}
}

// kill stops servers at once; whatever their AOF had not yet written to
// disk (appendfsync everysec or no) is lost on restart.
type kill struct{}

func (kill) Name() string { return "kill" }

func (kill) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	lc, err := env.lifecycle("kill")
	if err != nil {
		return nil, err
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("kill: %w", err)
	}
	nodes := nodesOf(picked)
	return doOnNodes(ctx, "kill", "kill "+namesOf(nodes), nodes,
		func(ctx context.Context, n topology.Node) error { return lc.Kill(ctx, env.cluster(), n.Name) },
		func(ctx context.Context, n topology.Node) error { return lc.Restart(ctx, env.cluster(), n.Name) })
}
