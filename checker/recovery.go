package checker

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// RecoveryBefore is the span before a fault whose ok-op rate its
// rate_ratio is measured against.
const RecoveryBefore = 5 * 1e9

// minRateSpan is the shortest span a rate is computed over: shorter ones
// say more about chance than about the clients.
const minRateSpan = 0.2e9

// Recovery measures what every nemesis action cost the clients, from the
// history and the topology samples alone (so `harness check` recomputes it):
//
//   - client_recovery_s: for the slots the clients used whose owner the
//     action moved to another node (a kill, pause or partition of a master
//     and the failover that follows; a manual failover; a reshard), the
//     time from the first sample in which the new owner serves the slot
//     (it is a master, claims the slot, says cluster_state ok, and every
//     reachable node names it the owner), or from the first op on the
//     slot after that if none was under way, to the first ok op on that
//     slot answered by it: the slowest slot's, 0 when the client got there
//     before the samples showed agreement. Null, with the reason, when no
//     used slot moved, or when one moved and no op was answered ok there
//     afterwards although ops were sent to it.
//   - rate_ratio: the ok ops per second while the fault lasted (from its
//     inject's start to its heal; to the end of its inject for actions
//     without a `for`, whose inject is the fault: a failover until every
//     node agrees, a reshard's migration) over those of the
//     RecoveryBefore before it.
//
// A node counts as reachable in a sample when it answered and most of the
// other nodes that answered do not flag it failing: a master cut off from
// the rest still answers the monitor with its stale map, but it is not
// part of the cluster that serves. It reports figures and always says
// valid.
type Recovery struct{}

// Name is "recovery".
func (c *Recovery) Name() string { return history.CheckRecovery }

// RecoveryResult is results.json's checkers.recovery.
type RecoveryResult struct {
	Valid Valid `json:"valid"`
	// Actions are the nemesis actions that took effect, in order of start.
	Actions []ActionRecovery `json:"actions"`
	// MaxClientRecoveryS is the largest client_recovery_s of the actions,
	// MinRateRatio the smallest rate_ratio; nil when none had one.
	MaxClientRecoveryS *float64 `json:"max_client_recovery_s"`
	MinRateRatio       *float64 `json:"min_rate_ratio"`
	// NeverRecovered counts the actions that moved slots the clients used
	// and after which no op there was answered ok by the new owner.
	NeverRecovered int `json:"never_recovered"`
	// Note says what was missing to compute the figures, if anything.
	Note string `json:"note,omitempty"`
}

// Verdict is always True: these are figures.
func (r *RecoveryResult) Verdict() Valid { return r.Valid }

// ActionRecovery is one nemesis action's figures. Times are history times
// (ns since the run started).
type ActionRecovery struct {
	// Action is the action's number in the timeline (-1 when its records
	// have none); F the fault; Fault its description.
	Action int64  `json:"action"`
	F      string `json:"f"`
	Fault  string `json:"fault,omitempty"`
	// Start is when its inject began, Effect when it was in effect, End
	// when it was healed (Healed) or, without a heal, Effect. An action
	// with no `for` (a failover, a reshard: its inject is the whole fault)
	// ends at Effect even though the end of the run heals it.
	Start  int64 `json:"start_ns"`
	Effect int64 `json:"effect_ns"`
	End    int64 `json:"end_ns"`
	Healed bool  `json:"healed"`
	// untimed is an action with no `for`.
	untimed bool
	// Moved are the used slots whose owner changed after Start (before the
	// next action's start), with one of their keys.
	Moved []SlotMove `json:"moved,omitempty"`
	// MovedS is the time from Start until the samples showed the last of
	// them served by its new owner: how long the failover (or the move)
	// took as the cluster itself showed it; nil when no used slot moved.
	MovedS *float64 `json:"moved_s,omitempty"`
	// ClientRecoveryS is the slowest moved slot's time from the samples
	// showing its new owner serving it to the first ok op it answered
	// there (SlowestSlot); nil with Reason when there is no such figure.
	ClientRecoveryS *float64 `json:"client_recovery_s"`
	SlowestSlot     *int     `json:"slowest_slot,omitempty"`
	Reason          string   `json:"reason,omitempty"`
	// RateBefore and RateDuring are ok ops per second before and during
	// the fault, RateRatio their ratio; nil with RateReason when either
	// could not be measured.
	RateBefore *float64 `json:"rate_before,omitempty"`
	RateDuring *float64 `json:"rate_during,omitempty"`
	RateRatio  *float64 `json:"rate_ratio"`
	RateReason string   `json:"rate_reason,omitempty"`
}

