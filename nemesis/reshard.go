package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis-harness/harness/topology"
)

func reshardKinds() []Kind {
	return []Kind{
		{
			Name: "reshard",
			Doc: "move slots=N slots from the target master to another while clients run; heal waits for it (and fixes what a stopped one left open, fix=true); " +
				"migrate_timeout= sets MIGRATE's timeout (default 60s), big_key=16MB first writes a key that big into the first slot moved",
			Params:  map[string]string{"slots": "100", "fix": "true", paramMigrateTimeout: "", paramBigKey: ""},
			Targets: []string{"primary"},
			New: func(p Params) (Nemesis, error) {
				slots, err := p.int("slots")
				if err != nil {
					return nil, err
				}
				if slots == 0 {
					return nil, errors.New("slots=0: move at least one slot")
				}
				fix, err := p.bool("fix")
				if err != nil {
					return nil, err
				}
				mig, err := parseMigrateParams(p)
				if err != nil {
					return nil, err
				}
				return reshard{slots: slots, fix: fix, mig: mig}, nil
			},
		},
		{
			Name: "reshard-interrupted",
			Doc: "migrate one slot of the target master and stop before step=<step> (batch=N of migrate-batch), " +
				"then kill, pause or partition (then=) the source or the target (victim=); heal undoes that and, with fix=true, repairs the slot; " +
				"migrate_timeout= sets MIGRATE's timeout (default 10s), big_key=16MB writes a key that big into the slot; a MIGRATE that times out stops the migration there instead",
			Params: map[string]string{"step": "migrate-batch", "batch": "2", "then": "kill", "victim": "source",
				"fix": "true", "keys": "30", "pipeline": "10", "slot": "", paramMigrateTimeout: "", paramBigKey: ""},
			Targets: []string{"primary"},
			Needs: func(p Params) []topology.Ability {
				switch p["then"] {
				case "kill", "pause":
					return []topology.Ability{topology.AbilityLifecycle}
				case "partition":
					return []topology.Ability{topology.AbilityPartition}
				}
				return nil
			},
			New: newReshardInterrupted,
		},
	}
}

// reshard moves slots with Admin.Reshard, in the background: the fault is
// in effect while slots move, and its heal waits for the move to end.
type reshard struct {
	slots int
	fix   bool
	mig   migrateParams
}

func (reshard) Name() string { return "reshard" }

func (r reshard) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	from, to, _, err := migrationPair(ctx, env, target)
	if err != nil {
		return nil, fmt.Errorf("reshard: %w", err)
	}
	addrs := env.Addrs()
	// Reshard moves the source's lowest slots first: the big key goes into
	// the first of them.
	slot := -1
	if owned := topology.Expand(from.Info.Slots); len(owned) > 0 {
		slot = owned[0]
	}
	if r.mig.bigKey > 0 && slot < 0 {
		return nil, fmt.Errorf("reshard: %s lists no slots of its own to put the big key in", from.Name)
	}
	rep, err := r.mig.prepare(ctx, env, slot, from, to)
	if err != nil {
		return nil, fmt.Errorf("reshard: %w", err)
	}
	// The move outlives the run's context: stopped at the run's end it would
	// leave a slot open. Heal waits for it, or stops it on its own deadline.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &reshardFault{
		admin: env.Admin, addrs: addrs, fix: r.fix, cancel: cancel, done: make(chan struct{}),
		desc:  fmt.Sprintf("reshard %d slots from %s to %s%s", r.slots, from.Name, to.Name, rep.text()),
		nodes: []string{from.Addr, to.Addr}, mig: rep,
	}
	go func() {
		defer close(f.done)
		res, err := env.Admin.Reshard(rctx, addrs, from.Info.ID, to.Info.ID, r.slots, topology.ReshardOptions{Timeout: r.mig.timeout})
		f.mu.Lock()
		f.res, f.err = res, err
		f.mig.stopped(rctx, env.Admin, err)
		f.mu.Unlock()
		if err != nil {
			env.log().Warn("reshard stopped", "fault", f.desc, "error", err)
		}
	}()
	return f, nil
}

type reshardFault struct {
	admin  *topology.Admin
	addrs  []string
	fix    bool
	cancel context.CancelFunc
	done   chan struct{}
	desc   string
	nodes  []string

	mu     sync.Mutex
	mig    *migrateReport
	res    topology.ReshardResult
	err    error
	fixed  []string
	healed bool
}

func (f *reshardFault) String() string  { return f.desc }
func (f *reshardFault) Nodes() []string { return f.nodes }

func (f *reshardFault) Details() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]any{"moved": int64(f.res.Slots), "keys": int64(f.res.Keys)}
	if f.err != nil {
		d["reshard_error"] = f.err.Error()
	}
	if len(f.fixed) > 0 {
		d["fix"] = f.fixed
	}
	f.mig.addTo(d)
	delete(d, "migrate_error") // reshard_error says it already
	return d
}

