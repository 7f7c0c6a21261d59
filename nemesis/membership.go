package nemesis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis-harness/harness/topology"
)

func membershipKinds() []Kind {
	return []Kind{
		{
			Name:    "add-node",
			Doc:     "start a new node and join it as a replica of the target master (role=replica) or as an empty master (role=master); heal removes it",
			Params:  map[string]string{"role": "replica"},
			Targets: []string{"primary"},
			Backend: true,
			New: func(p Params) (Nemesis, error) {
				role, err := p.oneOf("role", "replica", "master")
				if err != nil {
					return nil, err
				}
				return addNode{role: role}, nil
			},
		},
		{
			Name:    "remove-node",
			Doc:     "remove the target from the cluster (a master's slots move to another master first) and stop it; heal adds a fresh node in its place",
			Targets: []string{"replica", "primary"},
			Backend: true,
			New:     func(Params) (Nemesis, error) { return removeNode{}, nil },
		},
	}
}

type addNode struct{ role string }

func (addNode) Name() string { return "add-node" }

func (a addNode) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	if env.Backend == nil {
		return nil, errNoBackend("add-node")
	}
	master := ""
	var of member
	if a.role == "replica" {
		picked, _, _, err := env.pick(ctx, target, true)
		if err != nil {
			return nil, fmt.Errorf("add-node: %w", err)
		}
		of = picked[0]
		if !of.Master {
			return nil, fmt.Errorf("add-node: %s (%s) is not a master with slots, so it cannot take a replica", of.Name, of.Addr)
		}
		master = of.Info.ID
	}
	n, id, err := joinNode(ctx, env, master)
	if err != nil {
		return nil, fmt.Errorf("add-node: %w", err)
	}
	desc := fmt.Sprintf("add %s (%s) as an empty master", n.Name, n.Addr)
	if master != "" {
		desc = fmt.Sprintf("add %s (%s) as a replica of %s", n.Name, n.Addr, of.Name)
	}
	return &membershipFault{desc: desc, nodes: []string{n.Addr}, heal: func(ctx context.Context) error {
		return leaveNode(ctx, env, n, id)
	}}, nil
}

// joinNode starts a node on the backend and joins it to the cluster (as a
// replica of master, or an empty master when master is ""). On error the
// node is gone again.
func joinNode(ctx context.Context, env *Env, master string) (topology.Node, string, error) {
	env.mu.Lock()
	n, err := env.Backend.AddNode(ctx, env.Cluster)
	env.mu.Unlock()
	if err != nil {
		return n, "", err
	}
	id, err := env.Admin.AddNode(ctx, env.Addrs(), n.Addr, master)
	if err != nil {
		uctx := context.WithoutCancel(ctx)
		if id != "" {
			env.Admin.RemoveNode(uctx, env.Addrs(), id)
		}
		env.mu.Lock()
		rerr := env.Backend.RemoveNode(uctx, env.Cluster, n.Name)
		env.mu.Unlock()
		return n, "", errors.Join(err, rerr)
	}
	return n, id, nil
}

