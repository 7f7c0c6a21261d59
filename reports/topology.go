package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// roleSpan is what a node was from T on, until its next span: its role
// (master, replica, or unreachable when it did not answer the monitor),
// its master's address when a replica, its config epoch, and whether
// most other nodes flagged it failing (PFAIL/FAIL).
type roleSpan struct {
	T       int64
	Role    string
	Master  string
	Epoch   int64
	Failing bool
}

func (r roleSpan) same(o roleSpan) bool {
	return r.Role == o.Role && r.Master == o.Master && r.Epoch == o.Epoch && r.Failing == o.Failing
}

// ownerSpan is who claimed a slot from T on: the masters whose own slot
// list had it, as "addr (epoch N)", joined; empty when none did.
type ownerSpan struct {
	T      int64
	Owners []string
}

// coveragePoint is how many slots had a live master at T: in the view most
// nodes shared (Common) and in the worst reachable node's view (Worst).
type coveragePoint struct {
	T             int64
	Common, Worst int
}

// maxCoverage bounds the coverage series: past twice this, neighbours merge
// keeping the lower values, so that no dip is hidden.
const maxCoverage = 1000

// topoScan is what one pass over topology.jsonl found.
type topoScan struct {
	Samples     int
	First, Last *history.Sample
	// Lanes are every node's role spans, by address; Addrs the addresses
	// in natural order.
	Lanes    map[string][]roleSpan
	Addrs    []string
	Coverage []coveragePoint
	// owners follows the slots the explanations ask about.
	owners  map[int][]ownerSpan
	Warning string
	Missing bool
}

// scanTopology streams dir/topology.jsonl; wantSlots are the slots whose
// owners the explanations need.
func scanTopology(dir string, wantSlots map[int]bool) (*topoScan, error) {
	t := &topoScan{Lanes: map[string][]roleSpan{}, owners: map[int][]ownerSpan{}}
	path := filepath.Join(dir, checker.TopologyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Missing = true
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	defer f.Close()
	warning, err := checker.ScanTopology(f, func(s *history.Sample) error {
		t.add(s, wantSlots)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if warning != "" {
		t.Warning = checker.TopologyFile + ": " + warning
	}
	for addr, spans := range t.Lanes {
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].T < spans[j].T })
		t.Addrs = append(t.Addrs, addr)
	}
	sort.Slice(t.Addrs, func(i, j int) bool { return naturalLess(t.Addrs[i], t.Addrs[j]) })
	for _, spans := range t.owners {
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].T < spans[j].T })
	}
	return t, nil
}

func (t *topoScan) add(s *history.Sample, wantSlots map[int]bool) {
	t.Samples++
	if t.First == nil {
		t.First = s
	}
	if t.Last == nil || s.Time >= t.Last.Time {
		t.Last = s
	}
	addrOf := map[string]string{}
	flags := map[string]int{}
	reachable := 0
	for _, n := range s.Nodes {
		if n.Error == "" && n.ID != "" {
			addrOf[n.ID] = n.Addr
			reachable++
		}
	}
	for _, n := range s.Nodes {
		if n.Error != "" {
			continue
		}
		for _, id := range n.Failed {
			if id != n.ID {
				flags[id]++
			}
		}
	}
	// A node is failing when most of the others that answered flag it: a
	// node cut off from the rest flags everyone, and is alone in that.
	failing := func(id string) bool { return id != "" && 2*flags[id] > reachable-1 }
	var covered []int
	for _, n := range s.Nodes {
		span := roleSpan{T: s.Time, Role: "unreachable"}
		if n.Error == "" {
			span = roleSpan{T: s.Time, Role: normRole(n.Role), Epoch: n.Epoch, Failing: failing(n.ID)}
			if span.Role == "replica" {
				span.Master = nameOf(n.MasterID, addrOf)
			}
			covered = append(covered, liveSlots(&n))
		}
		spans := t.Lanes[n.Addr]
		if len(spans) == 0 || !spans[len(spans)-1].same(span) {
			t.Lanes[n.Addr] = append(spans, span)
		}
	}
	t.addCoverage(s.Time, covered)
	for slot := range wantSlots {
		var owners []string
		for _, n := range s.Nodes {
			if n.Error != "" || normRole(n.Role) != "master" || !inRanges(slot, n.Slots) {
				continue
			}
			owners = append(owners, fmt.Sprintf("%s (epoch %d)", n.Addr, n.Epoch))
		}
		sort.Strings(owners)
		spans := t.owners[slot]
		if len(spans) == 0 || strings.Join(spans[len(spans)-1].Owners, ",") != strings.Join(owners, ",") {
			t.owners[slot] = append(spans, ownerSpan{T: s.Time, Owners: owners})
		}
	}
}

