package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology"
)

func failoverKinds() []Kind {
	return []Kind{{
		Name:    "failover",
		Doc:     "CLUSTER FAILOVER (mode=default|force|takeover) on a replica of the target master (or on the target replica)",
		Params:  map[string]string{"mode": "default", "timeout": "30s"},
		Targets: []string{"primary"},
		New: func(p Params) (Nemesis, error) {
			mode, err := p.oneOf("mode", "default", "force", "takeover")
			if err != nil {
				return nil, err
			}
			timeout, err := p.duration("timeout")
			if err != nil {
				return nil, err
			}
			return failover{mode: topology.FailoverMode(mode), timeout: timeout}, nil
		},
	}}
}

// failover is a manual failover, done with topology's Admin.Failover. It
// needs no backend: it works on a cluster given by address too. Its heal
// has nothing to undo; the promoted replica stays master.
type failover struct {
	mode    topology.FailoverMode
	timeout time.Duration
}

func (failover) Name() string { return "failover" }

func (f failover) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	picked, all, _, err := env.pick(ctx, target, true)
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	var promoted []member
	var descs []string
	var took []any
	for _, m := range picked {
		replica := m
		if !m.Info.IsReplica() {
			var replicas []member
			for _, r := range all {
				if r.Info.IsReplica() && r.Info.MasterID == m.Info.ID && m.Info.ID != "" && !r.Info.Failed(true) {
					replicas = append(replicas, r)
				}
			}
			if len(replicas) == 0 {
				return nil, fmt.Errorf("failover (%s) of %s (%s): it has no replica that is up", f.mode, m.Name, m.Addr)
			}
			replica = env.choose(replicas, 1)[0]
		}
		from := m.Name
		if replica.Name == m.Name {
			from = "its master"
		}
		d, err := env.Admin.Failover(ctx, env.Addrs(), replica.Info.ID, f.mode, f.timeout)
		switch {
		case errors.Is(err, topology.ErrFailoverPending):
			// The replica accepted the command: the fault is in effect even
			// though its outcome is not known yet (an isolated replica's
			// TAKEOVER wins once the partition heals). Recording it as not
			// injected would understate what the nemesis did.
			promoted = append(promoted, replica)
			descs = append(descs, fmt.Sprintf("%s was told to take over from %s; not seen done by every node within %s", replica.Name, from, f.timeout))
			took = append(took, int64(d))
			continue
		case err != nil:
			return nil, fmt.Errorf("failover (%s) to %s (%s): %w", f.mode, replica.Name, replica.Addr, err)
		}
		promoted = append(promoted, replica)
		descs = append(descs, fmt.Sprintf("%s took over from %s in %s", replica.Name, from, d.Round(time.Millisecond)))
		took = append(took, int64(d))
	}
	return &onNodes{
		name:   "failover",
		desc:   fmt.Sprintf("failover (%s): %s", f.mode, strings.Join(descs, "; ")),
		nodes:  nodesOf(promoted),
		undo:   func(context.Context, topology.Node) error { return nil },
		detail: map[string]any{"took_ns": took},
	}, nil
}
