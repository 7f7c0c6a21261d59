package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
)

// Slots checks slot coverage from the topology samples. The verdict is the
// final sample's, taken after the run healed and the cluster converged:
// every slot owned by exactly one master in the view of every reachable
// node, all views alike, no slot open (MIGRATING/IMPORTING), every master
// with at least Expect.Replicas replicas whose link is up (and
// Expect.Masters masters when set). Samples before it where this did not
// hold are reported as windows; they do not change the verdict.
type Slots struct{}

// Name is "slots".
func (c *Slots) Name() string { return "slots" }

// SlotsResult is results.json's checkers.slots.
type SlotsResult struct {
	Valid   Valid  `json:"valid"`
	Reason  string `json:"reason,omitempty"`
	Samples int    `json:"samples"`
	// Final is the last sample's state.
	Final *SlotsState `json:"final,omitempty"`
	// HealthySince is the time (ns) from which every sample to the end was
	// healthy; nil when the last one was not.
	HealthySince *int64 `json:"healthy_since"`
	// LastConverged is the time of the last sample in which every reachable
	// node had the same slot map; nil when none had.
	LastConverged *int64 `json:"last_converged"`
	// Windows are the spans of unhealthy samples (the first MaxListed;
	// WindowCount is exact).
	Windows     []SlotWindow `json:"windows"`
	WindowCount int          `json:"window_count"`
}

// Verdict is the result's verdict.
func (r *SlotsResult) Verdict() Valid { return r.Valid }

// SlotsState is what one sample shows.
type SlotsState struct {
	Time      int64 `json:"time"`
	Nodes     int   `json:"nodes"`
	Reachable int   `json:"reachable"`
	// Unreachable nodes did not answer; they count in no view.
	Unreachable []string `json:"unreachable,omitempty"`
	// Uncovered is the largest number of slots with no master in one
	// reachable node's view; UncoveredSlots those of the most common view.
	Uncovered      int                  `json:"uncovered"`
	UncoveredSlots []topology.SlotRange `json:"uncovered_slots,omitempty"`
	// Overlapping is the largest number of slots two masters claim in one view.
	Overlapping int `json:"overlapping"`
	// Disagreeing nodes have a slot map other than the most common one.
	Disagreeing []string `json:"disagreeing,omitempty"`
	// OpenSlots are "addr: slot N migrating to|importing from id".
	OpenSlots []string `json:"open_slots,omitempty"`
	// SplitSlots are the open slots whose keys are on both ends of the
	// migration (known only from samples that counted them).
	SplitSlots []SplitSlot `json:"split_slots,omitempty"`
	// Masters is the number of masters owning slots in the most common view.
	Masters int `json:"masters"`
	// ReplicasMissing names the masters with fewer replicas (link up) than
	// expected.
	ReplicasMissing []string `json:"replicas_missing,omitempty"`
	// StateNotOK are nodes whose cluster_state is not ok.
	StateNotOK []string `json:"state_not_ok,omitempty"`
	// Problems says all of the above in words.
	Problems []string `json:"problems,omitempty"`
}

// SplitSlot is an open slot with keys on both nodes of its migration: the
// node MIGRATING it and the node IMPORTING it both hold keys in it. In the
// middle of a migration that is normal (some keys moved, some not); left so
// at the end, the keys on the importing node are unreachable to clients,
// which the owner's MIGRATING state sends there only for keys it lacks.
type SplitSlot struct {
	Slot int `json:"slot"`
	// Migrating and Importing are the two nodes' addresses.
	Migrating string `json:"migrating"`
	Importing string `json:"importing"`
	// MigratingKeys and ImportingKeys are CLUSTER COUNTKEYSINSLOT on each.
	MigratingKeys int `json:"migrating_keys"`
	ImportingKeys int `json:"importing_keys"`
	// Both names keys present on both nodes, among the first names each
	// listed: the same key stored twice, as a MIGRATE that timed out after
	// the target restored it leaves it.
	Both []string `json:"both,omitempty"`
}

