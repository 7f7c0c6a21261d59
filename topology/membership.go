package topology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// membershipWait bounds AddNode and RemoveNode, ctx permitting.
const membershipWait = 30 * time.Second

// AddNode joins the empty node at newAddr to the cluster of addrs, as a
// master with no slots or, when replicaOfID is given (id, unique prefix or
// address), as a replica of that master. It sends CLUSTER MEET from the new
// node, waits until every reachable node knows it and it knows them, and for
// a replica sends CLUSTER REPLICATE (retried until the new node has heard of
// its master) and waits for master_link_status:up and for every node to see
// it as that master's replica. It returns the new
// node's id. It waits at most 30 s.
func (a *Admin) AddNode(ctx context.Context, addrs []string, newAddr, replicaOfID string) (id string, err error) {
	ctx, cancel := context.WithTimeout(ctx, membershipWait)
	defer cancel()
	if id, err = a.checkEmpty(ctx, newAddr); err != nil {
		return "", err
	}
	// The caller's list may already hold the new node (a backend's
	// AddNode records it before it joins): it is not a member yet.
	s := a.Snapshot(ctx, slices.DeleteFunc(slices.Clone(addrs), func(x string) bool { return x == newAddr }))
	if _, known := s.Node(id); known {
		return id, fmt.Errorf("add node %s: it is a member already (%s)", newAddr, short(id))
	}
	var master NodeInfo
	if replicaOfID != "" {
		if master, err = s.Resolve(replicaOfID); err != nil {
			return id, fmt.Errorf("add node %s: replica of: %w", newAddr, err)
		}
		if !master.IsMaster() || master.Failed(false) {
			return id, fmt.Errorf("add node %s: replica of %s: it is %s, not a master that is up", newAddr, nodeText(master), roleText(s, master))
		}
	}
	// Meet the master to be, where there is one: it learns of the new node first.
	seed, ok := selfOf(s, master.ID)
	if !ok {
		for _, v := range s.Reachable() {
			if self, found := v.Self(); found {
				seed, ok = self, true
				seed.Addr = v.Addr
				break
			}
		}
	}
	if !ok {
		return id, fmt.Errorf("add node %s: no node of the cluster can be read:%s", newAddr, ProblemsText(s.Problems(Expect{}), 5))
	}
	host, port, err := splitHostPort(seed.Addr)
	if err != nil {
		return id, fmt.Errorf("add node %s: %w", newAddr, err)
	}
	meet := []any{"CLUSTER", "MEET", host, port}
	if seed.BusPort > 0 {
		meet = append(meet, seed.BusPort)
	}
	if _, err := a.Do(ctx, newAddr, meet...); err != nil {
		return id, fmt.Errorf("add node %s: %w", newAddr, err)
	}

	var members []string // the reachable nodes' addresses
	for _, v := range s.Reachable() {
		members = append(members, v.Addr)
	}
	watch := append(slices.Clone(members), newAddr)
	err = wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		why := joinPending(a.Snapshot(ctx, watch), newAddr, id)
		return why == "", why, nil
	})
	if err != nil {
		return id, fmt.Errorf("add node %s: joining: %w", newAddr, err)
	}
	if replicaOfID == "" {
		return id, nil
	}
	err = wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		if _, err := a.Do(ctx, newAddr, "CLUSTER", "REPLICATE", master.ID); err != nil {
			return false, err.Error(), nil // "Unknown node" until gossip reaches it
		}
		return true, "", nil
	})
	if err != nil {
		return id, fmt.Errorf("add node %s: replicate %s: %w", newAddr, nodeText(master), err)
	}
	err = wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		text, err := a.DoText(ctx, newAddr, "INFO", "replication")
		if err != nil {
			return false, err.Error(), nil
		}
		r := ParseReplication(text)
		if r.MasterLinkStatus != "up" {
			return false, fmt.Sprintf("%s: role:%s master_link_status:%s", newAddr, r.Role, orDash(r.MasterLinkStatus)), nil
		}
		// And every node has heard of the new role, so that the next
		// operation sees one cluster.
		var why []string
		for _, v := range a.Snapshot(ctx, watch).Reachable() {
			if n, ok := findNode(v.Nodes, id); !ok || !n.IsReplica() || n.MasterID != master.ID {
				why = append(why, fmt.Sprintf("%s sees %s as %s", v.Addr, newAddr, nodeRole(n)))
			}
		}
		return len(why) == 0, strings.Join(why, "; "), nil
	})
	if err != nil {
		return id, fmt.Errorf("add node %s: sync with %s: %w", newAddr, nodeText(master), err)
	}
	return id, nil
}

