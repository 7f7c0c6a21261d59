package topology

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// fixSettle bounds how long Fix waits for the nodes to agree after its actions.
const fixSettle = 15 * time.Second

// FixResult is what Fix did and what it left.
type FixResult struct {
	// Actions are the repairs made, one sentence each, in order.
	Actions []string `json:"actions"`
	// Warnings are problems met on the way that did not stop the fix.
	Warnings []string `json:"warnings,omitempty"`
	// Remaining are the problems still seen at the end (Expect{}: the
	// invariants only); a fix does not create replicas or heal nodes.
	Remaining []Problem `json:"remaining"`
}

// Fix repairs what `cluster check` finds and redis-cli --cluster fix
// repairs: open slots and uncovered slots.
//
// An open slot (MIGRATING or IMPORTING somewhere) goes to the node its keys
// say: the owner if it has keys; else the node with most keys (so a slot
// whose keys all reached the importing node goes to it); else the owner, or
// a node that was migrating it. Keys elsewhere are migrated to that node,
// which then owns the slot (with a bumped epoch where it took it over), and
// every other master is closed with SETSLOT NODE and STABLE, so nothing
// stays open. One state is an exception: a migration stopped between
// SETSLOT MIGRATING and SETSLOT NODE (the owner MIGRATING to a node
// IMPORTING from it, no one else involved) is finished, as redis-cli does in
// that case, even when both ends hold keys: it is the one repair during
// which clients find every key.
//
// An uncovered slot goes to the only master with keys in it, to the one
// with most keys (the others' keys migrated to it), or, with no keys
// anywhere, to the master with fewest slots. A slot that cannot be fixed
// (its owner unreachable…) does not stop the others.
//
// Then Fix waits (at most 15 s) until the nodes agree and no slot is open or
// uncovered; the error says what remains when they do not.
func (a *Admin) Fix(ctx context.Context, addrs []string) (FixResult, error) {
	res := FixResult{Actions: []string{}, Remaining: []Problem{}}
	f := &fixer{a: a, m: a.newMigrator(ReshardOptions{}), res: &res}
	defer f.m.close()
	done := func(err error) (FixResult, error) {
		res.Warnings = append(res.Warnings, f.m.warnings...)
		return res, err
	}
	s := a.Snapshot(ctx, addrs)
	if len(s.Reachable()) == 0 {
		return done(fmt.Errorf("fix: no node could be read:%s", ProblemsText(s.Problems(Expect{}), 5)))
	}
	// A slot that cannot be fixed does not stop the others: a heal after a
	// fault wants as much repaired as can be.
	// Uncovered slots first: until every slot has an owner the nodes say
	// cluster_state:fail and refuse MIGRATE.
	var errs []error
	var uncovered []int
	for slot, id := range s.Owners() {
		if id == "" {
			uncovered = append(uncovered, slot)
		}
	}
	if len(uncovered) > 0 {
		if err := f.uncovered(ctx, s, uncovered); err != nil {
			errs = append(errs, fmt.Errorf("uncovered slots: %w", err))
		}
		s = a.Snapshot(ctx, addrs)
	}
	for _, slot := range openSlots(s) {
		if err := f.openSlot(ctx, s, slot); err != nil {
			errs = append(errs, fmt.Errorf("open slot %d: %w", slot, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		res.Remaining = a.Snapshot(ctx, addrs).Problems(Expect{})
		return done(fmt.Errorf("fix: %w", err))
	}

	wctx, cancel := context.WithTimeout(ctx, fixSettle)
	defer cancel()
	err := wait.Poll(wctx, 50*time.Millisecond, func() (bool, string, error) {
		left := fixable(a.Snapshot(wctx, addrs).Problems(Expect{}))
		return len(left) == 0, ProblemsText(left, 8), nil
	})
	if last := a.Snapshot(ctx, addrs).Problems(Expect{}); last != nil {
		res.Remaining = last
	}
	if err != nil {
		return done(fmt.Errorf("fix: the nodes do not agree after %s: %w", fixSettle, err))
	}
	return done(nil)
}

// fixable keeps the problems Fix is about.
func fixable(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		switch p.Kind {
		case "open-slot", "uncovered", "disagree":
			out = append(out, p)
		}
	}
	return out
}

type fixer struct {
	a   *Admin
	m   *migrator
	res *FixResult
}

func (f *fixer) act(format string, args ...any) {
	f.res.Actions = append(f.res.Actions, fmt.Sprintf(format, args...))
}

// openSlots lists the slots some reachable node has MIGRATING or IMPORTING.
func openSlots(s *Snapshot) []int {
	set := map[int]bool{}
	for _, v := range s.Reachable() {
		if self, ok := v.Self(); ok {
			for slot := range self.Migrating {
				set[slot] = true
			}
			for slot := range self.Importing {
				set[slot] = true
			}
		}
	}
	return sortedKeys(set)
}

// reachableMasters are the masters as their own views describe them, with
// the address they were reached at.
func reachableMasters(s *Snapshot) []NodeInfo {
	var out []NodeInfo
	seen := map[string]bool{}
	for _, v := range s.Reachable() {
		if self, ok := v.Self(); ok && self.IsMaster() && !seen[self.ID] {
			seen[self.ID] = true
			self.Addr = v.Addr
			out = append(out, self)
		}
	}
	return out
}

func findNode(nodes []NodeInfo, id string) (NodeInfo, bool) {
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// countAll counts the slot's keys on every master.
func (f *fixer) countAll(ctx context.Context, masters []NodeInfo, slot int) (map[string]int, error) {
	counts := make([]int, len(masters))
	err := wait.Parallel(len(masters), func(i int) (err error) {
		counts[i], err = f.a.countKeys(ctx, masters[i].Addr, slot)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for i, m := range masters {
		out[m.ID] = counts[i]
	}
	return out, nil
}

// holders lists the masters with keys, most keys first (ties by id).
func holders(masters []NodeInfo, counts map[string]int) []NodeInfo {
	var out []NodeInfo
	for _, m := range masters {
		if counts[m.ID] > 0 {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if counts[out[i].ID] != counts[out[j].ID] {
			return counts[out[i].ID] > counts[out[j].ID]
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// openSlot decides who owns slot and closes it everywhere.
func (f *fixer) openSlot(ctx context.Context, s *Snapshot, slot int) error {
	masters := reachableMasters(s)
	cfg := s.Owners()[slot]
	if cfg != "" {
		if _, ok := findNode(masters, cfg); !ok {
			return fmt.Errorf("its owner %s cannot be read as a master, so its keys cannot be counted: heal it or fail it over first", ownerText(s, cfg))
		}
	}
	counts, err := f.countAll(ctx, masters, slot)
	if err != nil {
		return err
	}
	var owner NodeInfo
	var why string
	hs := holders(masters, counts)
	src, dst, interrupted := interruptedMigration(masters, counts, slot)
	switch {
	case interrupted:
		owner = dst
		why = fmt.Sprintf("a migration from %s was interrupted with %s left on the source and %d moved; finishing it keeps every key reachable by clients throughout",
			nodeText(src), plural(counts[src.ID], "key"), counts[dst.ID])
	case cfg != "" && counts[cfg] > 0:
		owner, _ = findNode(masters, cfg)
		why = fmt.Sprintf("it owns the slot and holds %s of it", plural(counts[cfg], "key"))
	case len(hs) > 0:
		owner = hs[0]
		why = fmt.Sprintf("it holds %s of it, the most", plural(counts[owner.ID], "key"))
		if cfg != "" {
			why += fmt.Sprintf("; the owner %s has none", ownerText(s, cfg))
		}
	case cfg != "":
		owner, _ = findNode(masters, cfg)
		why = "it owns the slot and no node has keys in it"
	default:
		owner, why = fewestSlots(s, masters), "no node owns the slot or has keys in it, and it has fewest slots"
		for _, m := range masters {
			if m.Migrating[slot] != "" {
				owner, why = m, "it was migrating the slot, and no node owns it or has keys in it"
				break
			}
		}
	}
	if owner.ID == "" {
		return errors.New("no reachable master to own it")
	}
	f.act("slot %d is open (%s): it goes to %s: %s", slot, openText(s, masters, slot), nodeText(owner), why)
	return f.settle(ctx, s, slot, owner, masters, counts)
}

// interruptedMigration recognises the state a migration leaves when stopped
// between SETSLOT MIGRATING and SETSLOT NODE: src owns the slot and migrates
// it to dst, dst imports it from src, and no other master has it open or
// holds its keys. Finishing the migration is the one repair that never
// hides a key from clients: src keeps answering for the keys it has and
// redirects (ASK) for the others, as during any migration. Moving keys back
// instead needs MIGRATING cleared on src first (a MIGRATING node answers
// RESTORE with ASK), and until they are back clients would not find the
// keys still on dst.
func interruptedMigration(masters []NodeInfo, counts map[string]int, slot int) (src, dst NodeInfo, ok bool) {
	for _, m := range masters {
		if to := m.Migrating[slot]; to != "" && ownsSlot(m, slot) {
			if t, found := findNode(masters, to); found && t.Importing[slot] == m.ID {
				src, dst, ok = m, t, true
			}
		}
	}
	if !ok {
		return src, dst, false
	}
	for _, m := range masters {
		if m.ID == src.ID || m.ID == dst.ID {
			continue
		}
		if counts[m.ID] > 0 || m.Migrating[slot] != "" || m.Importing[slot] != "" {
			return src, dst, false
		}
	}
	return src, dst, true
}

// openText describes where slot is open.
func openText(s *Snapshot, masters []NodeInfo, slot int) string {
	var parts []string
	for _, m := range masters {
		if to := m.Migrating[slot]; to != "" {
			parts = append(parts, fmt.Sprintf("MIGRATING on %s to %s", m.Addr, ownerText(s, to)))
		}
		if from := m.Importing[slot]; from != "" {
			parts = append(parts, fmt.Sprintf("IMPORTING on %s from %s", m.Addr, ownerText(s, from)))
		}
	}
	return strings.Join(parts, ", ")
}

// fewestSlots is the master owning the fewest slots in the majority's view.
func fewestSlots(s *Snapshot, masters []NodeInfo) NodeInfo {
	n := map[string]int{}
	for _, id := range s.Owners() {
		n[id]++
	}
	var best NodeInfo
	for _, m := range masters {
		if best.ID == "" || n[m.ID] < n[best.ID] || n[m.ID] == n[best.ID] && m.ID < best.ID {
			best = m
		}
	}
	return best
}

// settle makes owner the only node with the slot and its keys, with no
// node left MIGRATING or IMPORTING it. Keys move while the slot is still open
// on their node; the owner takes the slot before the others give it up.
func (f *fixer) settle(ctx context.Context, s *Snapshot, slot int, owner NodeInfo, masters []NodeInfo, counts map[string]int) error {
	open := func(n NodeInfo) bool { return n.Migrating[slot] != "" || n.Importing[slot] != "" }
	bump, claimed := false, false
	// The owner must accept MIGRATE's RESTORE-ASKING: own or import the
	// slot, and not migrate it (a MIGRATING node answers ASK for keys it
	// does not have, RESTORE included).
	if owner.Migrating[slot] != "" {
		if _, err := f.a.Do(ctx, owner.Addr, "CLUSTER", "SETSLOT", slot, "STABLE"); err != nil {
			return err
		}
		f.act("closed slot %d on %s (SETSLOT STABLE), which keeps it", slot, nodeText(owner))
		owner.Migrating = nil
	}
	if !ownsSlot(owner, slot) && owner.Importing[slot] == "" {
		if err := f.a.claimSlots(ctx, owner.Addr, []int{slot}); err != nil {
			return err
		}
		f.act("assigned slot %d to %s (ADDSLOTS, new config epoch)", slot, nodeText(owner))
		owner.Slots = append(owner.Slots, SlotRange{Start: slot, End: slot})
		owner.Importing = nil
		claimed = true
	}
	for _, n := range masters {
		if n.ID == owner.ID || counts[n.ID] == 0 {
			continue
		}
		if !open(n) {
			if err := f.openFor(ctx, slot, n, owner); err != nil {
				return err
			}
		}
		k, err := f.drain(ctx, slot, n, owner)
		if err != nil {
			return fmt.Errorf("move its keys from %s to %s: %w", nodeText(n), nodeText(owner), err)
		}
		f.act("moved %s of slot %d from %s to %s", plural(k, "key"), slot, nodeText(n), nodeText(owner))
	}
	if owner.Importing[slot] != "" {
		// SETSLOT NODE to itself closes the import and bumps its epoch.
		if _, err := f.a.Do(ctx, owner.Addr, "CLUSTER", "SETSLOT", slot, "NODE", owner.ID); err != nil {
			return err
		}
		f.act("%s took slot %d over (SETSLOT NODE on itself, new config epoch)", nodeText(owner), slot)
		claimed = true
	} else if !claimed {
		bump = s.Owners()[slot] != owner.ID
	}
	var rest []NodeInfo
	for _, n := range masters {
		if n.ID == owner.ID {
			continue
		}
		if !open(n) && !ownsSlot(n, slot) && counts[n.ID] == 0 {
			rest = append(rest, n)
			continue
		}
		if ownsSlot(n, slot) && !claimed {
			bump = true // it claimed the slot: the owner's epoch must win
		}
		if err := f.handOver(ctx, slot, n, owner); err != nil {
			return err
		}
	}
	if bump {
		if _, err := f.a.Do(ctx, owner.Addr, "CLUSTER", "BUMPEPOCH"); err != nil {
			return err
		}
	}
	f.m.tellOwner(ctx, slot, owner, rest)
	return nil
}

// handOver closes slot on n in favour of owner (SETSLOT NODE, which clears
// MIGRATING, then STABLE, which clears IMPORTING), and moves any keys that
// reached n meanwhile.
func (f *fixer) handOver(ctx context.Context, slot int, n, owner NodeInfo) error {
	setNode := func() error {
		_, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "NODE", owner.ID)
		return err
	}
	err := setNode()
	if err != nil && strings.Contains(err.Error(), "still hold keys") {
		// Written since the drain, while n still owned the slot.
		if _, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", owner.ID); err != nil {
			return err
		}
		if _, err := f.drain(ctx, slot, n, owner); err != nil {
			return err
		}
		err = setNode()
	}
	if err != nil {
		return err
	}
	if _, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "STABLE"); err != nil {
		return err
	}
	f.act("closed slot %d on %s (SETSLOT NODE %s, SETSLOT STABLE)", slot, nodeText(n), short(owner.ID))
	left, err := f.a.countKeys(ctx, n.Addr, slot)
	if err != nil || left == 0 {
		return err
	}
	n.Slots = nil // it gave the slot up above
	if err := f.openFor(ctx, slot, n, owner); err != nil {
		return err
	}
	k, err := f.drain(ctx, slot, n, owner)
	if err != nil {
		return err
	}
	if _, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "STABLE"); err != nil {
		return err
	}
	f.act("moved %s more of slot %d from %s to %s", plural(k, "key"), slot, nodeText(n), nodeText(owner))
	return nil
}

// openFor opens slot on n so that MIGRATE can send its keys to owner: a
// node migrates only keys of a slot it owns or has open. If n owns the slot
// it migrates it to owner (new keys go to owner by ASK); otherwise it learns
// that owner has the slot (a node redirects, MIGRATE included, while it
// thinks no one has it) and imports it from owner, which lets no client in,
// since owner does not migrate the slot to n.
func (f *fixer) openFor(ctx context.Context, slot int, n, owner NodeInfo) error {
	if ownsSlot(n, slot) {
		_, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", owner.ID)
		return err
	}
	if _, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "NODE", owner.ID); err != nil {
		return err
	}
	_, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "IMPORTING", owner.ID)
	return err
}

// claimSlots makes the node at addr the owner of slots in its own view and
// bumps its config epoch so that its claim wins over any older one, as
// redis-cli's fix does (DELSLOTS, ADDSLOTS, SETSLOT STABLE, BUMPEPOCH).
func (a *Admin) claimSlots(ctx context.Context, addr string, slots []int) error {
	pipe := a.Client(addr).Pipeline()
	var adds []interface{ Err() error }
	for _, slot := range slots {
		pipe.Do(ctx, "CLUSTER", "DELSLOTS", slot) // "already unassigned" is fine
		adds = append(adds, pipe.Do(ctx, "CLUSTER", "ADDSLOTS", slot), pipe.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE"))
	}
	bump := pipe.Do(ctx, "CLUSTER", "BUMPEPOCH")
	pipe.Exec(ctx)
	for _, c := range append(adds, bump) {
		if err := c.Err(); err != nil {
			return fmt.Errorf("%s: claim %d slots (%s): %w", addr, len(slots), rangesText(Ranges(slots), 4), err)
		}
	}
	return nil
}

// uncovered assigns the slots no master owns.
func (f *fixer) uncovered(ctx context.Context, s *Snapshot, slots []int) error {
	masters := reachableMasters(s)
	if len(masters) == 0 {
		return errors.New("no reachable master to assign them to")
	}
	for _, m := range s.Members() {
		if _, ok := findNode(masters, m.ID); !ok && m.IsMaster() && !m.Failed(false) {
			f.m.warn("master %s cannot be read: keys it may hold in the %d uncovered slots are not counted", nodeText(m), len(slots))
		}
	}
	// Count every uncovered slot's keys on every master, one pipeline each.
	counts := make([][]int, len(masters))
	err := wait.Parallel(len(masters), func(i int) error {
		pipe := f.a.Client(masters[i].Addr).Pipeline()
		cmds := make([]interface{ Val() any }, len(slots))
		for j, slot := range slots {
			cmds[j] = pipe.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", slot)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("%s: count keys in %d slots: %w", masters[i].Addr, len(slots), err)
		}
		counts[i] = make([]int, len(slots))
		for j, c := range cmds {
			v, _ := c.Val().(int64)
			counts[i][j] = int(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	owned := map[string]int{}
	for _, id := range s.Owners() {
		owned[id]++
	}
	empty := map[string][]int{}  // master id → slots no one has keys in
	single := map[string][]int{} // master id → slots only it has keys in
	var multi []int
	for j, slot := range slots {
		var with []int
		for i := range masters {
			if counts[i][j] > 0 {
				with = append(with, i)
			}
		}
		switch len(with) {
		case 0:
			best := 0
			for i, m := range masters {
				if owned[m.ID] < owned[masters[best].ID] || owned[m.ID] == owned[masters[best].ID] && m.ID < masters[best].ID {
					best = i
				}
			}
			owned[masters[best].ID]++
			empty[masters[best].ID] = append(empty[masters[best].ID], slot)
		case 1:
			single[masters[with[0]].ID] = append(single[masters[with[0]].ID], slot)
		default:
			multi = append(multi, j)
		}
	}
	for _, m := range masters {
		if sl := empty[m.ID]; len(sl) > 0 {
			if err := f.a.claimSlots(ctx, m.Addr, sl); err != nil {
				return err
			}
			f.act("assigned %s with no keys (%s) to %s, the master with fewest slots", plural(len(sl), "uncovered slot"), rangesText(Ranges(sl), 6), nodeText(m))
		}
		if sl := single[m.ID]; len(sl) > 0 {
			if err := f.a.claimSlots(ctx, m.Addr, sl); err != nil {
				return err
			}
			f.act("assigned %s (%s) to %s, the only master with keys in them", plural(len(sl), "uncovered slot"), rangesText(Ranges(sl), 6), nodeText(m))
		}
	}
	// Slots whose keys are spread: claim them all before moving any key,
	// since a node refuses MIGRATE (CLUSTERDOWN) while it sees any slot
	// uncovered, and it sees none only once every claim has reached it.
	owners := make([]NodeInfo, len(multi))
	perSlot := make([]map[string]int, len(multi))
	for x, j := range multi {
		perSlot[x] = map[string]int{}
		for i, m := range masters {
			perSlot[x][m.ID] = counts[i][j]
		}
		owners[x] = holders(masters, perSlot[x])[0]
		if err := f.a.claimSlots(ctx, owners[x].Addr, []int{slots[j]}); err != nil {
			return err
		}
		f.act("assigned uncovered slot %d to %s, which holds %s of it, the most", slots[j], nodeText(owners[x]), plural(perSlot[x][owners[x].ID], "key"))
	}
	for x, j := range multi {
		slot, owner := slots[j], owners[x]
		for _, n := range masters {
			if n.ID == owner.ID || perSlot[x][n.ID] == 0 {
				continue
			}
			if err := f.openFor(ctx, slot, n, owner); err != nil {
				return err
			}
			k, err := f.drain(ctx, slot, n, owner)
			if err != nil {
				return fmt.Errorf("slot %d: move keys from %s to %s: %w", slot, nodeText(n), nodeText(owner), err)
			}
			if _, err := f.a.Do(ctx, n.Addr, "CLUSTER", "SETSLOT", slot, "STABLE"); err != nil {
				return err
			}
			f.act("moved %s of slot %d from %s to %s", plural(k, "key"), slot, nodeText(n), nodeText(owner))
		}
	}
	return nil
}

// drain moves the slot's keys from n to owner. A node that still sees a
// slot uncovered answers MIGRATE (and the RESTORE it sends) with
// CLUSTERDOWN: both ends get time to hear of the new owners, and one more try.
func (f *fixer) drain(ctx context.Context, slot int, n, owner NodeInfo) (int, error) {
	k, err := f.m.drain(ctx, slot, n.Addr, owner, false)
	if err == nil || !strings.Contains(err.Error(), "CLUSTERDOWN") {
		return k, err
	}
	for _, addr := range []string{n.Addr, owner.Addr} {
		if werr := f.a.waitStateOK(ctx, addr); werr != nil {
			return k, fmt.Errorf("%w (%v)", err, werr)
		}
	}
	more, err := f.m.drain(ctx, slot, n.Addr, owner, false)
	return k + more, err
}

// waitStateOK waits (at most 10 s) until the node at addr says
// cluster_state:ok: before, it answers every keyed command, MIGRATE
// included, with CLUSTERDOWN.
func (a *Admin) waitStateOK(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		text, err := a.DoText(ctx, addr, "CLUSTER", "INFO")
		if err != nil {
			return false, err.Error(), nil
		}
		ci, err := ParseClusterInfo(text)
		if err != nil {
			return false, err.Error(), nil
		}
		return ci.State == "ok", fmt.Sprintf("%s says cluster_state:%s, and refuses MIGRATE until it is ok", addr, ci.State), nil
	})
}