func (p SplitSlot) String() string {
	if len(p.Both) > 0 {
		return fmt.Sprintf("slot %d: %s on both %s (migrating, %s) and %s (importing, %s)",
			p.Slot, keysText(p.Both), p.Migrating, plural(p.MigratingKeys, "key"), p.Importing, plural(p.ImportingKeys, "key"))
	}
	return fmt.Sprintf("slot %d has keys on both ends of its migration: %s on %s (migrating), %s on %s (importing)",
		p.Slot, plural(p.MigratingKeys, "key"), p.Migrating, plural(p.ImportingKeys, "key"), p.Importing)
}

func keysText(keys []string) string {
	if len(keys) == 1 {
		return "key " + strconv.Quote(keys[0])
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return "keys " + strings.Join(q, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// splitSlots pairs every node MIGRATING a slot with the node it names, when
// that node has the slot IMPORTING, and keeps the pairs where both counted
// keys in it.
func splitSlots(nodes []topology.SampleNode) []SplitSlot {
	byID := map[string]*topology.SampleNode{}
	for i := range nodes {
		if n := &nodes[i]; n.Error == "" && n.ID != "" {
			byID[n.ID] = n
		}
	}
	var out []SplitSlot
	for i := range nodes {
		src := &nodes[i]
		if src.Error != "" {
			continue
		}
		for slot, id := range src.Migrating {
			dst := byID[id]
			if dst == nil || dst.Importing[slot] != src.ID {
				continue
			}
			a, aok := src.OpenSlotKeys[slot]
			b, bok := dst.OpenSlotKeys[slot]
			if !aok || !bok || a.Err != "" || b.Err != "" || a.Count == 0 || b.Count == 0 {
				continue
			}
			p := SplitSlot{Slot: slot, Migrating: src.Addr, Importing: dst.Addr, MigratingKeys: a.Count, ImportingKeys: b.Count}
			for _, k := range a.Keys {
				if slices.Contains(b.Keys, k) {
					p.Both = append(p.Both, k)
				}
			}
			sort.Strings(p.Both)
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].Migrating < out[j].Migrating
	})
	return out
}

func (s *SlotsState) healthy() bool { return len(s.Problems) == 0 }

// SlotWindow is a span of consecutive unhealthy samples: from the first
// (Start) to the first healthy one after it (End), or to the last sample
// when Open.
type SlotWindow struct {
	Start        int64    `json:"start"`
	End          int64    `json:"end"`
	Open         bool     `json:"open,omitempty"`
	Samples      int      `json:"samples"`
	MaxUncovered int      `json:"max_uncovered"`
	Overlapping  int      `json:"overlapping,omitempty"`
	Disagreeing  []string `json:"disagreeing,omitempty"`
	Unreachable  []string `json:"unreachable,omitempty"`
	OpenSlots    int      `json:"open_slots,omitempty"`
	// SplitSlots is the largest number of open slots with keys on both
	// ends of their migration at once.
	SplitSlots int      `json:"split_slots,omitempty"`
	StateNotOK []string `json:"state_not_ok,omitempty"`
	// ReplicasMissing names masters short of replicas at some point.
	ReplicasMissing []string `json:"replicas_missing,omitempty"`
}

// Check judges the samples.
func (c *Slots) Check(ctx context.Context, in *Input) Result {
	res := &SlotsResult{Samples: len(in.Topology), Windows: []SlotWindow{}}
	if len(in.Topology) == 0 {
		res.Valid, res.Reason = Unknown, "no topology samples"
		return res
	}
	ev := slotEvaluator{cache: map[string]*viewEval{}}
	var win *SlotWindow
	sets := map[string]map[string]bool{}
	closeWin := func(end int64, open bool) {
		if win == nil {
			return
		}
		win.End, win.Open = end, open
		win.Disagreeing = sortedStrings(sets["disagree"])
		win.Unreachable = sortedStrings(sets["unreachable"])
		win.StateNotOK = sortedStrings(sets["state"])
		win.ReplicasMissing = sortedStrings(sets["replicas"])
		res.WindowCount++
		res.Windows = capped(res.Windows, *win)
		win = nil
	}
	var last SlotsState
	var healthySince int64 = -1
	for i, s := range in.Topology {
		if i%256 == 0 && ctx.Err() != nil {
			res.Valid, res.Reason = Unknown, "cancelled"
			return res
		}
		st := ev.eval(s, in.Expect)
		last = st
		if st.Reachable > 0 && len(st.Disagreeing) == 0 {
			t := s.Time
			res.LastConverged = &t
		}
		if st.healthy() {
			closeWin(s.Time, false)
			if healthySince < 0 {
				healthySince = s.Time
			}
			continue
		}
		healthySince = -1
		if win == nil {
			win = &SlotWindow{Start: s.Time}
			sets = map[string]map[string]bool{"disagree": {}, "unreachable": {}, "state": {}, "replicas": {}}
		}
		win.Samples++
		win.MaxUncovered = max(win.MaxUncovered, st.Uncovered)
		win.Overlapping = max(win.Overlapping, st.Overlapping)
		win.OpenSlots = max(win.OpenSlots, len(st.OpenSlots))
		win.SplitSlots = max(win.SplitSlots, len(st.SplitSlots))
		for _, n := range st.Disagreeing {
			sets["disagree"][n] = true
		}
		for _, n := range st.Unreachable {
			sets["unreachable"][n] = true
		}
		for _, n := range st.StateNotOK {
			sets["state"][n] = true
		}
		for _, n := range st.ReplicasMissing {
			sets["replicas"][n] = true
		}
	}
	closeWin(last.Time, true)
	res.Final = &last
	if healthySince >= 0 {
		res.HealthySince = &healthySince
	}
	switch {
	case last.Reachable == 0:
		res.Valid, res.Reason = Unknown, "no node answered in the last sample"
	case last.healthy():
		res.Valid = True
	case len(last.Problems) == len(last.Unreachable):
		// The only problems are nodes that did not answer the monitor,
		// while the others agree on a sound map and flag no one failing.
		res.Valid = True
		res.Reason = "the cluster is sound but some nodes did not answer the last sample: " + strings.Join(last.Unreachable, ", ")
	default:
		res.Valid = False
		res.Reason = "last sample: " + joinReasons(last.Problems)
	}
	return res
}

// viewEval is what one slot map says, computed once per distinct map.
type viewEval struct {
	uncovered   []int
	overlapping int
	masters     []string // ids owning slots
}

type slotEvaluator struct {
	cache map[string]*viewEval
}

// fingerprint is a canonical text of a node's slot map.
func fingerprint(n *topology.SampleNode) string {
	ids := make([]string, 0, len(n.Owners))
	for id := range n.Owners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id)
		for _, r := range n.Owners[id] {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(r.Start))
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.End))
		}
		b.WriteByte(';')
	}
	return b.String()
}