// leaveNode removes the node from the cluster and stops it.
func leaveNode(ctx context.Context, env *Env, n topology.Node, id string) error {
	if err := env.Admin.RemoveNode(ctx, env.Addrs(), id); err != nil {
		return err
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.Backend.RemoveNode(ctx, env.Cluster, n.Name)
}

type removeNode struct{}

func (removeNode) Name() string { return "remove-node" }

func (removeNode) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	if env.Backend == nil {
		return nil, errNoBackend("remove-node")
	}
	picked, all, snap, err := env.pick(ctx, target, true)
	if err != nil {
		return nil, fmt.Errorf("remove-node: %w", err)
	}
	gone := picked[0]
	if gone.Info.ID == "" {
		return nil, fmt.Errorf("remove-node: %s (%s) is not known to the cluster now", gone.Name, gone.Addr)
	}
	f := &membershipFault{nodes: []string{gone.Addr}}
	var movedTo member
	slots := 0
	if gone.Master {
		for _, id := range snap.Owners() {
			if id == gone.Info.ID {
				slots++
			}
		}
		_, movedTo, _, err = migrationPair(ctx, env, Target(gone.Name))
		if err != nil {
			return nil, fmt.Errorf("remove-node %s: %w", gone.Name, err)
		}
		if _, err := env.Admin.Reshard(ctx, env.Addrs(), gone.Info.ID, movedTo.Info.ID, slots, topology.ReshardOptions{}); err != nil {
			return nil, fmt.Errorf("remove-node %s: move its %d slots to %s: %w", gone.Name, slots, movedTo.Name, err)
		}
		f.desc = fmt.Sprintf("remove master %s (%s) after moving its %d slots to %s", gone.Name, gone.Addr, slots, movedTo.Name)
	} else {
		f.desc = fmt.Sprintf("remove replica %s (%s)", gone.Name, gone.Addr)
	}
	if err := leaveNode(ctx, env, gone.Node, gone.Info.ID); err != nil {
		return nil, fmt.Errorf("%s: %w", f.desc, err)
	}
	master := gone.Info.MasterID
	f.heal = func(ctx context.Context) error {
		if !gone.Master {
			return replaceReplica(ctx, env, master, all)
		}
		return replaceMaster(ctx, env, movedTo, slots)
	}
	return f, nil
}

// replaceReplica adds a replica of master, or, when it is no longer a
// master, of the master with fewest replicas.
func replaceReplica(ctx context.Context, env *Env, master string, before []member) error {
	roles, _ := env.roles(ctx)
	count := map[string]int{}
	ok := false
	for _, m := range roles {
		if m.Info.IsReplica() {
			count[m.Info.MasterID]++
		}
		if m.Master && m.Info.ID == master {
			ok = true
		}
	}
	if !ok {
		master = ""
		for _, m := range roles {
			if m.Master && (master == "" || count[m.Info.ID] < count[master]) {
				master = m.Info.ID
			}
		}
	}
	if master == "" {
		return errors.New("no master with slots to give a replica")
	}
	_, _, err := joinNode(ctx, env, master)
	return err
}

// replaceMaster adds an empty master, moves slots back to it from the
// master that took them, and gives it a replica from the master with most.
func replaceMaster(ctx context.Context, env *Env, from member, slots int) error {
	n, id, err := joinNode(ctx, env, "")
	if err != nil {
		return err
	}
	if _, err := env.Admin.Reshard(ctx, env.Addrs(), from.Info.ID, id, slots, topology.ReshardOptions{}); err != nil {
		return fmt.Errorf("move %d slots from %s to the new master %s: %w", slots, from.Name, n.Name, err)
	}
	roles, _ := env.roles(ctx)
	byMaster := map[string][]member{}
	for _, m := range roles {
		if m.Info.IsReplica() {
			byMaster[m.Info.MasterID] = append(byMaster[m.Info.MasterID], m)
		}
	}
	var donor []member
	for _, rs := range byMaster {
		if len(rs) > 1 && len(rs) > len(donor) {
			donor = rs
		}
	}
	if len(donor) == 0 {
		return nil
	}
	r := env.choose(donor, 1)[0]
	if _, err := env.Admin.Do(ctx, r.Addr, "CLUSTER", "REPLICATE", id); err != nil {
		return fmt.Errorf("give the new master %s a replica: %w", n.Name, err)
	}
	return nil
}

type membershipFault struct {
	desc  string
	nodes []string
	heal  func(ctx context.Context) error

	mu     sync.Mutex
	healed bool
}

func (f *membershipFault) String() string          { return f.desc }
func (f *membershipFault) Nodes() []string         { return f.nodes }
func (f *membershipFault) Details() map[string]any { return nil }

func (f *membershipFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	if err := f.heal(ctx); err != nil {
		return fmt.Errorf("heal %s: %w", f.desc, err)
	}
	f.healed = true
	return nil
}
