package topology

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// RebalanceOptions tunes Rebalance. Zero values mean defaults.
type RebalanceOptions struct {
	// UseEmptyMasters lets masters that own no slots take a share; without
	// it they are left out, as redis-cli does.
	UseEmptyMasters bool
	// Threshold is in percent (0 or less means the default, 2): nothing
	// moves while every master's slot count is within Threshold% of its
	// expected share. Once one is off by more, every master is brought to
	// its exact share, as redis-cli does.
	Threshold float64
	// Weights gives masters relative shares, by node id (Rebalance also
	// accepts unique id prefixes and addresses); a master not listed weighs
	// 1, and weight 0 empties a master.
	Weights map[string]float64
	// Pipeline, Timeout, Replace, Hook and Warn are passed to every slot
	// migration; see ReshardOptions.
	Pipeline int
	Timeout  time.Duration
	Replace  bool
	Hook     func(ctx context.Context, slot int, step Step) error
	Warn     func(msg string)
}

// RebalanceMaster is one master as PlanRebalance sees it: its id, address
// (for messages only) and slots.
type RebalanceMaster struct {
	ID    string      `json:"id"`
	Addr  string      `json:"addr,omitempty"`
	Slots []SlotRange `json:"slots"`
}

// Move is a planned transfer of slots from one master (From, an id) to
// another (To); the addresses are for messages only.
type Move struct {
	From     string      `json:"from"`
	FromAddr string      `json:"from_addr,omitempty"`
	To       string      `json:"to"`
	ToAddr   string      `json:"to_addr,omitempty"`
	Slots    []SlotRange `json:"slots"`
}

// String says what moves, e.g. "300 slots (5461-5760) from 127.0.100.2:6379 (1a2b3c4d) to …".
func (m Move) String() string {
	return fmt.Sprintf("%s (%s) from %s to %s", plural(CountSlots(m.Slots), "slot"), rangesText(m.Slots, 4),
		nodeText(NodeInfo{ID: m.From, Addr: m.FromAddr}), nodeText(NodeInfo{ID: m.To, Addr: m.ToAddr}))
}

// PlanRebalance computes the moves that bring every master to its share of
// the slots, with redis-cli's arithmetic: a master's expected count is
// floor(16384 / total weight × its weight); the slots that rounding down
// leaves over go, one each, to masters that are not giving any; the masters
// with the largest deficit are filled from those with the largest surplus,
// which give their lowest-numbered slots. It returns no moves when every
// master is within the threshold, or fewer than two take part. It is pure:
// Rebalance feeds it the cluster's masters.
func PlanRebalance(masters []RebalanceMaster, opts RebalanceOptions) ([]Move, error) {
	threshold := opts.Threshold
	if threshold <= 0 {
		threshold = 2
	}
	type node struct {
		RebalanceMaster
		weight  float64
		slots   []int
		balance int
	}
	known := map[string]bool{}
	for _, m := range masters {
		known[m.ID] = true
	}
	for id, w := range opts.Weights {
		if !known[id] {
			return nil, fmt.Errorf("rebalance: weight for %q, which is not a master", id)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("rebalance: weight %v for %s: want a number ≥ 0", w, short(id))
		}
	}
	var nodes []*node
	total := 0.0
	for _, m := range masters {
		n := &node{RebalanceMaster: m, weight: 1, slots: Expand(m.Slots)}
		if w, ok := opts.Weights[m.ID]; ok {
			n.weight = w
		}
		if len(n.slots) == 0 && !opts.UseEmptyMasters {
			continue
		}
		total += n.weight
		nodes = append(nodes, n)
	}
	if len(nodes) < 2 {
		return nil, nil
	}
	if total == 0 {
		return nil, fmt.Errorf("rebalance: every master has weight 0")
	}
	over, sum := false, 0
	for _, n := range nodes {
		expected := int(float64(NumSlots) / total * n.weight)
		n.balance = len(n.slots) - expected
		sum += n.balance
		if len(n.slots) > 0 {
			if math.Abs(100-100*float64(expected)/float64(len(n.slots))) > threshold {
				over = true
			}
		} else if expected > 1 {
			over = true
		}
	}
	if !over {
		return nil, nil
	}
	// Expected counts round down, so the balances sum to a small surplus:
	// charge it to masters that are not giving, one slot each, until none is left.
	for sum > 0 {
		for _, n := range nodes {
			if n.balance <= 0 && sum > 0 {
				n.balance--
				sum--
			}
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		if nodes[i].balance != nodes[j].balance {
			return nodes[i].balance < nodes[j].balance
		}
		return nodes[i].ID < nodes[j].ID
	})
	var moves []Move
	dst, src := 0, len(nodes)-1
	for dst < src {
		d, s := nodes[dst], nodes[src]
		k := min(-d.balance, s.balance)
		if k > 0 {
			moves = append(moves, Move{From: s.ID, FromAddr: s.Addr, To: d.ID, ToAddr: d.Addr, Slots: Ranges(s.slots[:k])})
			s.slots = s.slots[k:]
			d.balance += k
			s.balance -= k
		}
		if d.balance >= 0 {
			dst++
		}
		if s.balance <= 0 {
			src--
		}
	}
	return moves, nil
}

