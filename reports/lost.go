package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// lostRow is one lost element as a checker names it: the add that wrote it
// and, when the add's outcome was unknown, the earlier read that saw it.
type lostRow struct {
	key  string
	elem any
	add  *checker.OpRef
	seen *checker.OpRef
}

// lostStory is lost elements that share one explanation: the same key, the
// same node acknowledging them in the same role, the same slot owners and
// faults. A partition that cuts a master off loses every write it
// acknowledged alone, and the page says so once rather than per element.
type lostStory struct {
	key         string
	slot        int
	node        string
	role        roleSpan
	roleOK      bool
	owners      ownerSpan
	ownersOK    bool
	faults      []string
	rows        []lostRow
	first, last int64 // when the node acknowledged (or a read saw) them
}

// at is when the row's element is known to have been stored, and by which
// node: its acknowledgement, or the read that saw it.
func (r lostRow) at() (int64, string) {
	if r.add != nil && r.add.Type == "ok" {
		return r.add.End, r.add.Node
	}
	if r.seen != nil {
		return r.seen.End, r.seen.Node
	}
	if r.add != nil {
		return r.add.End, r.add.Node
	}
	return -1, ""
}

func (e *explainer) stories(rows []lostRow) []*lostStory {
	var out []*lostStory
	bySig := map[string]*lostStory{}
	for i, r := range rows {
		at, node := r.at()
		st := &lostStory{key: r.key, slot: history.KeySlot(r.key), node: node, faults: e.faultsAt(at), first: at, last: at}
		if e.t != nil && node != "" {
			st.role, st.roleOK = e.t.roleAt(node, at)
		}
		if e.t != nil {
			st.owners, st.ownersOK = e.t.ownersAt(st.slot, at)
		}
		sig := fmt.Sprintf("%s\x00%s\x00%v%d\x00%v%d\x00%s", r.key, node, st.roleOK, st.role.T, st.ownersOK, st.owners.T, strings.Join(st.faults, ";"))
		if r.seen != nil || r.add == nil || r.add.Type != "ok" {
			sig = fmt.Sprintf("row %d", i) // told alone: its proof is another read
		}
		if g, ok := bySig[sig]; ok {
			g.rows = append(g.rows, r)
			g.first, g.last = min(g.first, at), max(g.last, at)
			continue
		}
		st.rows = []lostRow{r}
		bySig[sig] = st
		out = append(out, st)
	}
	return out
}

// lostEvidence explains the lost elements, grouped into stories, and lists
// them all in a table.
func (e *explainer) lostEvidence(s *section, rows []lostRow, count int) {
	st := e.stories(rows)
	for i, g := range st {
		if i == maxExplained {
			s.Notes = append(s.Notes, fmt.Sprintf("%d of %d groups of lost elements are explained; the table lists every element results.json names.", maxExplained, len(st)))
			break
		}
		s.Explanations = append(s.Explanations, e.explainStory(g))
	}
	s.Tables = append(s.Tables, e.lostTable("Lost elements", rows, listedNote(len(rows), count, "lost")))
}

// event is something that happened to the cluster after the writes.
type event struct {
	t        int64
	text     string
	failover bool
}