// Heal waits for the move to end (stopping it when ctx ends first) and,
// when it stopped half way and fix is set, repairs the open slot.
func (f *reshardFault) Heal(ctx context.Context) error {
	select {
	case <-f.done:
	case <-ctx.Done():
		f.cancel()
		<-f.done
	}
	f.cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed || f.err == nil || !f.fix {
		f.healed = true
		return nil
	}
	res, err := f.admin.Fix(context.WithoutCancel(ctx), f.addrs)
	f.fixed = res.Actions
	f.mig.fixed(ctx, f.admin)
	if err != nil {
		return fmt.Errorf("heal %s (it stopped: %v): fix: %w", f.desc, f.err, err)
	}
	f.healed = true
	return nil
}

// migrationPair is the target's master (the source) and another master,
// chosen at random (the destination).
func migrationPair(ctx context.Context, env *Env, target Target) (from, to member, all []member, err error) {
	picked, all, _, err := env.pick(ctx, target, true)
	if err != nil {
		return from, to, nil, err
	}
	from = picked[0]
	if !from.Master {
		return from, to, nil, fmt.Errorf("%s (%s) owns no slots: the source must be a master with slots", from.Name, from.Addr)
	}
	var others []member
	for _, m := range all {
		if m.Info.IsMaster() && m.Name != from.Name && !m.Info.Failed(true) && m.Info.ID != "" {
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		return from, to, nil, errors.New("no other master to move slots to")
	}
	return from, env.choose(others, 1)[0], all, nil
}

// reshardInterrupted stops a slot migration between two steps of the
// protocol and then breaks the source or the target.
type reshardInterrupted struct {
	step     topology.Step
	batch    int
	then     string // kill, pause, partition, none
	victim   string // source, target
	fix      bool
	keys     int
	pipeline int
	slot     int // -1: the target's slot, or the source's lowest
	mig      migrateParams
}

func newReshardInterrupted(p Params) (Nemesis, error) {
	r := reshardInterrupted{slot: -1}
	var err error
	if r.step, err = topology.ParseStep(p.str("step")); err != nil {
		return nil, err
	}
	if r.batch, err = p.int("batch"); err != nil {
		return nil, err
	}
	r.batch = max(r.batch, 1)
	if r.then, err = p.oneOf("then", "kill", "pause", "partition", "none"); err != nil {
		return nil, err
	}
	if r.victim, err = p.oneOf("victim", "source", "target"); err != nil {
		return nil, err
	}
	if r.fix, err = p.bool("fix"); err != nil {
		return nil, err
	}
	if r.keys, err = p.int("keys"); err != nil {
		return nil, err
	}
	if r.pipeline, err = p.int("pipeline"); err != nil {
		return nil, err
	}
	if s := p.str("slot"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= topology.NumSlots {
			return nil, fmt.Errorf("slot=%q: want 0 to %d, or nothing for the source's first slot", s, topology.NumSlots-1)
		}
		r.slot = n
	}
	if r.mig, err = parseMigrateParams(p); err != nil {
		return nil, err
	}
	return r, nil
}

func (reshardInterrupted) Name() string { return "reshard-interrupted" }

// errInterrupted is what the hook returns to stop the migration.
var errInterrupted = errors.New("interrupted by the nemesis")

func (r reshardInterrupted) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	from, to, all, err := migrationPair(ctx, env, target)
	if err != nil {
		return nil, fmt.Errorf("reshard-interrupted: %w", err)
	}
	slot := r.slot
	if _, s, _ := target.parse(); slot < 0 && s >= 0 {
		slot = s
	}
	if slot < 0 {
		if len(from.Info.Slots) == 0 {
			return nil, fmt.Errorf("reshard-interrupted: %s lists no slots of its own", from.Name)
		}
		slot = from.Info.Slots[0].Start
	}
	victim := from
	if r.victim == "target" {
		victim = to
	}
	// Keys in the slot, so that MIGRATE has batches to be stopped between.
	if r.keys > 0 {
		tag := slotTag(slot)
		for i := range r.keys {
			key := fmt.Sprintf("{%s}nemesis:%d", tag, i)
			if _, err := env.Admin.Do(ctx, from.Addr, "SET", key, strconv.Itoa(i)); err != nil {
				return nil, fmt.Errorf("reshard-interrupted: seed slot %d with keys: %w", slot, err)
			}
		}
	}
	rep, err := r.mig.prepare(ctx, env, slot, from, to)
	if err != nil {
		return nil, fmt.Errorf("reshard-interrupted: seed slot %d: %w", slot, err)
	}
	f := &interruptedFault{env: env, fix: r.fix, nodes: []string{from.Addr, to.Addr}, mig: rep}
	where := r.step.String()
	if r.step == topology.MigrateBatch {
		where = fmt.Sprintf("%s #%d", where, r.batch)
	}
	f.desc = fmt.Sprintf("migration of slot %d from %s to %s%s stopped before %s, then %s %s %s", slot, from.Name, to.Name, rep.text(), where, r.then, r.victim, victim.Name)
	batches := 0
	hook := func(ctx context.Context, s int, step topology.Step) error {
		if step != r.step {
			return nil
		}
		if step == topology.MigrateBatch {
			if batches++; batches < r.batch {
				return nil
			}
		}
		f.mu.Lock()
		f.mig.stopped(ctx, env.Admin, nil) // before the victim breaks: it may not answer after
		f.mu.Unlock()
		fault, err := r.breakNode(ctx, env, victim, all)
		if err != nil {
			return fmt.Errorf("then %s %s: %w", r.then, victim.Name, err)
		}
		f.victim = fault
		return errInterrupted
	}
	timeout := 10 * time.Second
	if r.mig.timeout > 0 {
		timeout = r.mig.timeout
	}
	opts := topology.ReshardOptions{Hook: hook, Pipeline: r.pipeline, Timeout: timeout}
	keys, err := env.Admin.MigrateSlot(ctx, env.Addrs(), slot, from.Info.ID, to.Info.ID, opts)
	f.keys = keys
	switch {
	case errors.Is(err, errInterrupted):
		return f, nil
	case errors.Is(err, topology.ErrMigrateTimeout):
		// The timeout stopped the migration before the chosen step: that is
		// the interruption, with the slot as MIGRATE left it; the victim is
		// broken as asked all the same.
		f.mu.Lock()
		f.mig.stopped(ctx, env.Admin, err)
		f.desc = fmt.Sprintf("migration of slot %d from %s to %s%s stopped by a MIGRATE timeout (before %s), then %s %s %s", slot, from.Name, to.Name, rep.text(), where, r.then, r.victim, victim.Name)
		f.mu.Unlock()
		fault, berr := r.breakNode(ctx, env, victim, all)
		if berr == nil {
			f.victim = fault
			return f, nil
		}
		err = fmt.Errorf("%w; then %s %s: %v", err, r.then, victim.Name, berr)
	case err == nil:
		return nil, fmt.Errorf("reshard-interrupted: the migration of slot %d (%d keys) ended before %s: nothing was interrupted (more keys=, or a lower batch=)", slot, keys, where)
	}
	if herr := f.Heal(context.WithoutCancel(ctx)); herr != nil {
		err = fmt.Errorf("%w (undoing it: %v)", err, herr)
	}
	return nil, fmt.Errorf("reshard-interrupted: %w", err)
}

