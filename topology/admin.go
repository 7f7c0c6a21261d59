package topology

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// Admin talks to the nodes of one cluster, one plain connection pool per
// node address: cluster operations address nodes, not keys.
type Admin struct {
	// Timeout bounds each command (default 3 s).
	Timeout time.Duration

	mu      sync.Mutex
	clients map[string]*redis.Client
}

// NewAdmin returns an Admin with no connections yet.
func NewAdmin() *Admin { return &Admin{clients: map[string]*redis.Client{}} }

// Client returns the connection pool for addr, making it on first use.
func (a *Admin) Client(addr string) *redis.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[addr]; ok {
		return c
	}
	t := a.Timeout
	if t == 0 {
		t = 3 * time.Second
	}
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: t, ReadTimeout: t, WriteTimeout: t,
		MaxRetries: -1, PoolSize: 4, Protocol: 2,
	})
	a.clients[addr] = c
	return c
}

// Close closes every connection.
func (a *Admin) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.clients {
		c.Close()
		delete(a.clients, k)
	}
}

// Do runs one command on the node at addr, wrapping errors with both.
func (a *Admin) Do(ctx context.Context, addr string, args ...any) (any, error) {
	v, err := a.Client(addr).Do(ctx, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", addr, cmdString(args), err)
	}
	return v, nil
}

// DoText runs a command whose reply is a string (CLUSTER NODES, INFO…).
func (a *Admin) DoText(ctx context.Context, addr string, args ...any) (string, error) {
	v, err := a.Do(ctx, addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s %s: want a string reply, got %T", addr, cmdString(args), v)
	}
	return s, nil
}

func cmdString(args []any) string {
	parts := make([]string, 0, len(args))
	for i, a := range args {
		if i >= 6 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprint(a))
	}
	return strings.Join(parts, " ")
}

// NodeView is what one node says about the cluster.
type NodeView struct {
	Addr  string      `json:"addr"`
	Err   string      `json:"error,omitempty"` // why the node could not be read
	Nodes []NodeInfo  `json:"nodes,omitempty"`
	Info  ClusterInfo `json:"info"`
	Repl  Replication `json:"replication"`
	// OpenSlotKeys is, for each slot the node has MIGRATING or IMPORTING,
	// the keys it holds in that slot: a migration that stopped half way
	// leaves keys on both of its ends, and only the two counts side by side
	// show it. Nil when the node has no open slot.
	OpenSlotKeys map[int]SlotKeys `json:"open_slot_keys,omitempty"`
}

// SlotKeys is what one node holds in one slot (history.SlotKeys).
type SlotKeys = history.SlotKeys

// MaxSlotKeys is how many key names SlotKeys keeps, and maxOpenSlotsCounted
// how many open slots of one node are counted: enough to name what a stopped
// migration left, few enough that sampling stays cheap.
const (
	MaxSlotKeys         = 10
	maxOpenSlotsCounted = 16
)