// checkEmpty returns the id of the node at addr if it is a cluster node
// that knows no other node and holds no slots and no keys.
func (a *Admin) checkEmpty(ctx context.Context, addr string) (string, error) {
	text, err := a.DoText(ctx, addr, "CLUSTER", "NODES")
	if err != nil {
		if strings.Contains(err.Error(), "cluster support disabled") {
			return "", fmt.Errorf("add node %s: it is not a cluster node (cluster-enabled no)", addr)
		}
		return "", fmt.Errorf("add node %s: %w", addr, err)
	}
	nodes, err := ParseClusterNodes(text)
	if err != nil {
		return "", fmt.Errorf("add node %s: %w", addr, err)
	}
	var self NodeInfo
	for _, n := range nodes {
		if n.Myself() {
			self = n
		}
	}
	if self.ID == "" {
		return "", fmt.Errorf("add node %s: its CLUSTER NODES has no myself line", addr)
	}
	if len(nodes) > 1 {
		return self.ID, fmt.Errorf("add node %s: it is not empty: it knows %d other nodes, so it belongs to a cluster (CLUSTER RESET HARD it, or use a new node)", addr, len(nodes)-1)
	}
	if n := CountSlots(self.Slots); n > 0 {
		return self.ID, fmt.Errorf("add node %s: it is not empty: it owns %d slots (CLUSTER RESET HARD it, or use a new node)", addr, n)
	}
	v, err := a.Do(ctx, addr, "DBSIZE")
	if err != nil {
		return self.ID, fmt.Errorf("add node %s: %w", addr, err)
	}
	if k, _ := v.(int64); k > 0 {
		return self.ID, fmt.Errorf("add node %s: it is not empty: it holds %d keys (FLUSHALL it, or use a new node)", addr, k)
	}
	return self.ID, nil
}

// joinPending says who does not yet know whom, or "" once the new node and
// every reachable member know each other (past the handshake).
func joinPending(s *Snapshot, newAddr, id string) string {
	var why []string
	nv := s.View(newAddr)
	if nv == nil || nv.Err != "" {
		return newAddr + " cannot be read"
	}
	knows := func(v *NodeView, id string) bool {
		for _, n := range v.Nodes {
			if n.ID == id && !n.Has("handshake") && !n.Has("noaddr") {
				return true
			}
		}
		return false
	}
	for _, v := range s.Reachable() {
		if v.Addr == newAddr {
			continue
		}
		if !knows(v, id) {
			why = append(why, fmt.Sprintf("%s does not know %s yet", v.Addr, newAddr))
		}
		if self, ok := v.Self(); ok && !knows(nv, self.ID) {
			why = append(why, fmt.Sprintf("%s does not know %s yet", newAddr, v.Addr))
		}
	}
	return strings.Join(why, "; ")
}

