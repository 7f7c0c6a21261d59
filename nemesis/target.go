package nemesis

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
)

// Target says which nodes a fault acts on. The nodes are chosen when the
// fault is injected, from the roles the cluster reports then, with the
// Env's Rand:
//
//	one, minority, majority, all          any nodes: 1, fewer than half, more than half, every one
//	primary, primaries                    one master, every master (masters owning slots)
//	replica, replicas                     one replica, every replica
//	minority-primaries, majority-primaries  fewer / more than half of the masters
//	slot-master:<slot>                    the master owning the slot
//	key-master:<key>                      the master owning the key's slot (the workload's keys)
//	n1,n3 or 10.0.0.5:6379                the named nodes (backend names or addresses)
type Target string

// The targets with no argument.
var targetWords = []string{"one", "minority", "majority", "all", "primary", "primaries", "replica", "replicas", "minority-primaries", "majority-primaries"}

// Validate checks the target's form; named nodes are checked when chosen.
func (t Target) Validate() error {
	_, _, err := t.parse()
	return err
}

// parse splits the target into its word and, for slot-master and
// key-master, the slot.
func (t Target) parse() (word string, slot int, err error) {
	s := string(t)
	switch {
	case s == "":
		return "", 0, fmt.Errorf("empty target: want %s, slot-master:<slot>, key-master:<key> or node names", strings.Join(targetWords, ", "))
	case slices.Contains(targetWords, s):
		return s, -1, nil
	case strings.HasPrefix(s, "slot-master:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "slot-master:"))
		if err != nil || n < 0 || n >= topology.NumSlots {
			return "", 0, fmt.Errorf("target %q: want slot-master:<0 to %d>", s, topology.NumSlots-1)
		}
		return "slot-master", n, nil
	case strings.HasPrefix(s, "key-master:"):
		key := strings.TrimPrefix(s, "key-master:")
		if key == "" {
			return "", 0, fmt.Errorf("target %q: want key-master:<key>", s)
		}
		return "slot-master", topology.KeySlot(key), nil
	}
	for _, name := range strings.Split(s, ",") {
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
			return "", 0, fmt.Errorf("target %q: want %s, slot-master:<slot>, key-master:<key> or node names separated by commas", s, strings.Join(targetWords, ", "))
		}
	}
	return "nodes", -1, nil
}

// member is a node of the backend with the role the cluster gives it now.
type member struct {
	topology.Node
	// Info is the node's line from its own view (from another's when it does
	// not answer); ID is empty when no node knows it.
	Info topology.NodeInfo
	// Master is true for a master owning slots in the majority's view.
	Master bool
}

// roles reads the cluster now and returns every node with its role,
// sorted by name, and the snapshot.
func (e *Env) roles(ctx context.Context) ([]member, *topology.Snapshot) {
	nodes := e.Nodes()
	snap := e.Admin.Snapshot(ctx, addrsOf(nodes))
	owners := map[string]bool{}
	for _, id := range snap.Owners() {
		if id != "" {
			owners[id] = true
		}
	}
	byAddr := map[string]topology.NodeInfo{}
	for _, m := range snap.Members() {
		byAddr[m.Addr] = m
	}
	out := make([]member, len(nodes))
	for i, n := range nodes {
		info := byAddr[n.Addr]
		out[i] = member{Node: n, Info: info, Master: info.ID != "" && owners[info.ID]}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, snap
}

// pick chooses the target's nodes now, and returns every member too. The
// cluster is read (and snap and the members' roles filled) only for targets
// that depend on roles, or when withRoles asks for them: reading a paused
// node costs a timeout, which would delay the fault.
func (e *Env) pick(ctx context.Context, t Target, withRoles bool) (picked, all []member, snap *topology.Snapshot, err error) {
	word, slot, err := t.parse()
	if err != nil {
		return nil, nil, nil, err
	}
	if withRoles || !slices.Contains([]string{"one", "minority", "majority", "all", "nodes"}, word) {
		all, snap = e.roles(ctx)
	} else {
		for _, n := range e.Nodes() {
			all = append(all, member{Node: n})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	}
	var masters, replicas []member
	for _, m := range all {
		switch {
		case m.Master:
			masters = append(masters, m)
		case m.Info.IsReplica():
			replicas = append(replicas, m)
		}
	}
	need := func(set []member, what string) error {
		if len(set) == 0 {
			return fmt.Errorf("target %s: the cluster has no %s now", t, what)
		}
		return nil
	}
	switch word {
	case "one":
		picked = e.choose(all, 1)
	case "minority":
		picked = e.choose(all, max(1, (len(all)-1)/2))
	case "majority":
		picked = e.choose(all, len(all)/2+1)
	case "all":
		picked = slices.Clone(all)
	case "primary":
		err = need(masters, "master owning slots")
		picked = e.choose(masters, 1)
	case "primaries":
		err = need(masters, "master owning slots")
		picked = masters
	case "minority-primaries":
		err = need(masters, "master owning slots")
		picked = e.choose(masters, max(1, (len(masters)-1)/2))
	case "majority-primaries":
		err = need(masters, "master owning slots")
		picked = e.choose(masters, len(masters)/2+1)
	case "replica":
		err = need(replicas, "replica")
		picked = e.choose(replicas, 1)
	case "replicas":
		err = need(replicas, "replica")
		picked = replicas
	case "slot-master":
		id := snap.Owners()[slot]
		for _, m := range all {
			if id != "" && m.Info.ID == id {
				picked = []member{m}
			}
		}
		if len(picked) == 0 {
			err = fmt.Errorf("target %s: no node of the cluster owns slot %d now", t, slot)
		}
	case "nodes":
		for _, name := range strings.Split(string(t), ",") {
			i := slices.IndexFunc(all, func(m member) bool { return m.Name == name || m.Addr == name })
			if i < 0 {
				return nil, nil, nil, fmt.Errorf("target %s: cluster %s has no node %q", t, e.Cluster.Name, name)
			}
			picked = append(picked, all[i])
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if len(picked) == 0 {
		return nil, nil, nil, fmt.Errorf("target %s: no node chosen", t)
	}
	return picked, all, snap, nil
}

// choose returns k of set, at random.
func (e *Env) choose(set []member, k int) []member {
	s := slices.Clone(set)
	e.shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	if k > len(s) {
		k = len(s)
	}
	out := s[:k]
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func nodesOf(ms []member) []topology.Node {
	out := make([]topology.Node, len(ms))
	for i, m := range ms {
		out[i] = m.Node
	}
	return out
}
