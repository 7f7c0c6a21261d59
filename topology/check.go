package topology

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// Problem is one thing wrong with a cluster, as `cluster check` lists it.
type Problem struct {
	// Kind is one of: unreachable, state, membership, failed-node,
	// uncovered, disagree, open-slot, masters, replicas, link-down.
	Kind string `json:"kind"`
	// Node is the address of the node the problem is about, if one.
	Node string `json:"node,omitempty"`
	// Slots are the slots concerned, if any.
	Slots  []SlotRange `json:"slots,omitempty"`
	Detail string      `json:"detail"`
}

func (p Problem) String() string { return p.Detail }

// Expect is what a healthy cluster looks like beyond the invariants that
// always hold (reachable, state ok, slots covered once and agreed on, no
// open slots, replica links up).
type Expect struct {
	// Masters is the number of masters owning slots; 0 means any.
	Masters int `json:"masters,omitempty"`
	// Replicas is the number of replicas every slot-owning master must have.
	Replicas int `json:"replicas"`
}

// Problems lists everything wrong in s; none means healthy.
func (s *Snapshot) Problems(e Expect) []Problem {
	var out []Problem
	add := func(p Problem) { out = append(out, p) }
	asked := map[string]bool{}
	for _, v := range s.Views {
		asked[v.Addr] = true
	}
	for _, v := range s.Views {
		if v.Err != "" {
			add(Problem{Kind: "unreachable", Node: v.Addr, Detail: fmt.Sprintf("%s cannot be read: %s", v.Addr, v.Err)})
		}
	}
	reach := s.Reachable()
	if len(reach) == 0 {
		return out
	}
	for _, v := range reach {
		if v.Info.State != "ok" {
			add(Problem{Kind: "state", Node: v.Addr, Detail: fmt.Sprintf("%s says cluster_state:%s", v.Addr, v.Info.State)})
		}
		known := map[string]bool{}
		for _, n := range v.Nodes {
			known[n.Addr] = true
			switch {
			case n.Has("handshake"):
				add(Problem{Kind: "membership", Node: v.Addr, Detail: fmt.Sprintf("%s is still in handshake with %s", v.Addr, orDash(n.Addr))})
			case n.Has("noaddr"):
				add(Problem{Kind: "membership", Node: v.Addr, Detail: fmt.Sprintf("%s knows node %s with no address", v.Addr, short(n.ID))})
			case n.Failed(true):
				add(Problem{Kind: "failed-node", Node: v.Addr, Detail: fmt.Sprintf("%s flags %s (%s) as %s", v.Addr, n.Addr, short(n.ID), failFlag(n))})
			}
		}
		var missing []string
		for a := range asked {
			if !known[a] {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			add(Problem{Kind: "membership", Node: v.Addr, Detail: fmt.Sprintf("%s does not know %s", v.Addr, strings.Join(missing, ", "))})
		}
	}

	owners := s.Owners()
	var uncovered []int
	for slot, id := range owners {
		if id == "" {
			uncovered = append(uncovered, slot)
		}
	}
	if len(uncovered) > 0 {
		r := Ranges(uncovered)
		add(Problem{Kind: "uncovered", Slots: r, Detail: fmt.Sprintf("%d slots have no master: %s", len(uncovered), rangesText(r, 6))})
	}
	for _, v := range reach {
		m := slotMap(v)
		var differ []int
		for slot := range NumSlots {
			if m[slot] != owners[slot] {
				differ = append(differ, slot)
			}
		}
		if len(differ) > 0 {
			sl := differ[0]
			add(Problem{Kind: "disagree", Node: v.Addr, Slots: Ranges(differ), Detail: fmt.Sprintf(
				"%s disagrees with the majority on %d slots (slot %d: it says %s, the majority %s)",
				v.Addr, len(differ), sl, ownerText(s, m[sl]), ownerText(s, owners[sl]))})
		}
		if self, ok := v.Self(); ok {
			for _, slot := range sortedKeys(self.Migrating) {
				add(Problem{Kind: "open-slot", Node: v.Addr, Slots: []SlotRange{{Start: slot, End: slot}}, Detail: fmt.Sprintf("%s has slot %d MIGRATING to %s%s", v.Addr, slot, ownerText(s, self.Migrating[slot]), slotKeysText(v, slot))})
			}
			for _, slot := range sortedKeys(self.Importing) {
				add(Problem{Kind: "open-slot", Node: v.Addr, Slots: []SlotRange{{Start: slot, End: slot}}, Detail: fmt.Sprintf("%s has slot %d IMPORTING from %s%s", v.Addr, slot, ownerText(s, self.Importing[slot]), slotKeysText(v, slot))})
			}
		}
	}

	// Masters and their replicas, in the majority's terms.
	owning := map[string]int{}
	for _, id := range owners {
		if id != "" {
			owning[id]++
		}
	}
	if e.Masters > 0 && len(owning) != e.Masters {
		add(Problem{Kind: "masters", Detail: fmt.Sprintf("%d masters own slots, want %d", len(owning), e.Masters)})
	}
	members := s.Members()
	for _, id := range sortedKeys(owning) {
		n := 0
		for _, m := range members {
			if m.IsReplica() && m.MasterID == id && !m.Failed(true) {
				n++
			}
		}
		if n < e.Replicas {
			add(Problem{Kind: "replicas", Node: s.AddrOf(id), Detail: fmt.Sprintf("master %s has %d of %d replicas", ownerText(s, id), n, e.Replicas)})
		}
	}
	for _, v := range reach {
		if self, ok := v.Self(); ok && self.IsReplica() && v.Repl.MasterLinkStatus != "up" {
			add(Problem{Kind: "link-down", Node: v.Addr, Detail: fmt.Sprintf("replica %s: master_link_status:%s (master %s)", v.Addr, orDash(v.Repl.MasterLinkStatus), ownerText(s, self.MasterID))})
		}
	}
	return out
}

// WaitHealthy polls the nodes until they show no problem (the health gate)
// or timeout passes; the error then names everything still wrong.
func (a *Admin) WaitHealthy(ctx context.Context, addrs []string, e Expect, timeout time.Duration) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *Snapshot
	err := wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		last = a.Snapshot(ctx, addrs)
		probs := last.Problems(e)
		return len(probs) == 0, ProblemsText(probs, 8), nil
	})
	if err != nil {
		return last, fmt.Errorf("cluster not healthy after %s: %w", timeout, err)
	}
	return last, nil
}