// RemoveNode removes the node id (id, unique prefix or address) from the
// cluster of addrs as redis-cli --cluster del-node does. A master must own
// no slots. The replicas of an empty master first move to the master with
// fewest replicas; then every other node forgets it, all at once, within
// the 60 s during which a forgotten node cannot be re-learnt by gossip; then
// the node, if reachable, is reset (CLUSTER RESET HARD) so that it forgets
// the cluster too. It waits (at most 30 s) until no remaining node lists it.
// The node itself keeps running: stopping it is the backend's job.
func (a *Admin) RemoveNode(ctx context.Context, addrs []string, id string) error {
	ctx, cancel := context.WithTimeout(ctx, membershipWait)
	defer cancel()
	s := a.Snapshot(ctx, addrs)
	n, err := s.Resolve(id)
	if err != nil {
		return fmt.Errorf("remove node: %w", err)
	}
	self, reachable := selfOf(s, n.ID)
	if reachable {
		n = self
	}
	if n.IsMaster() {
		slots := 0
		for _, owner := range s.Owners() {
			if owner == n.ID {
				slots++
			}
		}
		slots = max(slots, CountSlots(n.Slots))
		if slots > 0 {
			other := "OTHER"
			if m := fewestSlots(s, withoutNode(reachableMasters(s), n.ID)); m.ID != "" {
				other = short(m.ID)
			}
			x := short(n.ID)
			return fmt.Errorf("node %s is a master with %d slots: move them first (harness cluster reshard --from %s --to %s --slots %d, or harness cluster rebalance)", x, slots, x, other, slots)
		}
		if err := a.moveReplicas(ctx, s, n); err != nil {
			return fmt.Errorf("remove node %s: %w", nodeText(n), err)
		}
	}

	// Forget it everywhere, the nodes that were not asked included.
	var targets []string
	for _, v := range s.Reachable() {
		if v.Addr != n.Addr {
			targets = append(targets, v.Addr)
		}
	}
	for _, m := range s.Members() {
		if m.ID != n.ID && m.Addr != "" && !m.Failed(false) && !m.Has("handshake") && !slices.Contains(targets, m.Addr) {
			targets = append(targets, m.Addr)
		}
	}
	errs := make([]error, len(targets))
	wait.Parallel(len(targets), func(i int) error {
		if _, err := a.Do(ctx, targets[i], "CLUSTER", "FORGET", n.ID); err != nil && !strings.Contains(err.Error(), "Unknown node") {
			errs[i] = err
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove node %s: forget: %w", nodeText(n), err)
	}
	var resetErr error
	if reachable {
		if _, err := a.Do(ctx, n.Addr, "CLUSTER", "RESET", "HARD"); err != nil {
			resetErr = fmt.Errorf("the node was forgotten but not reset, so it still knows the cluster: %w", err)
		}
	}
	err = wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		var why []string
		for _, v := range a.Snapshot(ctx, targets).Reachable() {
			if _, ok := findNode(v.Nodes, n.ID); ok {
				why = append(why, v.Addr+" still lists it")
			}
		}
		return len(why) == 0, strings.Join(why, "; "), nil
	})
	if err = errors.Join(resetErr, err); err != nil {
		return fmt.Errorf("remove node %s: %w", nodeText(n), err)
	}
	return nil
}

// moveReplicas makes the replicas of the empty master n replicate the
// master with fewest replicas instead, so that they can forget n.
func (a *Admin) moveReplicas(ctx context.Context, s *Snapshot, n NodeInfo) error {
	var replicas []NodeInfo
	for _, m := range s.Members() {
		if m.IsReplica() && m.MasterID == n.ID {
			replicas = append(replicas, m)
		}
	}
	if len(replicas) == 0 {
		return nil
	}
	count := map[string]int{}
	for _, m := range s.Members() {
		if m.IsReplica() {
			count[m.MasterID]++
		}
	}
	var candidates []NodeInfo
	for _, m := range withoutNode(reachableMasters(s), n.ID) {
		if !m.Failed(false) && len(m.Slots) > 0 {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return fmt.Errorf("its %d replicas have no other master with slots to replicate", len(replicas))
	}
	for _, r := range replicas {
		sort.Slice(candidates, func(i, j int) bool {
			if count[candidates[i].ID] != count[candidates[j].ID] {
				return count[candidates[i].ID] < count[candidates[j].ID]
			}
			return candidates[i].ID < candidates[j].ID
		})
		to := candidates[0]
		if _, err := a.Do(ctx, r.Addr, "CLUSTER", "REPLICATE", to.ID); err != nil {
			return fmt.Errorf("move its replica %s to %s: %w", nodeText(r), nodeText(to), err)
		}
		count[to.ID]++
	}
	return nil
}

func withoutNode(nodes []NodeInfo, id string) []NodeInfo {
	out := make([]NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		if n.ID != id {
			out = append(out, n)
		}
	}
	return out
}