// SlotMove is one used slot that changed owner.
type SlotMove struct {
	Slot int    `json:"slot"`
	Key  string `json:"key"`
	// From and To are the old and new owners' addresses (their ids where
	// no sample gave an address).
	From string `json:"from"`
	To   string `json:"to"`
	// Topology is the first sample showing To serving the slot; Wanted
	// when the clients next wanted it: Topology if an op on it was under
	// way then, else the next op's invoke (-1: none came). FirstOK is the
	// completion of the first ok op on the slot answered by To (nil:
	// none); RecoveryS the time from Wanted to FirstOK, at least 0: a
	// slot first used long after it moved does not count its idle time.
	Topology  int64    `json:"topology_ns"`
	Wanted    int64    `json:"wanted_ns"`
	FirstOK   *int64   `json:"first_ok_ns"`
	RecoveryS *float64 `json:"recovery_s"`
	// Sent counts the ops on the slot invoked from Topology on, in the
	// action's window: without any, the slot proves nothing either way.
	Sent int `json:"sent"`
}

// Check computes the figures.
func (c *Recovery) Check(_ context.Context, in *Input) Result {
	return ComputeRecovery(in)
}

// ComputeRecovery computes the recovery figures of a history and its
// topology samples.
func ComputeRecovery(in *Input) *RecoveryResult {
	res := &RecoveryResult{Valid: True, Actions: []ActionRecovery{}}
	acts := nemesisActions(in.Ops)
	if len(acts) == 0 {
		res.Note = "the nemesis recorded no action that took effect"
		return res
	}
	if len(in.Topology) == 0 {
		res.Note = "no topology samples: client_recovery_s cannot be measured"
	}
	u := newUsage(in.Operations)
	tv := &topoViews{samples: in.Topology, part: map[int][]int{}}
	for i := range acts {
		a := &acts[i]
		windowEnd := int64(math.MaxInt64)
		for _, b := range acts[i+1:] {
			if b.Start > a.Start {
				windowEnd = b.Start
				break
			}
		}
		if len(in.Topology) > 0 {
			recoverAction(a, windowEnd, u, tv)
		} else {
			a.Reason = "no topology samples"
		}
		rateOf(a, u)
		if a.ClientRecoveryS != nil && (res.MaxClientRecoveryS == nil || *a.ClientRecoveryS > *res.MaxClientRecoveryS) {
			res.MaxClientRecoveryS = ptr(*a.ClientRecoveryS)
		}
		if a.RateRatio != nil && (res.MinRateRatio == nil || *a.RateRatio < *res.MinRateRatio) {
			res.MinRateRatio = ptr(*a.RateRatio)
		}
		if a.ClientRecoveryS == nil && len(a.Moved) > 0 {
			res.NeverRecovered++
		}
	}
	res.Actions = acts
	return res
}

func ptr[T any](v T) *T { return &v }

// nemesisActions pairs the nemesis's records into actions: each inject
// that took effect, with its heal when one succeeded.
func nemesisActions(ops []history.Op) []ActionRecovery {
	var out []ActionRecovery
	open := map[string][]int{}
	for _, r := range ops {
		if r.IsClient() || r.Type == history.Invoke {
			continue
		}
		v, _ := r.Value.(map[string]any)
		key := "f:" + r.F
		act := int64(-1)
		if a, ok := history.Int(v["action"]); ok {
			act, key = a, fmt.Sprintf("a:%d", a)
		}
		if heal, _ := v["heal"].(bool); heal {
			if q := open[key]; len(q) > 0 && r.Error == "" {
				a := &out[q[0]]
				a.Healed = true
				if !a.untimed {
					a.End = r.Time
				}
				open[key] = q[1:]
			}
			continue
		}
		if r.Error != "" {
			continue // never in effect
		}
		a := ActionRecovery{Action: act, F: r.F, Start: r.Time, Effect: r.Time, End: r.Time}
		if s, ok := history.Int(v["started_ns"]); ok && s <= r.Time {
			a.Start = s
		}
		if d, ok := history.Int(v["for_ns"]); ok && d == 0 {
			// No heal before the end of the run (a failover, a reshard):
			// its heal at the end says nothing of how long it lasted.
			a.untimed = true
		}
		if f, ok := v["fault"].(string); ok {
			a.Fault = f
		}
		out = append(out, a)
		open[key] = append(open[key], len(out)-1)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// usage is the client ops as the figures need them.
type usage struct {
	bySlot map[int][]*history.Operation // completed ops, by invoke time
	okAt   []int64                      // completion times of ok ops, sorted
	first  int64                        // the first client op's invoke
}

func newUsage(ops []history.Operation) *usage {
	u := &usage{bySlot: map[int][]*history.Operation{}, first: math.MaxInt64}
	for i := range ops {
		o := &ops[i]
		u.first = min(u.first, o.Invoke.Time)
		if end(*o) < 0 {
			continue
		}
		if o.Type() == history.OK {
			u.okAt = append(u.okAt, o.Complete.Time)
		}
		if o.Invoke.Key != "" {
			s := topology.KeySlot(o.Invoke.Key)
			u.bySlot[s] = append(u.bySlot[s], o)
		}
	}
	for _, l := range u.bySlot {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Invoke.Time < l[j].Invoke.Time })
	}
	sort.Slice(u.okAt, func(i, j int) bool { return u.okAt[i] < u.okAt[j] })
	return u
}

