package nemesis

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
)

func pauseKinds() []Kind {
	return []Kind{{
		Name:    "pause",
		Doc:     "freeze the target's servers (SIGSTOP / docker pause); heal resumes them",
		Targets: []string{"one", "primary", "replica"},
		Needs:   needs(topology.AbilityLifecycle),
		New:     func(Params) (Nemesis, error) { return pause{}, nil },
	}}
}

// pause freezes servers: their connections stay open and say nothing, like
// a long GC pause or a stalled disk, and a master paused past the node
// timeout comes back to find itself replaced.
type pause struct{}

func (pause) Name() string { return "pause" }

func (pause) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	lc, err := env.lifecycle("pause")
	if err != nil {
		return nil, err
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	nodes := nodesOf(picked)
	return doOnNodes(ctx, "pause", "pause "+namesOf(nodes), nodes,
		func(ctx context.Context, n topology.Node) error { return lc.Pause(ctx, env.cluster(), n.Name) },
		func(ctx context.Context, n topology.Node) error { return lc.Resume(ctx, env.cluster(), n.Name) })
}
