package nemesis

import (
	"context"
	"errors"
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
	if withRoles || needsRoles(word) {
		all, snap = e.roles(ctx)
	} else {
		for _, n := range e.Nodes() {
			all = append(all, member{Node: n})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	}
	set, k, random, err := candidates(t, word, slot, all, snap, e.clusterName())
	if err != nil {
		return nil, nil, nil, err
	}
	if random {
		picked = e.choose(set, k)
	} else {
		picked = set
	}
	if len(picked) == 0 {
		return nil, nil, nil, fmt.Errorf("target %s: no node chosen", t)
	}
	return picked, all, snap, nil
}

func (e *Env) clusterName() string {
	if e.Cluster == nil {
		return ""
	}
	return e.Cluster.Name
}

// candidates is what target t (parsed into word and slot) chooses from
// among all: the set, how many of it, and whether those are drawn at
// random (k of set) or are the whole set. It draws nothing, so that
// CheckTargets can ask it before the run without changing the choices
// the run will make.
func candidates(t Target, word string, slot int, all []member, snap *topology.Snapshot, cluster string) (set []member, k int, random bool, err error) {
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
		return all, 1, true, nil
	case "minority":
		return all, max(1, (len(all)-1)/2), true, nil
	case "majority":
		return all, len(all)/2 + 1, true, nil
	case "all":
		return slices.Clone(all), len(all), false, nil
	case "primary":
		return masters, 1, true, need(masters, "master owning slots")
	case "primaries":
		return masters, len(masters), false, need(masters, "master owning slots")
	case "minority-primaries":
		return masters, max(1, (len(masters)-1)/2), true, need(masters, "master owning slots")
	case "majority-primaries":
		return masters, len(masters)/2 + 1, true, need(masters, "master owning slots")
	case "replica":
		return replicas, 1, true, need(replicas, "replica")
	case "replicas":
		return replicas, len(replicas), false, need(replicas, "replica")
	case "slot-master":
		id := ""
		if snap != nil {
			id = snap.Owners()[slot]
		}
		for _, m := range all {
			if id != "" && m.Info.ID == id {
				return []member{m}, 1, false, nil
			}
		}
		return nil, 0, false, fmt.Errorf("target %s: no node of the cluster owns slot %d now", t, slot)
	case "nodes":
		for _, name := range strings.Split(string(t), ",") {
			i := slices.IndexFunc(all, func(m member) bool { return m.Name == name || m.Addr == name })
			if i < 0 {
				return nil, 0, false, fmt.Errorf("target %s: cluster %s has no node %q", t, cluster, name)
			}
			set = append(set, all[i])
		}
		return set, len(set), false, nil
	}
	return nil, 0, false, fmt.Errorf("target %s: unknown kind %q", t, word)
}

// needsRoles reports whether targets of this word choose by role, so that
// choosing them reads the cluster.
func needsRoles(word string) bool {
	return !slices.Contains([]string{"one", "minority", "majority", "all", "nodes"}, word)
}

// CheckTargets resolves every action's target against the cluster as it
// is now, before the run's first op, and says which actions could not
// act: a node name the cluster lacks, a role no node has (replica on a
// cluster without replicas), a slot no node owns. It draws nothing from
// Rand, so a checked run makes the same choices as an unchecked one. A
// name the timeline's own add-node actions will give a new node (n7
// after one add-node on six nodes) is accepted. The cluster is read only
// when some target chooses by role.
func (e *Env) CheckTargets(ctx context.Context, timeline []Action) error {
	adds := 0
	roles := false
	for _, a := range timeline {
		if a.Do == "add-node" {
			adds++
		}
		if word, _, err := Target(a.Target).parse(); err == nil && needsRoles(word) {
			roles = true
		}
	}
	var all []member
	var snap *topology.Snapshot
	if roles {
		all, snap = e.roles(ctx)
	} else {
		for _, n := range e.Nodes() {
			all = append(all, member{Node: n})
		}
	}
	seq := 0
	if e.Cluster != nil {
		e.mu.Lock()
		seq = max(e.Cluster.Seq, len(e.Cluster.Nodes))
		e.mu.Unlock()
	}
	var errs []error
	for i, a := range timeline {
		t := Target(a.Target)
		word, slot, err := t.parse()
		if err == nil {
			pool := all
			if word == "nodes" {
				pool = withFuture(all, t, seq, adds)
			}
			var set []member
			var k int
			set, k, _, err = candidates(t, word, slot, pool, snap, e.clusterName())
			if err == nil && (k < 1 || len(set) < k) {
				err = fmt.Errorf("target %s: %d nodes to choose from, %d wanted", t, len(set), k)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("nemesis action %d (%s): %w", i+1, a, err))
		}
	}
	return errors.Join(errs...)
}

// withFuture is all plus a stand-in for each node t names that an
// add-node of the timeline will make: n<seq+1> … n<seq+adds>.
func withFuture(all []member, t Target, seq, adds int) []member {
	out := all
	for _, name := range strings.Split(string(t), ",") {
		n, err := strconv.Atoi(strings.TrimPrefix(name, "n"))
		if !strings.HasPrefix(name, "n") || err != nil || n <= seq || n > seq+adds {
			continue
		}
		if slices.ContainsFunc(all, func(m member) bool { return m.Name == name }) {
			continue
		}
		out = append(slices.Clip(out), member{Node: topology.Node{Name: name}})
	}
	return out
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