// evalKey keys a view's evaluation: its slot map and whom it flags failing.
func evalKey(mapFP string, n *topology.SampleNode) string {
	if len(n.Failed) == 0 {
		return mapFP
	}
	failed := append([]string(nil), n.Failed...)
	sort.Strings(failed)
	return mapFP + "failed:" + strings.Join(failed, ",")
}

// view evaluates a node's slot map; slots of masters it flags as failing
// count as uncovered, since no one serves them.
func (ev *slotEvaluator) view(fp string, n *topology.SampleNode) *viewEval {
	if v, ok := ev.cache[fp]; ok {
		return v
	}
	failed := map[string]bool{}
	for _, id := range n.Failed {
		failed[id] = true
	}
	var count [topology.NumSlots]uint8
	v := &viewEval{}
	for id, rs := range n.Owners {
		if failed[id] {
			continue
		}
		k := 0
		for _, r := range rs {
			for s := max(r.Start, 0); s <= min(r.End, topology.NumSlots-1); s++ {
				if count[s] < 255 {
					count[s]++
				}
				k++
			}
		}
		if k > 0 {
			v.masters = append(v.masters, id)
		}
	}
	sort.Strings(v.masters)
	for s, k := range count {
		switch {
		case k == 0:
			v.uncovered = append(v.uncovered, s)
		case k > 1:
			v.overlapping++
		}
	}
	if len(ev.cache) > 256 {
		clear(ev.cache)
	}
	ev.cache[fp] = v
	return v
}