func (t *topoScan) addCoverage(at int64, covered []int) {
	p := coveragePoint{T: at}
	if len(covered) > 0 {
		count := map[int]int{}
		p.Worst = covered[0]
		best := 0
		for _, c := range covered {
			count[c]++
			p.Worst = min(p.Worst, c)
		}
		for _, c := range covered { // the first of the most common, for determinism
			if count[c] > best {
				p.Common, best = c, count[c]
			}
		}
	}
	t.Coverage = append(t.Coverage, p)
	if len(t.Coverage) >= 2*maxCoverage {
		n := len(t.Coverage) / 2
		for i := 0; i < n; i++ {
			a, b := t.Coverage[2*i], t.Coverage[2*i+1]
			t.Coverage[i] = coveragePoint{T: a.T, Common: min(a.Common, b.Common), Worst: min(a.Worst, b.Worst)}
		}
		t.Coverage = t.Coverage[:n]
	}
}

func normRole(r string) string {
	switch r {
	case "slave":
		return "replica"
	case "":
		return "unknown"
	}
	return r
}

func nameOf(id string, addrOf map[string]string) string {
	if a := addrOf[id]; a != "" {
		return a
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// liveSlots is how many slots a node's view gives a master it does not
// flag failing.
func liveSlots(n *history.SampleNode) int {
	failed := map[string]bool{}
	for _, id := range n.Failed {
		failed[id] = true
	}
	var rs []history.SlotRange
	for id, owned := range n.Owners {
		if !failed[id] {
			rs = append(rs, owned...)
		}
	}
	return unionLen(rs)
}

func unionLen(rs []history.SlotRange) int {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	total, end := 0, -1
	for _, r := range rs {
		lo, hi := max(r.Start, end+1, 0), min(r.End, history.NumSlots-1)
		if hi >= lo {
			total += hi - lo + 1
		}
		end = max(end, r.End)
	}
	return total
}

func inRanges(slot int, rs []history.SlotRange) bool {
	for _, r := range rs {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// roleAt is what addr was at time at, by the last sample at or before it;
// ok is false when no sample of addr came before at.
func (t *topoScan) roleAt(addr string, at int64) (roleSpan, bool) {
	spans := t.Lanes[addr]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].T > at })
	if i == 0 {
		return roleSpan{}, false
	}
	return spans[i-1], true
}

// ownersAt is who claimed slot at time at.
func (t *topoScan) ownersAt(slot int, at int64) (ownerSpan, bool) {
	spans := t.owners[slot]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].T > at })
	if i == 0 {
		return ownerSpan{}, false
	}
	return spans[i-1], true
}

// ownerChanges are the changes of slot's claimants in (from, to].
func (t *topoScan) ownerChanges(slot int, from, to int64) []ownerSpan {
	var out []ownerSpan
	for _, s := range t.owners[slot] {
		if s.T > from && s.T <= to {
			out = append(out, s)
		}
	}
	return out
}

// naturalLess orders strings with their digit runs compared as numbers, so
// that 127.0.0.9 comes before 127.0.0.10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseUint(da, 10, 64)
			nb, _ := strconv.ParseUint(db, 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
