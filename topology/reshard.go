package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// Step is one step of the slot migration protocol. The constants are in
// protocol order; a Hook sees them in that order for every slot.
type Step int

const (
	// SetImporting is CLUSTER SETSLOT <slot> IMPORTING <source> on the target.
	SetImporting Step = iota
	// SetMigrating is CLUSTER SETSLOT <slot> MIGRATING <target> on the source.
	SetMigrating
	// MigrateBatch is one CLUSTER GETKEYSINSLOT on the source followed by a
	// MIGRATE … KEYS of the keys it returned. It repeats until GETKEYSINSLOT
	// returns none, so a slot of k keys has ceil(k/Pipeline)+1 of them.
	MigrateBatch
	// SetNodeTarget is CLUSTER SETSLOT <slot> NODE <target> on the target:
	// it closes the import and bumps the target's config epoch.
	SetNodeTarget
	// SetNodeSource is CLUSTER SETSLOT <slot> NODE <target> on the source.
	SetNodeSource
	// SetNodeOthers is CLUSTER SETSLOT <slot> NODE <target> on every other master.
	SetNodeOthers
)

var stepNames = [...]string{"set-importing", "set-migrating", "migrate-batch", "set-node-target", "set-node-source", "set-node-others"}

// String names the step as scenario files and messages spell it.
func (s Step) String() string {
	if s < 0 || int(s) >= len(stepNames) {
		return fmt.Sprintf("step(%d)", int(s))
	}
	return stepNames[s]
}

// Steps lists every step in protocol order.
func Steps() []Step {
	return []Step{SetImporting, SetMigrating, MigrateBatch, SetNodeTarget, SetNodeSource, SetNodeOthers}
}

// ParseStep reads a step's name ("migrate-batch"…).
func ParseStep(name string) (Step, error) {
	for i, n := range stepNames {
		if strings.EqualFold(n, name) {
			return Step(i), nil
		}
	}
	return 0, fmt.Errorf("step %q: want one of %s", name, strings.Join(stepNames[:], ", "))
}

// ReshardOptions tunes slot migrations. Zero values mean defaults.
type ReshardOptions struct {
	// Pipeline is the number of keys per GETKEYSINSLOT and MIGRATE (default 10).
	Pipeline int
	// Timeout is MIGRATE's timeout (default 60 s, as redis-cli).
	Timeout time.Duration
	// Replace lets MIGRATE overwrite keys that already exist on the target
	// (BUSYKEY) with the source's values. Without it, as in redis-cli, a
	// BUSYKEY is retried with REPLACE only when both copies are identical,
	// and is an error otherwise.
	Replace bool
	// Hook, if set, runs before every step of every slot (before each
	// MigrateBatch too). A non-nil error stops the migration right there,
	// leaving the slot as the steps before left it, and is returned wrapped
	// (errors.Is finds it). Stopped before SetMigrating through
	// SetNodeSource, the slot is open and check reports it; before
	// SetImporting nothing has changed; before SetNodeOthers the slot is
	// closed on both ends and the other masters learn of it by gossip.
	Hook func(ctx context.Context, slot int, step Step) error
	// Warn, if set, receives what went wrong without stopping the migration
	// (a master other than source and target that could not be told the new
	// owner: it learns by gossip).
	Warn func(msg string)
}