func (ev *slotEvaluator) eval(s topology.Sample, e topology.Expect) SlotsState {
	st := SlotsState{Time: s.Time, Nodes: len(s.Nodes)}
	fps := map[string]int{}
	nodeFP := make([]string, len(s.Nodes))
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Error != "" {
			st.Unreachable = append(st.Unreachable, n.Addr)
			continue
		}
		st.Reachable++
		fp := fingerprint(n)
		nodeFP[i] = fp
		fps[fp]++
		v := ev.view(evalKey(fp, n), n)
		st.Uncovered = max(st.Uncovered, len(v.uncovered))
		st.Overlapping = max(st.Overlapping, v.overlapping)
		if n.State != "" && n.State != "ok" {
			st.StateNotOK = append(st.StateNotOK, n.Addr)
		}
		for slot, id := range n.Migrating {
			st.OpenSlots = append(st.OpenSlots, fmt.Sprintf("%s: slot %d migrating to %s", n.Addr, slot, shortID(id)))
		}
		for slot, id := range n.Importing {
			st.OpenSlots = append(st.OpenSlots, fmt.Sprintf("%s: slot %d importing from %s", n.Addr, slot, shortID(id)))
		}
	}
	// The most common view; among equals, the first node's.
	common, commonNode, best := "", -1, 0
	for i, n := range s.Nodes {
		if n.Error == "" && fps[nodeFP[i]] > best {
			common, commonNode, best = nodeFP[i], i, fps[nodeFP[i]]
		}
	}
	sort.Strings(st.OpenSlots)
	st.SplitSlots = splitSlots(s.Nodes)
	for _, u := range st.Unreachable {
		st.Problems = append(st.Problems, u+" did not answer")
	}
	if st.Reachable == 0 {
		return st
	}
	for i, n := range s.Nodes {
		if n.Error == "" && nodeFP[i] != common {
			st.Disagreeing = append(st.Disagreeing, n.Addr)
		}
	}
	cv := ev.view(evalKey(common, &s.Nodes[commonNode]), &s.Nodes[commonNode])
	st.UncoveredSlots = topology.Ranges(cv.uncovered)
	if len(st.UncoveredSlots) > MaxListed {
		st.UncoveredSlots = st.UncoveredSlots[:MaxListed]
	}
	st.Masters = len(cv.masters)

	addr := map[string]string{}
	replicas := map[string]int{}
	for _, n := range s.Nodes {
		if n.Error != "" {
			continue
		}
		if n.ID != "" {
			addr[n.ID] = n.Addr
		}
		if (n.Role == "replica" || n.Role == "slave") && n.LinkStatus == "up" {
			replicas[n.MasterID]++
		}
	}
	for _, id := range cv.masters {
		if replicas[id] < e.Replicas {
			name := shortID(id)
			if a := addr[id]; a != "" {
				name = a
			}
			st.ReplicasMissing = append(st.ReplicasMissing, fmt.Sprintf("%s has %d of %d replicas with link up", name, replicas[id], e.Replicas))
		}
	}

	if st.Uncovered > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("%d slots have no master in some node's view", st.Uncovered))
	}
	if st.Overlapping > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("%d slots are claimed by two masters in some node's view", st.Overlapping))
	}
	if len(st.Disagreeing) > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("%s disagree with the other nodes on the slot map", strings.Join(st.Disagreeing, ", ")))
	}
	if len(st.OpenSlots) > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("%d open slots (%s)", len(st.OpenSlots), st.OpenSlots[0]))
	}
	for _, p := range st.SplitSlots {
		st.Problems = append(st.Problems, p.String())
	}
	if e.Masters > 0 && st.Masters != e.Masters {
		st.Problems = append(st.Problems, fmt.Sprintf("%d masters own slots, want %d", st.Masters, e.Masters))
	}
	st.Problems = append(st.Problems, st.ReplicasMissing...)
	if len(st.StateNotOK) > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("cluster_state is not ok on %s", strings.Join(st.StateNotOK, ", ")))
	}
	return st
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