// okIn counts the ok completions in [from, to).
func (u *usage) okIn(from, to int64) int {
	lo := sort.Search(len(u.okAt), func(i int) bool { return u.okAt[i] >= from })
	hi := sort.Search(len(u.okAt), func(i int) bool { return u.okAt[i] >= to })
	return hi - lo
}

// rateOf fills the action's rates.
func rateOf(a *ActionRecovery, u *usage) {
	if len(u.okAt) == 0 {
		a.RateReason = "no ok op in the run"
		return
	}
	from := max(a.Start-RecoveryBefore, u.first)
	switch {
	case a.Start-from < minRateSpan:
		a.RateReason = fmt.Sprintf("%.1f s of ops before it: too little to compare with", float64(a.Start-from)/1e9)
		return
	case a.End-a.Start < minRateSpan:
		a.RateReason = fmt.Sprintf("it lasted %.3f s: too short for a rate", float64(a.End-a.Start)/1e9)
		return
	}
	before := float64(u.okIn(from, a.Start)) / (float64(a.Start-from) / 1e9)
	during := float64(u.okIn(a.Start, a.End)) / (float64(a.End-a.Start) / 1e9)
	a.RateBefore, a.RateDuring = ptr(round3(before)), ptr(round3(during))
	if before == 0 {
		a.RateReason = "no ok op before it"
		return
	}
	a.RateRatio = ptr(round3(during / before))
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// topoViews answers "who owns this slot" per sample, caching each sample's
// reachable nodes.
type topoViews struct {
	samples []topology.Sample
	part    map[int][]int // sample index → indexes of its reachable nodes
}

// reachable are the nodes of sample i that answered and that most of the
// others that answered do not flag failing (all that answered, if that
// leaves none).
func (t *topoViews) reachable(i int) []int {
	if p, ok := t.part[i]; ok {
		return p
	}
	s := &t.samples[i]
	var answered []int
	for j, n := range s.Nodes {
		if n.Error == "" && n.ID != "" {
			answered = append(answered, j)
		}
	}
	var out []int
	for _, j := range answered {
		flags := 0
		for _, k := range answered {
			if k != j && contains(s.Nodes[k].Failed, s.Nodes[j].ID) {
				flags++
			}
		}
		if 2*flags <= len(answered)-1 || len(answered) == 1 {
			out = append(out, j)
		}
	}
	if len(out) == 0 {
		out = answered
	}
	t.part[i] = out
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func inRanges(rs []topology.SlotRange, slot int) bool {
	for _, r := range rs {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// owner is the id every reachable node of sample i names as slot's owner,
// or "" when they do not all agree (or none answered).
func (t *topoViews) owner(i, slot int) string {
	owner := ""
	for _, j := range t.reachable(i) {
		mine := ""
		for id, rs := range t.samples[i].Nodes[j].Owners {
			if inRanges(rs, slot) {
				mine = id
				break
			}
		}
		if mine == "" || (owner != "" && mine != owner) {
			return ""
		}
		owner = mine
	}
	return owner
}

// serving returns the address of node id in sample i if it serves slot
// there: it answered, is a master, claims the slot and says cluster_state ok.
func (t *topoViews) serving(i int, id string, slot int) (string, bool) {
	for _, n := range t.samples[i].Nodes {
		if n.ID == id {
			return n.Addr, n.Error == "" && n.Role == "master" && n.State == "ok" && inRanges(n.Slots, slot)
		}
	}
	return "", false
}

// addrOf is node id's address in the samples up to i, or id itself.
func (t *topoViews) addrOf(i int, id string) string {
	for k := min(i, len(t.samples)-1); k >= 0; k-- {
		for _, n := range t.samples[k].Nodes {
			if n.ID == id && n.Addr != "" {
				return n.Addr
			}
		}
	}
	return id
}

// recoverAction finds the used slots the action moved and how soon the
// clients were served by their new owners; the action's window for both
// ends at windowEnd (the next action's start).
func recoverAction(a *ActionRecovery, windowEnd int64, u *usage, t *topoViews) {
	samples := t.samples
	base := sort.Search(len(samples), func(i int) bool { return samples[i].Time > a.Start }) - 1
	if base < 0 {
		a.Reason = "no topology sample before it"
		return
	}
	type cand struct {
		slot int
		key  string
		from string
	}
	var cands []cand
	slots := make([]int, 0, len(u.bySlot))
	for s := range u.bySlot {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		l := u.bySlot[s]
		// Sent to during the window at all?
		k := sort.Search(len(l), func(i int) bool { return l[i].Invoke.Time >= a.Start })
		if k == len(l) || l[k].Invoke.Time >= windowEnd {
			continue
		}
		from := ""
		for i := base; i >= 0 && from == "" && base-i < 40; i-- {
			from = t.owner(i, s)
		}
		if from != "" {
			cands = append(cands, cand{slot: s, key: l[0].Invoke.Key, from: from})
		}
	}
	pending := cands
	for i := base + 1; i < len(samples) && samples[i].Time < windowEnd && len(pending) > 0; i++ {
		rest := pending[:0:0]
		for _, c := range pending {
			o := t.owner(i, c.slot)
			addr, ok := "", false
			if o != "" && o != c.from {
				addr, ok = t.serving(i, o, c.slot)
			}
			if !ok {
				rest = append(rest, c)
				continue
			}
			m := SlotMove{Slot: c.slot, Key: c.key, From: t.addrOf(base, c.from), To: addr, Topology: samples[i].Time}
			m.Wanted = -1
			for _, o := range u.bySlot[c.slot] {
				if o.Invoke.Time >= windowEnd {
					break
				}
				if o.Invoke.Time >= m.Topology {
					m.Sent++
				}
				if m.Wanted < 0 && end(*o) >= m.Topology {
					m.Wanted = max(o.Invoke.Time, m.Topology)
				}
				if m.FirstOK == nil && o.Type() == history.OK && o.Complete.Node == addr && o.Complete.Time >= a.Start {
					m.FirstOK = ptr(o.Complete.Time)
				}
			}
			if m.FirstOK != nil {
				from := m.Topology
				if m.Wanted >= 0 {
					from = m.Wanted
				}
				m.RecoveryS = ptr(round3(float64(max(*m.FirstOK-from, 0)) / 1e9))
			}
			if m.FirstOK != nil || m.Sent > 0 {
				a.Moved = append(a.Moved, m)
			}
		}
		pending = rest
	}
	if len(a.Moved) == 0 {
		a.Reason = "no slot the clients used changed owner"
		return
	}
	last := a.Moved[0].Topology
	for _, m := range a.Moved {
		last = max(last, m.Topology)
	}
	a.MovedS = ptr(round3(float64(max(last-a.Start, 0)) / 1e9))
	slowest := -1
	for j, m := range a.Moved {
		if m.RecoveryS == nil {
			a.Reason = fmt.Sprintf("slot %d (%s) moved from %s to %s at %.3f s; no op on it answered ok there afterwards (%d sent)",
				m.Slot, m.Key, m.From, m.To, float64(m.Topology)/1e9, m.Sent)
			return
		}
		if slowest < 0 || *m.RecoveryS > *a.Moved[slowest].RecoveryS {
			slowest = j
		}
	}
	a.ClientRecoveryS = ptr(*a.Moved[slowest].RecoveryS)
	a.SlowestSlot = ptr(a.Moved[slowest].Slot)
}