// ProblemsText joins up to max problems on one line each.
func ProblemsText(ps []Problem, max int) string {
	var b strings.Builder
	for i, p := range ps {
		if i == max {
			fmt.Fprintf(&b, "\n  … and %d more", len(ps)-max)
			break
		}
		b.WriteString("\n  - ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// slotKeysText says how many keys the view's node holds in an open slot,
// when it was counted.
func slotKeysText(v *NodeView, slot int) string {
	k, ok := v.OpenSlotKeys[slot]
	if !ok || k.Err != "" {
		return ""
	}
	return fmt.Sprintf(" (%s here)", plural(k.Count, "key"))
}

func ownerText(s *Snapshot, id string) string {
	if id == "" {
		return "no one"
	}
	if a := s.AddrOf(id); a != "" {
		return fmt.Sprintf("%s (%s)", a, short(id))
	}
	return short(id)
}

func rangesText(r []SlotRange, max int) string {
	var parts []string
	for i, x := range r {
		if i == max {
			parts = append(parts, fmt.Sprintf("… %d ranges in all", len(r)))
			break
		}
		parts = append(parts, x.String())
	}
	return strings.Join(parts, ", ")
}

func failFlag(n NodeInfo) string {
	if n.Has("fail") {
		return "fail"
	}
	return "fail? (pfail)"
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
