package nemesis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis-harness/harness/topology"
)

// The disk faults: a node killed, its data files damaged while it is down,
// and restarted after a short while — by default within the cluster's node
// timeout, so that a master comes back as master before any failover and
// serves what its damaged files still hold.
//
// They need lifecycle and disk: Validate asks the backend (CanFault) before
// the run whether it can reach the nodes' data files here.

func diskKinds() []Kind {
	return []Kind{{
		Name:    "kill-lose-aof-tail",
		Doc:     "kill -9 the target, cut the last bytes off its newest AOF file (what fsync everysec/no loses in a power cut), restart it after down",
		Params:  map[string]string{"bytes": "65536", "down": "1s"},
		Targets: []string{"primary", "one", "replica"},
		Needs:   needs(topology.AbilityLifecycle, topology.AbilityDisk),
		Backend: true,
		New: func(p Params) (Nemesis, error) {
			b, err := p.int("bytes")
			if err != nil {
				return nil, err
			}
			if b == 0 {
				return nil, fmt.Errorf("bytes=0: want the number of bytes to cut, > 0")
			}
			down, err := p.duration("down")
			if err != nil {
				return nil, err
			}
			return diskNemesis{name: "kill-lose-aof-tail", bytes: int64(b), down: down}, nil
		},
	}, {
		Name:    "kill-wipe",
		Doc:     "kill -9 the target, remove its AOF and RDB (nodes.conf kept: same node id), restart it after down with an empty dataset",
		Params:  map[string]string{"down": "1s"},
		Targets: []string{"primary", "one", "replica"},
		Needs:   needs(topology.AbilityLifecycle, topology.AbilityDisk),
		Backend: true,
		New: func(p Params) (Nemesis, error) {
			down, err := p.duration("down")
			if err != nil {
				return nil, err
			}
			return diskNemesis{name: "kill-wipe", wipe: true, down: down}, nil
		},
	}}
}

// diskNemesis is kill-lose-aof-tail (bytes > 0) or kill-wipe (wipe).
type diskNemesis struct {
	name  string
	bytes int64
	wipe  bool
	down  time.Duration
}

func (d diskNemesis) Name() string { return d.name }

// disk is the backend's disk primitives, when it has them and they work here.
func (e *Env) disk(what string) (topology.Disk, error) {
	if e.Backend == nil {
		return nil, errNoBackend(what)
	}
	dk, ok := e.Backend.(topology.Disk)
	if !ok {
		return nil, fmt.Errorf("%s: the %s backend cannot truncate or wipe a node's data files", what, e.Backend.Name())
	}
	if dc, ok := e.Backend.(topology.DiskChecker); ok {
		if err := dc.CanDisk(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return dk, nil
}

func (d diskNemesis) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	lc, err := env.lifecycle(d.name)
	if err != nil {
		return nil, err
	}
	dk, err := env.disk(d.name)
	if err != nil {
		return nil, err
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	nodes := nodesOf(picked)
	c := env.cluster()
	desc := d.name + " " + namesOf(nodes)
	truncated := make([]int64, len(nodes))
	files := make([][]string, len(nodes))
	restart := func(ctx context.Context) error {
		return each(len(nodes), func(i int) error { return lc.Restart(ctx, env.cluster(), nodes[i].Name) })
	}
	err = each(len(nodes), func(i int) error {
		n := nodes[i]
		if err := lc.Kill(ctx, c, n.Name); err != nil {
			return err
		}
		// rep and err are this node's own: the closure runs on every node
		// at once, and the outer err belongs to each's caller.
		var rep topology.DiskReport
		var err error
		if d.wipe {
			rep, err = dk.WipeData(ctx, c, n.Name)
		} else {
			rep, err = dk.TruncateAOF(ctx, c, n.Name, d.bytes)
		}
		if err != nil {
			return err
		}
		truncated[i], files[i] = rep.Truncated, rep.Files
		return nil
	})
	if err != nil {
		// Undo what can be undone: the nodes run again (damaged or not).
		if rerr := restart(context.WithoutCancel(ctx)); rerr != nil {
			err = fmt.Errorf("%w (restarting them: %v)", err, rerr)
		}
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	detail := map[string]any{"down": d.down.String()}
	fileMap := map[string]any{}
	for i, n := range nodes {
		fileMap[n.Addr] = files[i]
	}
	detail["files"] = fileMap
	if !d.wipe {
		cut := map[string]any{}
		for i, n := range nodes {
			cut[n.Addr] = truncated[i]
		}
		detail["bytes"] = d.bytes
		detail["truncated"] = cut
	}
	f := &diskFault{desc: desc, nodes: nodes, detail: detail, restart: restart,
		early: make(chan struct{}), done: make(chan struct{}), injected: time.Now()}
	go f.restartAfter(context.WithoutCancel(ctx), d.down)
	env.log().Info("disk fault", "fault", desc, "details", detail)
	return f, nil
}

// diskFault is killed nodes with damaged files, restarted by themselves
// after the down time or by Heal, whichever comes first.
type diskFault struct {
	desc    string
	nodes   []topology.Node
	detail  map[string]any
	restart func(ctx context.Context) error

	injected  time.Time
	early     chan struct{} // closed by Heal: restart now
	earlyOnce sync.Once
	done      chan struct{} // closed when the background restart ended
	bgErr     error         // its error, read after done
	restarted time.Duration // since injection, when the background restart succeeded

	mu     sync.Mutex
	healed bool
}

// diskRestartWithin bounds the background restart.
const diskRestartWithin = time.Minute

func (f *diskFault) restartAfter(ctx context.Context, down time.Duration) {
	defer close(f.done)
	t := time.NewTimer(down)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.early:
	}
	ctx, cancel := context.WithTimeout(ctx, diskRestartWithin)
	defer cancel()
	f.bgErr = f.restart(ctx)
	if f.bgErr == nil {
		f.restarted = time.Since(f.injected)
	}
}

func (f *diskFault) String() string { return f.desc }

func (f *diskFault) Nodes() []string { return addrsOf(f.nodes) }

// Details are what was done to the files, and once known, how long the
// nodes stayed down.
func (f *diskFault) Details() map[string]any {
	out := map[string]any{}
	for k, v := range f.detail {
		out[k] = v
	}
	select {
	case <-f.done:
		if f.restarted > 0 {
			out["restarted_after"] = f.restarted.Round(time.Millisecond).String()
		}
	default:
	}
	return out
}

// Restarted is closed once the fault's own restart has ended (ok or not).
func (f *diskFault) Restarted() <-chan struct{} { return f.done }

// Heal restarts the nodes now if the down time has not yet run out, and
// waits for them; a fault already restarted heals at once.
func (f *diskFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	f.earlyOnce.Do(func() { close(f.early) })
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("heal %s: %w", f.desc, ctx.Err())
	}
	if f.bgErr != nil {
		if err := f.restart(ctx); err != nil {
			return fmt.Errorf("heal %s: %w (the first restart: %v)", f.desc, err, f.bgErr)
		}
	}
	f.healed = true
	return nil
}