// breakNode does the "then" part to the victim.
func (r reshardInterrupted) breakNode(ctx context.Context, env *Env, victim member, all []member) (Fault, error) {
	switch r.then {
	case "kill", "pause":
		lc, err := env.lifecycle("reshard-interrupted then=" + r.then)
		if err != nil {
			return nil, err
		}
		act, undo := lc.Kill, lc.Restart
		if r.then == "pause" {
			act, undo = lc.Pause, lc.Resume
		}
		return doOnNodes(ctx, r.then, r.then+" "+victim.Name, []topology.Node{victim.Node},
			// The cluster as it is at each call: a membership fault may
			// change it meanwhile.
			func(ctx context.Context, n topology.Node) error { return act(ctx, env.cluster(), n.Name) },
			func(ctx context.Context, n topology.Node) error { return undo(ctx, env.cluster(), n.Name) })
	case "partition":
		net, err := env.network("reshard-interrupted then=partition")
		if err != nil {
			return nil, err
		}
		in, out := []string{victim.Name}, names(without(all, []member{victim}))
		cuts := append(complete(in, out), complete(out, in)...)
		c := env.cluster()
		if err := net.Partition(ctx, c, cuts); err != nil {
			net.Unpartition(context.WithoutCancel(ctx), c, cuts)
			return nil, err
		}
		return &partitionFault{net: net, env: env, cuts: cuts, desc: "isolate " + victim.Name, nodes: []string{victim.Addr}}, nil
	}
	return nil, nil
}

type interruptedFault struct {
	env    *Env
	fix    bool
	desc   string
	nodes  []string
	keys   int
	victim Fault

	mu     sync.Mutex
	mig    *migrateReport
	fixed  []string
	healed bool
}

func (f *interruptedFault) String() string  { return f.desc }
func (f *interruptedFault) Nodes() []string { return f.nodes }

func (f *interruptedFault) Details() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]any{"keys_moved": int64(f.keys), "fix": f.fix}
	if f.fixed != nil {
		d["fixed"] = f.fixed
	}
	f.mig.addTo(d)
	return d
}

// Heal undoes what broke the victim and, with fix, repairs the slot (the
// slot is otherwise left open, for the checkers to see).
func (f *interruptedFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	if f.victim != nil {
		if err := f.victim.Heal(ctx); err != nil {
			return fmt.Errorf("heal %s: %w", f.desc, err)
		}
	}
	if f.fix {
		res, err := f.env.Admin.Fix(ctx, f.env.Addrs())
		f.fixed = append([]string{}, res.Actions...)
		f.mig.fixed(ctx, f.env.Admin)
		if err != nil {
			return fmt.Errorf("heal %s: fix: %w", f.desc, err)
		}
	}
	f.healed = true
	return nil
}

// slotTag is a hash tag whose keys fall in slot.
func slotTag(slot int) string {
	for i := 0; ; i++ {
		tag := "rh" + strconv.Itoa(i)
		if topology.KeySlot(tag) == slot {
			return tag
		}
	}
}