func (o ReshardOptions) withDefaults() ReshardOptions {
	if o.Pipeline <= 0 {
		o.Pipeline = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	return o
}

// ReshardResult is what a reshard did.
type ReshardResult struct {
	// From and To are the source's and the target's full node ids.
	From string `json:"from"`
	To   string `json:"to"`
	// Slots is the number of slots moved, Moved which ones.
	Slots int         `json:"slots"`
	Moved []SlotRange `json:"moved"`
	// Keys is the number of keys MIGRATE moved.
	Keys int `json:"keys"`
	// Duration is how long the reshard ran.
	Duration time.Duration `json:"duration_ns"`
	// Warnings are problems that did not stop the reshard.
	Warnings []string `json:"warnings,omitempty"`
}

// Reshard moves slots slots from one master to another, the lowest-numbered
// ones the source owns, one slot at a time with the migration protocol (see
// Step). fromID and toID are node ids, unique id prefixes or addresses. It
// refuses to start while any slot is open (run Fix first), as redis-cli
// does. On error the result says what was moved before it.
func (a *Admin) Reshard(ctx context.Context, addrs []string, fromID, toID string, slots int, opts ReshardOptions) (ReshardResult, error) {
	start := time.Now()
	res := ReshardResult{}
	s := a.Snapshot(ctx, addrs)
	from, to, err := movePair(s, fromID, toID)
	if err != nil {
		return res, fmt.Errorf("reshard: %w", err)
	}
	res.From, res.To = from.ID, to.ID
	if slots <= 0 {
		return res, fmt.Errorf("reshard: %d slots: want at least 1", slots)
	}
	owned := Expand(from.Slots)
	if len(owned) < slots {
		return res, fmt.Errorf("reshard: source %s owns %d slots, fewer than the %d asked", nodeText(from), len(owned), slots)
	}
	if err := noOpenSlots(s); err != nil {
		return res, fmt.Errorf("reshard: %w", err)
	}
	m := a.newMigrator(opts)
	defer m.close()
	others := otherMasters(s, from.ID, to.ID)
	var moved []int
	done := func(err error) (ReshardResult, error) {
		if err == nil && len(moved) > 0 {
			m.settle(ctx, a, addrs)
		}
		res.Slots, res.Moved = len(moved), Ranges(moved)
		res.Warnings, res.Duration = m.warnings, time.Since(start)
		if err != nil {
			return res, fmt.Errorf("reshard %s to %s: %w", nodeText(from), nodeText(to), err)
		}
		return res, nil
	}
	for _, slot := range owned[:slots] {
		k, err := m.move(ctx, slot, from, to, others)
		res.Keys += k
		if err != nil {
			return done(err)
		}
		moved = append(moved, slot)
	}
	return done(nil)
}

// settleWithin bounds waiting, after slots moved, until every node's view
// agrees: replicas and far masters learn owners by gossip, and an operator
// who runs check right after a reshard should not see a disagreement.
const settleWithin = 10 * time.Second

// settle waits until no reachable node disagrees with the majority on slot
// owners; a timeout becomes a warning, not an error: the move itself is done.
func (m *migrator) settle(ctx context.Context, a *Admin, addrs []string) {
	wctx, cancel := context.WithTimeout(ctx, settleWithin)
	defer cancel()
	err := wait.Poll(wctx, 50*time.Millisecond, func() (bool, string, error) {
		for _, p := range a.Snapshot(wctx, addrs).Problems(Expect{}) {
			if p.Kind == "disagree" {
				return false, p.Detail, nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		m.warn("nodes still disagree on slot owners after %s: %v", settleWithin, err)
	}
}

// MigrateSlot moves one slot from one master to another with the migration
// protocol and returns the number of keys moved. Unlike Reshard it accepts a
// slot that is already open between the same two nodes, which it resumes.
func (a *Admin) MigrateSlot(ctx context.Context, addrs []string, slot int, fromID, toID string, opts ReshardOptions) (keys int, err error) {
	if slot < 0 || slot >= NumSlots {
		return 0, fmt.Errorf("migrate slot %d: want 0 to %d", slot, NumSlots-1)
	}
	s := a.Snapshot(ctx, addrs)
	from, to, err := movePair(s, fromID, toID)
	if err != nil {
		return 0, fmt.Errorf("migrate slot %d: %w", slot, err)
	}
	if !ownsSlot(from, slot) {
		return 0, fmt.Errorf("migrate slot %d: source %s does not own it (the majority says %s)", slot, nodeText(from), ownerText(s, s.Owners()[slot]))
	}
	m := a.newMigrator(opts)
	defer m.close()
	keys, err = m.move(ctx, slot, from, to, otherMasters(s, from.ID, to.ID))
	if err != nil {
		return keys, fmt.Errorf("migrate slot %d from %s to %s: %w", slot, nodeText(from), nodeText(to), err)
	}
	return keys, nil
}

// movePair resolves and checks the source and target of a migration. Both
// come from their own views, which must be reachable.
func movePair(s *Snapshot, fromRef, toRef string) (from, to NodeInfo, err error) {
	if from, err = s.Resolve(fromRef); err != nil {
		return from, to, fmt.Errorf("source: %w", err)
	}
	if to, err = s.Resolve(toRef); err != nil {
		return from, to, fmt.Errorf("target: %w", err)
	}
	if from.ID == to.ID {
		return from, to, fmt.Errorf("source and target are the same node, %s", nodeText(from))
	}
	if from, err = masterSelf(s, "source", from); err != nil {
		return from, to, err
	}
	if to, err = masterSelf(s, "target", to); err != nil {
		return from, to, err
	}
	return from, to, nil
}

// masterSelf returns n as its own view describes it, which must be
// reachable and say master.
func masterSelf(s *Snapshot, what string, n NodeInfo) (NodeInfo, error) {
	self, ok := selfOf(s, n.ID)
	switch {
	case !ok:
		return n, fmt.Errorf("%s %s cannot be reached: %s", what, nodeText(n), viewErr(s, n.Addr))
	case self.IsReplica():
		return self, fmt.Errorf("%s %s is a replica (of %s), not a master", what, nodeText(self), ownerText(s, self.MasterID))
	case !self.IsMaster():
		return self, fmt.Errorf("%s %s is not a master (flags %s)", what, nodeText(self), strings.Join(self.Flags, ","))
	}
	return self, nil
}

// Resolve finds a member by full id, address, or unique id prefix.
func (s *Snapshot) Resolve(ref string) (NodeInfo, error) {
	if ref == "" {
		return NodeInfo{}, errors.New("no node id given")
	}
	members := s.Members()
	for _, m := range members {
		if m.ID == ref {
			return m, nil
		}
	}
	for _, m := range members {
		if m.Addr == ref {
			return m, nil
		}
	}
	var found []NodeInfo
	for _, m := range members {
		if strings.HasPrefix(m.ID, strings.ToLower(ref)) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if len(s.Reachable()) == 0 {
			return NodeInfo{}, fmt.Errorf("unknown node %q: no node of the cluster could be read", ref)
		}
		return NodeInfo{}, fmt.Errorf("unknown node %q: no member has that id, id prefix or address (harness cluster status lists them)", ref)
	}
	var ids []string
	for _, m := range found {
		ids = append(ids, m.ID)
	}
	return NodeInfo{}, fmt.Errorf("node id prefix %q is ambiguous: %s", ref, strings.Join(ids, ", "))
}

// selfOf returns the node's own line, with the address it was reached at.
func selfOf(s *Snapshot, id string) (NodeInfo, bool) {
	for _, v := range s.Reachable() {
		if self, ok := v.Self(); ok && self.ID == id {
			self.Addr = v.Addr
			return self, true
		}
	}
	return NodeInfo{}, false
}

func viewErr(s *Snapshot, addr string) string {
	if v := s.View(addr); v != nil && v.Err != "" {
		return v.Err
	}
	return "it is not among the addresses asked"
}

func nodeText(n NodeInfo) string {
	if n.Addr == "" {
		return short(n.ID)
	}
	return fmt.Sprintf("%s (%s)", n.Addr, short(n.ID))
}

func ownsSlot(n NodeInfo, slot int) bool {
	for _, r := range n.Slots {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// noOpenSlots refuses to move slots while a migration is half done.
func noOpenSlots(s *Snapshot) error {
	var open []string
	for _, p := range s.Problems(Expect{}) {
		if p.Kind == "open-slot" {
			open = append(open, p.Detail)
		}
	}
	if len(open) == 0 {
		return nil
	}
	return fmt.Errorf("%d open slots (%s): close them first with harness cluster fix", len(open), strings.Join(open[:min(len(open), 3)], "; "))
}

// otherMasters lists the masters other than the given ones, as the snapshot
// knows them, leaving out those without an address or flagged failed.
func otherMasters(s *Snapshot, except ...string) []NodeInfo {
	var out []NodeInfo
	for _, m := range s.Members() {
		if !m.IsMaster() || m.Addr == "" || m.Failed(false) || slices.Contains(except, m.ID) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// migrator runs migrations. MIGRATE blocks for up to its own timeout, longer
// than the Admin's command timeout, so it goes through connections of its own.
type migrator struct {
	a    *Admin
	opts ReshardOptions

	mu       sync.Mutex
	clients  map[string]*redis.Client
	warnings []string
	skip     map[string]bool // masters that failed SETSLOT NODE once
}

func (a *Admin) newMigrator(opts ReshardOptions) *migrator {
	return &migrator{a: a, opts: opts.withDefaults(), clients: map[string]*redis.Client{}, skip: map[string]bool{}}
}

func (m *migrator) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.clients {
		c.Close()
	}
	m.clients = nil
}

func (m *migrator) client(addr string) *redis.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[addr]; ok {
		return c
	}
	t := m.a.Timeout
	if t == 0 {
		t = 3 * time.Second
	}
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: t, ReadTimeout: m.opts.Timeout + t, WriteTimeout: t,
		MaxRetries: -1, PoolSize: 2, Protocol: 2,
	})
	m.clients[addr] = c
	return c
}

func (m *migrator) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.mu.Lock()
	m.warnings = append(m.warnings, msg)
	m.mu.Unlock()
	if m.opts.Warn != nil {
		m.opts.Warn(msg)
	}
}

func (m *migrator) hook(ctx context.Context, slot int, step Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	if m.opts.Hook == nil {
		return nil
	}
	if err := m.opts.Hook(ctx, slot, step); err != nil {
		return fmt.Errorf("stopped before %s: %w", step, err)
	}
	return nil
}

// move runs the whole protocol for one slot.
func (m *migrator) move(ctx context.Context, slot int, from, to NodeInfo, others []NodeInfo) (keys int, err error) {
	step := func(st Step, addr string, args ...any) error {
		if err := m.hook(ctx, slot, st); err != nil {
			return fmt.Errorf("slot %d: %w", slot, err)
		}
		if _, err := m.a.Do(ctx, addr, args...); err != nil {
			return fmt.Errorf("slot %d: %s: %w", slot, st, err)
		}
		return nil
	}
	if err := step(SetImporting, to.Addr, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.ID); err != nil {
		return 0, err
	}
	if err := step(SetMigrating, from.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.ID); err != nil {
		return 0, err
	}
	keys, err = m.drain(ctx, slot, from.Addr, to, true)
	if err != nil {
		return keys, fmt.Errorf("slot %d: %w", slot, err)
	}
	// The target first: once it owns the slot (and has bumped its epoch), the
	// source's ASK redirections and then its MOVED ones both lead there.
	if err := step(SetNodeTarget, to.Addr, "CLUSTER", "SETSLOT", slot, "NODE", to.ID); err != nil {
		return keys, err
	}
	if err := step(SetNodeSource, from.Addr, "CLUSTER", "SETSLOT", slot, "NODE", to.ID); err != nil {
		return keys, err
	}
	if err := m.hook(ctx, slot, SetNodeOthers); err != nil {
		return keys, fmt.Errorf("slot %d: %w", slot, err)
	}
	m.tellOwner(ctx, slot, to, others)
	return keys, nil
}

// tellOwner sends SETSLOT NODE to the given masters. Failures only warn:
// the new owner's bumped epoch reaches them by gossip anyway. A master that
// failed once is not asked again during this operation, so that a node cut
// off by a partition costs one timeout, not one per slot.
func (m *migrator) tellOwner(ctx context.Context, slot int, owner NodeInfo, masters []NodeInfo) {
	m.mu.Lock()
	var ask []NodeInfo
	for _, n := range masters {
		if !m.skip[n.ID] {
			ask = append(ask, n)
		}
	}
	m.mu.Unlock()
	errs := make([]error, len(ask))
	wait.Parallel(len(ask), func(i int) error {
		_, errs[i] = m.a.Do(ctx, ask[i].Addr, "CLUSTER", "SETSLOT", slot, "NODE", owner.ID)
		return nil
	})
	for i, err := range errs {
		if err != nil {
			m.mu.Lock()
			m.skip[ask[i].ID] = true
			m.mu.Unlock()
			m.warn("slot %d: could not tell %s that %s owns it, nor will for the next slots (it learns by gossip): %v", slot, nodeText(ask[i]), nodeText(owner), err)
		}
	}
}

// drain moves every key of slot from the node at src to dst, in batches of
// Pipeline keys, until GETKEYSINSLOT finds none. The slot must be open on
// src (or owned by it) and dst must own or import it. hooked runs the Hook
// before each batch.
func (m *migrator) drain(ctx context.Context, slot int, src string, dst NodeInfo, hooked bool) (int, error) {
	keys := 0
	for {
		if hooked {
			if err := m.hook(ctx, slot, MigrateBatch); err != nil {
				return keys, err
			}
		} else if err := ctx.Err(); err != nil {
			return keys, err
		}
		v, err := m.a.Do(ctx, src, "CLUSTER", "GETKEYSINSLOT", slot, m.opts.Pipeline)
		if err != nil {
			return keys, fmt.Errorf("%s: %w", MigrateBatch, err)
		}
		batch := toStrings(v)
		if len(batch) == 0 {
			return keys, nil
		}
		n, err := m.migrate(ctx, slot, src, dst, batch)
		keys += n
		if err != nil {
			return keys, fmt.Errorf("%s: %w", MigrateBatch, err)
		}
	}
}

// migrate moves one batch with MIGRATE … KEYS, handling BUSYKEY as redis-cli
// does: REPLACE when asked for, or when source and target hold the same value.
func (m *migrator) migrate(ctx context.Context, slot int, src string, dst NodeInfo, keys []string) (int, error) {
	host, port, err := splitHostPort(dst.Addr)
	if err != nil {
		return 0, err
	}
	run := func(replace bool) error {
		args := []any{"MIGRATE", host, port, "", 0, m.opts.Timeout.Milliseconds()}
		if replace {
			args = append(args, "REPLACE")
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		if err := m.client(src).Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("%s MIGRATE %d keys of slot %d to %s: %w", src, len(keys), slot, dst.Addr, err)
		}
		return nil
	}
	err = run(m.opts.Replace)
	switch {
	case err == nil:
		return len(keys), nil
	case strings.Contains(err.Error(), "NOKEY"):
		return 0, nil // deleted or expired since GETKEYSINSLOT
	case migrateTimedOut(err):
		return 0, fmt.Errorf("%w (timeout %s): %w; the source kept the keys, and the target may have restored them all the same, leaving them on both nodes", ErrMigrateTimeout, m.opts.Timeout, err)
	case !strings.Contains(err.Error(), "BUSYKEY") || m.opts.Replace:
		return 0, err
	}
	differ, cerr := m.differing(ctx, src, dst.Addr, keys)
	if cerr != nil {
		return 0, fmt.Errorf("%w; comparing the copies on both nodes failed: %v", err, cerr)
	}
	if len(differ) > 0 {
		return 0, fmt.Errorf("%s of slot %d exist on both %s and %s with different values (%s): fix them by hand, or migrate with Replace to keep the source's values",
			plural(len(differ), "key"), slot, src, dst.Addr, strings.Join(differ[:min(len(differ), 5)], ", "))
	}
	if err := run(true); err != nil && !strings.Contains(err.Error(), "NOKEY") {
		return 0, err
	}
	return len(keys), nil
}

// ErrMigrateTimeout marks a MIGRATE that did not hear back from the target
// in time: Redis's IOERR ("error or timeout reading/writing to target
// instance"), or no reply from the source at all within MIGRATE's timeout.
// The source keeps the keys, but the target may have received and restored
// them, so the migration stops there with the slot open and keys possibly on
// both nodes (redis#1616, #1765); it is never retried, as redis-cli does not.
var ErrMigrateTimeout = errors.New("MIGRATE timed out")

// migrateTimedOut tells the errors that mean MIGRATE's outcome on the target
// is unknown: the source's IOERR, or our own read of its reply timing out.
func migrateTimedOut(err error) bool {
	if strings.Contains(err.Error(), "IOERR") {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// differing lists the keys whose DUMP differs between the two nodes, among
// those present on both. DUMP, not DEBUG DIGEST-VALUE as redis-cli uses,
// because Redis 7 disables DEBUG by default; equal payloads mean equal values.
func (m *migrator) differing(ctx context.Context, src, dst string, keys []string) ([]string, error) {
	// dump returns each key's payload, "" where the node does not have it
	// (nil, or a redirection: the source answers ASK for keys it has sent).
	dump := func(addr string, asking bool) ([]string, error) {
		pipe := m.a.Client(addr).Pipeline()
		cmds := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			if asking { // the target serves an importing slot only after ASKING
				pipe.Do(ctx, "ASKING")
			}
			cmds[i] = pipe.Do(ctx, "DUMP", k)
		}
		pipe.Exec(ctx) // errors are per command, below
		out := make([]string, len(keys))
		for i, c := range cmds {
			v, err := c.Text()
			switch {
			case err == nil:
				out[i] = v
			case errors.Is(err, redis.Nil), strings.HasPrefix(err.Error(), "ASK "), strings.HasPrefix(err.Error(), "MOVED "):
			default:
				return nil, fmt.Errorf("%s DUMP %s: %w", addr, keys[i], err)
			}
		}
		return out, nil
	}
	a, err := dump(src, false)
	if err != nil {
		return nil, err
	}
	b, err := dump(dst, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, k := range keys {
		if a[i] != "" && b[i] != "" && a[i] != b[i] {
			out = append(out, k)
		}
	}
	return out, nil
}

// HoldsKey reports whether the node at addr stores key, whatever the state
// of its slot there: ASKING first, so that a node importing the slot answers
// for it; a redirection (MOVED, or ASK from a node migrating the slot) means
// the node does not have it.
func (a *Admin) HoldsKey(ctx context.Context, addr, key string) (bool, error) {
	pipe := a.Client(addr).Pipeline()
	pipe.Do(ctx, "ASKING")
	exists := pipe.Exists(ctx, key)
	pipe.Exec(ctx) // errors are per command, below
	n, err := exists.Result()
	switch {
	case err == nil:
		return n > 0, nil
	case strings.HasPrefix(err.Error(), "ASK "), strings.HasPrefix(err.Error(), "MOVED "):
		return false, nil
	}
	return false, fmt.Errorf("%s EXISTS %s: %w", addr, key, err)
}

// countKeys runs CLUSTER COUNTKEYSINSLOT on the node at addr.
func (a *Admin) countKeys(ctx context.Context, addr string, slot int) (int, error) {
	v, err := a.Do(ctx, addr, "CLUSTER", "COUNTKEYSINSLOT", slot)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s CLUSTER COUNTKEYSINSLOT %d: want an integer, got %T", addr, slot, v)
	}
	return int(n), nil
}

// plural is "1 slot", "2 slots".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