// eventsAfter are the changes of node's role and of slot's owners in
// (from, to], in time order.
func (e *explainer) eventsAfter(node string, slot int, from, to int64) []event {
	var out []event
	if e.t == nil {
		return nil
	}
	spans := e.t.Lanes[node]
	for i := 1; i < len(spans); i++ {
		s, prev := spans[i], spans[i-1]
		if s.T <= from || s.T > to {
			continue
		}
		switch {
		case s.Role != prev.Role || s.Master != prev.Master:
			out = append(out, event{t: s.T, text: fmt.Sprintf("%s became %s", node, describeRole(s)), failover: prev.Role == "master" && s.Role == "replica"})
		case s.Failing && !prev.Failing:
			out = append(out, event{t: s.T, text: fmt.Sprintf("other nodes flagged %s failing (PFAIL/FAIL)", node)})
		case !s.Failing && prev.Failing:
			out = append(out, event{t: s.T, text: fmt.Sprintf("no node flagged %s failing any more", node)})
		case s.Epoch != prev.Epoch:
			out = append(out, event{t: s.T, text: fmt.Sprintf("%s's config epoch became %d", node, s.Epoch)})
		}
	}
	var before []string
	if o, ok := e.t.ownersAt(slot, from); ok {
		before = o.Owners
	}
	for _, o := range e.t.owners[slot] {
		if o.T <= from || o.T > to {
			continue
		}
		switch {
		case len(o.Owners) == 0:
			out = append(out, event{t: o.T, text: fmt.Sprintf("no master claimed slot %d", slot)})
		default:
			moved := !contains(before, o.Owners)
			out = append(out, event{t: o.T, text: fmt.Sprintf("slot %d was claimed by %s", slot, strings.Join(o.Owners, " and ")), failover: moved})
		}
		before = o.Owners
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out
}

// contains is true when every one of now was among before: no new master.
func contains(before, now []string) bool {
	for _, n := range now {
		found := false
		for _, b := range before {
			if b == n {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (e *explainer) explainStory(g *lostStory) explanation {
	n := len(g.rows)
	key := cut(g.key, 80)
	var elems []string
	for _, r := range g.rows {
		elems = append(elems, compactJSON(r.elem, 40))
	}
	x := explanation{}
	if n == 1 {
		x.Title = fmt.Sprintf("Element %s of %s (slot %d) was lost", elems[0], key, g.slot)
	} else {
		x.Title = fmt.Sprintf("%d elements of %s (slot %d) were lost: %s", n, key, g.slot, strings.Join(capList(elems, 12), ", "))
	}
	line := func(format string, a ...any) { x.Lines = append(x.Lines, fmt.Sprintf(format, a...)) }
	who := nonEmpty(g.node, "a node the history does not name")

	r0 := g.rows[0]
	switch {
	case r0.add == nil:
		line("The checker names no write of it.")
	case n == 1 && r0.add.Type == "ok":
		line("Process %d wrote it: record #%d, invoked at %s; %s acknowledged it (ok) at %s.", r0.add.Process, r0.add.Index, ts(r0.add.Time), who, ts(r0.add.End))
	case n == 1:
		line("Process %d wrote it: record #%d, invoked at %s, outcome %s at %s%s.", r0.add.Process, r0.add.Index, ts(r0.add.Time), r0.add.Type, ts(r0.add.End), errSuffix(r0.add.Error))
		if r0.seen != nil {
			line("Read record #%d by process %d saw it at %s%s, before the final read began: so it was written.", r0.seen.Index, r0.seen.Process, ts(r0.seen.End), onNode(r0.seen.Node))
		}
	default:
		procs := map[int]bool{}
		var ids []int
		for _, r := range g.rows {
			if !procs[r.add.Process] {
				procs[r.add.Process] = true
				ids = append(ids, r.add.Process)
			}
		}
		sort.Ints(ids)
		var ps []string
		for _, id := range ids {
			ps = append(ps, num(id))
		}
		line("%s acknowledged their writes (ok) between %s and %s: records #%d to #%d, by process%s %s.", who, ts(g.first), ts(g.last),
			g.rows[0].add.Index, g.rows[n-1].add.Index, map[bool]string{true: "", false: "es"}[len(ps) == 1], strings.Join(capList(ps, 8), ", "))
	}

	if g.node != "" && e.t != nil && e.t.Samples > 0 {
		when := "At " + ts(g.first)
		if n > 1 {
			when = "Throughout"
		}
		if g.roleOK {
			line("%s, %s was %s, as the topology samples show from %s on.", when, g.node, describeRole(g.role), ts(g.role.T))
		} else {
			line("%s is %s.", g.node, e.role(g.node, g.first))
		}
	}
	if g.ownersOK {
		switch len(g.owners.Owners) {
		case 0:
			line("No master claimed slot %d then.", g.slot)
		case 1:
			line("Slot %d was served by %s.", g.slot, g.owners.Owners[0])
		default:
			line("Slot %d was claimed by %s at once: two masters accepted writes for it.", g.slot, strings.Join(g.owners.Owners, " and "))
		}
	}
	if len(g.faults) > 0 {
		line("In effect then: %s.", strings.Join(g.faults, "; "))
	} else if len(e.faults) > 0 {
		line("No fault was in effect then.")
	}

	fr := e.h.finals[g.key]
	until := e.h.end
	if fr != nil {
		until = fr.Ref.Time
	}
	if fs := e.faultsBetween(g.last, until); len(fs) > 0 {
		line("Faults that began before the final read: %s.", strings.Join(capList(fs, 4), "; "))
	}
	if e.t != nil && e.t.Samples > 0 {
		evs := e.eventsAfter(g.node, g.slot, g.first, until)
		failover := false
		var texts []string
		for i, ev := range evs {
			if i == 8 {
				texts = append(texts, fmt.Sprintf("%d more changes", len(evs)-8))
				break
			}
			texts = append(texts, fmt.Sprintf("at %s %s", ts(ev.t), ev.text))
			failover = failover || ev.failover
		}
		if len(texts) > 0 {
			line("Then %s.", strings.Join(texts, "; "))
		} else {
			line("No change of %s's role and no new master of slot %d appear in the topology samples between then and the final read.", nonEmpty(g.node, "the node"), g.slot)
		}
		if failover && r0.add != nil && r0.add.Type == "ok" {
			line("A failover: Redis replicates asynchronously, so writes a master acknowledged and had not passed to the replica that took its place are gone once the old master rejoins as a replica.")
		}
	}
	if fr != nil {
		r := fr.Ref
		without := "without " + elems[0]
		if n > 1 {
			without = fmt.Sprintf("none of these %d", n)
		}
		line("The final read of %s, record #%d by process %d, invoked at %s and answered (ok) at %s%s, returned %s, %s.",
			key, r.Index, r.Process, ts(r.Time), ts(r.End), onNode(r.Node), plural(fr.N, "element", "elements"), without)
	} else {
		line("The final read of the key is not in history.jsonl.")
	}
	return x
}