// Self is the answering node's own line.
func (v *NodeView) Self() (NodeInfo, bool) {
	for _, n := range v.Nodes {
		if n.Myself() {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// Snapshot is every node's view, taken at about the same time.
type Snapshot struct {
	Time  time.Time   `json:"time"`
	Views []*NodeView `json:"views"` // in the order of the addresses asked
}

// Snapshot reads CLUSTER NODES, CLUSTER INFO and INFO replication from every
// address concurrently. A node that cannot be read has Err set.
func (a *Admin) Snapshot(ctx context.Context, addrs []string) *Snapshot {
	s := &Snapshot{Time: time.Now(), Views: make([]*NodeView, len(addrs))}
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Views[i] = a.view(ctx, addr)
		}()
	}
	wg.Wait()
	return s
}

func (a *Admin) view(ctx context.Context, addr string) *NodeView {
	v := &NodeView{Addr: addr}
	pipe := a.Client(addr).Pipeline()
	nodes := pipe.ClusterNodes(ctx)
	info := pipe.ClusterInfo(ctx)
	repl := pipe.Info(ctx, "replication")
	if _, err := pipe.Exec(ctx); err != nil {
		v.Err = err.Error()
		return v
	}
	var err error
	if v.Nodes, err = ParseClusterNodes(nodes.Val()); err != nil {
		v.Err = err.Error()
		return v
	}
	if v.Info, err = ParseClusterInfo(info.Val()); err != nil {
		v.Err = err.Error()
		return v
	}
	v.Repl = ParseReplication(repl.Val())
	v.OpenSlotKeys = a.openSlotKeys(ctx, addr, v)
	return v
}

// openSlotKeys counts and names the keys the node holds in each of its open
// slots (at most maxOpenSlotsCounted of them, the lowest), in one pipeline.
// A failure is kept per slot: the rest of the view stays good.
func (a *Admin) openSlotKeys(ctx context.Context, addr string, v *NodeView) map[int]SlotKeys {
	self, ok := v.Self()
	if !ok || len(self.Migrating)+len(self.Importing) == 0 {
		return nil
	}
	open := map[int]bool{}
	for slot := range self.Migrating {
		open[slot] = true
	}
	for slot := range self.Importing {
		open[slot] = true
	}
	slots := sortedKeys(open)
	if len(slots) > maxOpenSlotsCounted {
		slots = slots[:maxOpenSlotsCounted]
	}
	pipe := a.Client(addr).Pipeline()
	counts := make([]*redis.IntCmd, len(slots))
	names := make([]*redis.StringSliceCmd, len(slots))
	for i, slot := range slots {
		counts[i] = pipe.ClusterCountKeysInSlot(ctx, slot)
		names[i] = pipe.ClusterGetKeysInSlot(ctx, slot, MaxSlotKeys)
	}
	pipe.Exec(ctx) // errors are per command, below
	out := make(map[int]SlotKeys, len(slots))
	for i, slot := range slots {
		n, err := counts[i].Result()
		if err == nil {
			var keys []string
			keys, err = names[i].Result()
			out[slot] = SlotKeys{Count: int(n), Keys: keys}
		}
		if err != nil {
			out[slot] = SlotKeys{Err: fmt.Sprintf("CLUSTER COUNTKEYSINSLOT/GETKEYSINSLOT %d: %v", slot, err)}
		}
	}
	return out
}

// Reachable lists the views that answered.
func (s *Snapshot) Reachable() []*NodeView {
	var out []*NodeView
	for _, v := range s.Views {
		if v.Err == "" {
			out = append(out, v)
		}
	}
	return out
}

// Addrs lists the addresses the snapshot asked.
func (s *Snapshot) Addrs() []string {
	out := make([]string, len(s.Views))
	for i, v := range s.Views {
		out[i] = v.Addr
	}
	return out
}

// View returns the view of the node at addr.
func (s *Snapshot) View(addr string) *NodeView {
	for _, v := range s.Views {
		if v.Addr == addr {
			return v
		}
	}
	return nil
}

// Owners is the slot map as the majority of reachable nodes see it: owner
// node id per slot ("" where no node claims it). Ties go to the view that
// comes first, so the result is deterministic.
func (s *Snapshot) Owners() [NumSlots]string {
	var owners [NumSlots]string
	views := s.Reachable()
	if len(views) == 0 {
		return owners
	}
	maps := make([]*[NumSlots]string, len(views))
	for i, v := range views {
		maps[i] = slotMap(v)
	}
	ids := make([]string, 0, 8)
	counts := make([]int, 0, 8)
	for slot := 0; slot < NumSlots; slot++ {
		ids, counts = ids[:0], counts[:0]
		best, bestN := 0, 0
		for _, m := range maps {
			id := m[slot]
			k := slices.Index(ids, id)
			if k < 0 {
				k = len(ids)
				ids, counts = append(ids, id), append(counts, 0)
			}
			counts[k]++
			if counts[k] > bestN {
				best, bestN = k, counts[k]
			}
		}
		owners[slot] = ids[best]
	}
	return owners
}

// slotMap is one view's owner per slot.
func slotMap(v *NodeView) *[NumSlots]string {
	m := new([NumSlots]string)
	for _, n := range v.Nodes {
		if !n.IsMaster() {
			continue
		}
		for _, r := range n.Slots {
			for s := r.Start; s <= r.End; s++ {
				m[s] = n.ID
			}
		}
	}
	return m
}

// Node returns the node with id as the majority view describes it: from the
// node's own line where it answered, else from the first view that knows it.
func (s *Snapshot) Node(id string) (NodeInfo, bool) {
	var found NodeInfo
	ok := false
	for _, v := range s.Reachable() {
		for _, n := range v.Nodes {
			if n.ID != id {
				continue
			}
			if n.Myself() {
				return n, true
			}
			if !ok {
				found, ok = n, true
			}
		}
	}
	return found, ok
}

// Members lists every node known to any reachable view, sorted by address,
// each from its own view where it answered.
func (s *Snapshot) Members() []NodeInfo {
	seen := map[string]bool{}
	var out []NodeInfo
	for _, v := range s.Reachable() {
		for _, n := range v.Nodes {
			if seen[n.ID] {
				continue
			}
			seen[n.ID] = true
			best, _ := s.Node(n.ID)
			out = append(out, best)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// AddrOf returns the address of the node with id.
func (s *Snapshot) AddrOf(id string) string {
	n, _ := s.Node(id)
	return n.Addr
}

// Discover asks the node at seed which nodes belong to its cluster and
// returns their addresses, seed's first. Nodes without an address (noaddr,
// handshake) are left out.
func (a *Admin) Discover(ctx context.Context, seed string) ([]string, error) {
	text, err := a.DoText(ctx, seed, "CLUSTER", "NODES")
	if err != nil {
		if strings.Contains(err.Error(), "cluster support disabled") {
			return nil, fmt.Errorf("%s is not a cluster node (cluster-enabled no)", seed)
		}
		return nil, fmt.Errorf("reach %s: %w", seed, err)
	}
	nodes, err := ParseClusterNodes(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", seed, err)
	}
	out := []string{seed}
	for _, n := range nodes {
		if n.Addr == "" || n.Has("handshake") || n.Has("noaddr") || n.Myself() {
			continue
		}
		out = append(out, n.Addr)
	}
	return out, nil
}

// MyID returns the node id of the node at addr.
func (a *Admin) MyID(ctx context.Context, addr string) (string, error) {
	return a.DoText(ctx, addr, "CLUSTER", "MYID")
}