// RebalanceResult is what a rebalance did.
type RebalanceResult struct {
	// Moves is the plan; empty when the masters were balanced already.
	Moves []Move `json:"moves"`
	// Slots and Keys count what was moved before the end (or the error).
	Slots int `json:"slots"`
	Keys  int `json:"keys"`
	// Duration is how long the rebalance ran.
	Duration time.Duration `json:"duration_ns"`
	// Warnings are problems that did not stop it; see ReshardOptions.Warn.
	Warnings []string `json:"warnings,omitempty"`
}

// Rebalance evens out the slots among the masters as redis-cli --cluster
// rebalance does: it plans with PlanRebalance on the majority's slot map and
// moves each slot with the migration protocol. It refuses while slots are
// open or a master owning slots is unreachable.
func (a *Admin) Rebalance(ctx context.Context, addrs []string, opts RebalanceOptions) (RebalanceResult, error) {
	start := time.Now()
	var res RebalanceResult
	s := a.Snapshot(ctx, addrs)
	if len(s.Reachable()) == 0 {
		return res, fmt.Errorf("rebalance: no node could be read: %s", ProblemsText(s.Problems(Expect{}), 3))
	}
	if err := noOpenSlots(s); err != nil {
		return res, fmt.Errorf("rebalance: %w", err)
	}
	weights := map[string]float64{}
	for ref, w := range opts.Weights {
		n, err := s.Resolve(ref)
		if err != nil {
			return res, fmt.Errorf("rebalance: weight %s=%v: %w", ref, w, err)
		}
		weights[n.ID] = w
	}
	owners := s.Owners()
	slots := map[string][]int{}
	for slot, id := range owners {
		if id != "" {
			slots[id] = append(slots[id], slot)
		}
	}
	var masters []RebalanceMaster
	byID := map[string]NodeInfo{}
	for _, m := range s.Members() {
		if !m.IsMaster() {
			continue
		}
		self, reachable := selfOf(s, m.ID)
		if !reachable || m.Failed(true) {
			if len(slots[m.ID]) > 0 {
				return res, fmt.Errorf("rebalance: master %s owns %d slots and cannot be reached or is failing: heal the cluster first", nodeText(m), len(slots[m.ID]))
			}
			continue // an empty master that is gone takes no share
		}
		if !self.IsMaster() {
			continue // the majority is behind: it is a replica now
		}
		byID[m.ID] = self
		masters = append(masters, RebalanceMaster{ID: m.ID, Addr: self.Addr, Slots: Ranges(slots[m.ID])})
	}
	popts := opts
	popts.Weights = weights
	moves, err := PlanRebalance(masters, popts)
	if err != nil {
		return res, err
	}
	res.Moves = moves
	m := a.newMigrator(ReshardOptions{Pipeline: opts.Pipeline, Timeout: opts.Timeout, Replace: opts.Replace, Hook: opts.Hook, Warn: opts.Warn})
	defer m.close()
	done := func(err error) (RebalanceResult, error) {
		if err == nil && res.Slots > 0 {
			m.settle(ctx, a, addrs)
		}
		res.Warnings, res.Duration = m.warnings, time.Since(start)
		return res, err
	}
	for _, mv := range moves {
		from, to := byID[mv.From], byID[mv.To]
		others := otherMasters(s, mv.From, mv.To)
		for _, slot := range Expand(mv.Slots) {
			k, err := m.move(ctx, slot, from, to, others)
			res.Keys += k
			if err != nil {
				return done(fmt.Errorf("rebalance: %s: %w (%d of %d slots moved so far)", mv, err, res.Slots, plannedSlots(moves)))
			}
			res.Slots++
		}
	}
	return done(nil)
}

func plannedSlots(moves []Move) int {
	n := 0
	for _, m := range moves {
		n += CountSlots(m.Slots)
	}
	return n
}
