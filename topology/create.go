package topology

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// Plan says which node becomes what when a cluster is created.
type Plan struct {
	// Masters are the masters' addresses, in slot order.
	Masters []string `json:"masters"`
	// Slots[i] is the range Masters[i] gets.
	Slots []SlotRange `json:"slots"`
	// ReplicaOf maps each replica's address to its master's.
	ReplicaOf map[string]string `json:"replica_of"`
}

// PlanCreate assigns roles as redis-cli --cluster create does: masters are
// picked round-robin across hosts, and every replica goes to a host other
// than its master's wherever the hosts allow.
func PlanCreate(nodes []Node, masters, replicas int) (Plan, error) {
	if len(nodes) != masters*(1+replicas) {
		return Plan{}, fmt.Errorf("plan: %d nodes for %d masters × %d replicas, want %d", len(nodes), masters, replicas, masters*(1+replicas))
	}
	// Interleave hosts: one node of each host in turn.
	byHost := map[string][]Node{}
	var hosts []string
	for _, n := range nodes {
		if _, ok := byHost[n.Host]; !ok {
			hosts = append(hosts, n.Host)
		}
		byHost[n.Host] = append(byHost[n.Host], n)
	}
	sort.Strings(hosts)
	var order []Node
	for len(order) < len(nodes) {
		for _, h := range hosts {
			if len(byHost[h]) > 0 {
				order = append(order, byHost[h][0])
				byHost[h] = byHost[h][1:]
			}
		}
	}
	p := Plan{Slots: EvenSplit(masters), ReplicaOf: map[string]string{}}
	host := map[string]string{}
	for _, n := range nodes {
		host[n.Addr] = n.Host
	}
	for _, n := range order[:masters] {
		p.Masters = append(p.Masters, n.Addr)
	}
	free := order[masters:]
	var assigned []string
	for r := 0; r < replicas; r++ {
		for _, m := range p.Masters {
			pick := -1
			for i, n := range free {
				if n.Host != host[m] && !sameHostAsSibling(p, m, n, host) {
					pick = i
					break
				}
			}
			if pick < 0 {
				for i, n := range free {
					if n.Host != host[m] {
						pick = i
						break
					}
				}
			}
			if pick < 0 {
				pick = 0
			}
			p.ReplicaOf[free[pick].Addr] = m
			assigned = append(assigned, free[pick].Addr)
			free = append(free[:pick:pick], free[pick+1:]...)
		}
	}
	repairSameHost(p, assigned, host)
	return p, nil
}

// repairSameHost swaps the masters of two replicas where the greedy pick
// left one on its master's host while a swap puts both elsewhere: with two
// nodes on each of three hosts, the last master's only free node is on its
// own host, and an earlier replica can trade with it. assigned is the
// order the replicas were picked in, so that the result is deterministic.
func repairSameHost(p Plan, assigned []string, host map[string]string) {
	for _, r := range assigned {
		m := p.ReplicaOf[r]
		if host[r] != host[m] {
			continue
		}
		for _, r2 := range assigned {
			m2 := p.ReplicaOf[r2]
			if r2 == r || m2 == m || host[r2] == host[m] || host[r] == host[m2] {
				continue
			}
			p.ReplicaOf[r], p.ReplicaOf[r2] = m2, m
			break
		}
	}
}

// sameHostAsSibling reports whether n shares a host with a replica that m already has.
func sameHostAsSibling(p Plan, m string, n Node, host map[string]string) bool {
	for r, mm := range p.ReplicaOf {
		if mm == m && host[r] == n.Host {
			return true
		}
	}
	return false
}

// Create forms empty nodes into a cluster by the plan: slots with
// ADDSLOTSRANGE, distinct config epochs, MEET between every pair, REPLICATE
// as soon as a replica knows its master; then waits at the health gate.
func (a *Admin) Create(ctx context.Context, p Plan, timeout time.Duration) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	all := append([]string(nil), p.Masters...)
	for _, r := range sortedKeys(p.ReplicaOf) {
		all = append(all, r)
	}
	// Every node must be empty: a node that already knows others or holds
	// slots belongs to some cluster.
	ids := make([]string, len(all))
	err := wait.Parallel(len(all), func(i int) error {
		addr := all[i]
		text, err := a.DoText(ctx, addr, "CLUSTER", "NODES")
		if err != nil {
			return err
		}
		nodes, err := ParseClusterNodes(text)
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if len(nodes) != 1 || len(nodes[0].Slots) > 0 {
			return fmt.Errorf("%s is not empty: it knows %d nodes and holds %d slots (reset it with CLUSTER RESET HARD or use a new node)", addr, len(nodes), CountSlots(nodes[0].Slots))
		}
		ids[i] = nodes[0].ID
		if i < len(p.Masters) {
			r := p.Slots[i]
			if _, err := a.Do(ctx, addr, "CLUSTER", "ADDSLOTSRANGE", r.Start, r.End); err != nil {
				return err
			}
		}
		_, err = a.Do(ctx, addr, "CLUSTER", "SET-CONFIG-EPOCH", i+1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	// One MEET per pair, all at once.
	type pair struct{ from, to string }
	var pairs []pair
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			pairs = append(pairs, pair{all[i], all[j]})
		}
	}
	err = wait.Parallel(len(pairs), func(k int) error {
		host, port, err := splitHostPort(pairs[k].to)
		if err != nil {
			return err
		}
		_, err = a.Do(ctx, pairs[k].from, "CLUSTER", "MEET", host, port)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	idOf := map[string]string{}
	for i, addr := range all {
		idOf[addr] = ids[i]
	}
	replicas := all[len(p.Masters):]
	err = wait.Parallel(len(replicas), func(i int) error {
		r := replicas[i]
		master := idOf[p.ReplicaOf[r]]
		return wait.Poll(ctx, 20*time.Millisecond, func() (bool, string, error) {
			_, err := a.Do(ctx, r, "CLUSTER", "REPLICATE", master)
			if err == nil {
				return true, "", nil
			}
			// Until gossip tells the replica about its master: "Unknown node".
			return false, fmt.Sprintf("%s cannot replicate %s yet: %v", r, p.ReplicaOf[r], err), nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	deadline, _ := ctx.Deadline()
	return a.WaitHealthy(ctx, all, Expect{Masters: len(p.Masters), Replicas: len(p.ReplicaOf) / len(p.Masters)}, time.Until(deadline))
}
