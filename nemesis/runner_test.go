package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// These tests order events with channels, never with durations: an inject
// held by a gate cannot end before the test opens it, so "B started while
// A was still injecting" is a fact, not a race won by a margin. The
// watchdog only turns a hang (the runner of old, which waited for A before
// starting B) into a failure.

// watchdog bounds every wait on the runner; it is a hang detector, not a
// timing assertion.
const watchdog = 20 * time.Second

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(watchdog):
		t.Fatalf("still waiting, after %s, for %s", watchdog, what)
	}
}

// gate holds one inject of the test-gate kind until the test opens it.
type gate struct {
	started chan struct{} // closed when the inject begins
	stopped chan struct{} // closed when the inject sees its context end
	release chan struct{} // closed by the test: the inject may return
	once    sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

type gates struct {
	mu  sync.Mutex
	m   map[string]*gate
	log *fakeLog
}

func (gs *gates) get(name string) *gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g, ok := gs.m[name]
	if !ok {
		g = &gate{started: make(chan struct{}), stopped: make(chan struct{}), release: make(chan struct{})}
		gs.m[name] = g
	}
	return g
}

// gateNemesis waits at its gate (past the end of its context too, like a
// failover whose command was sent), then puts a fakeFault in effect, or
// fails with do=fail.
type gateNemesis struct {
	p  Params
	gs *gates
}

func (n gateNemesis) Name() string { return "test-gate" }

func (n gateNemesis) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	g := n.gs.get(n.p["name"])
	close(g.started)
	select {
	case <-g.release:
	case <-ctx.Done():
		close(g.stopped)
		<-g.release
	}
	if n.p["do"] == "fail" {
		n.gs.log.add("failed " + n.p["name"])
		return nil, errors.New("cannot")
	}
	n.gs.log.add("inject " + n.p["name"])
	return &fakeFault{name: n.p["name"], log: n.gs.log}, nil
}

// registerGate registers test-gate (and test-fake, sharing the log) and
// opens every gate when the test ends, so that no inject outlives it.
func registerGate(t *testing.T) *gates {
	gs := &gates{m: map[string]*gate{}, log: &fakeLog{}}
	registerFake(t, gs.log)
	registry["test-gate"] = Kind{
		Name: "test-gate", Doc: "test", Targets: []string{"one"},
		Params: map[string]string{"name": "", "do": ""},
		New:    func(p Params) (Nemesis, error) { return gateNemesis{p: p, gs: gs}, nil },
	}
	t.Cleanup(func() {
		delete(registry, "test-gate")
		gs.mu.Lock()
		defer gs.mu.Unlock()
		for _, g := range gs.m {
			g.open()
		}
	})
	return gs
}

func gated(at, dur time.Duration, name string) Action {
	return Action{At: at, For: dur, Do: "test-gate", Target: "one", Params: map[string]string{"name": name}}
}

func quick(at, dur time.Duration, name string) Action {
	return Action{At: at, For: dur, Do: "test-fake", Target: "one", Params: map[string]string{"name": name}}
}

// summary is the nemesis records as "inject <action>" / "heal <action>",
// with " error" when the record has one.
func summary(t *testing.T, ops []history.Op) []string {
	t.Helper()
	var out []string
	for _, op := range ops {
		if op.Process != history.NemesisProcess || op.Type != history.Info {
			t.Errorf("record %v: want process -1, info", op)
		}
		v := op.Value.(map[string]any)
		s := fmt.Sprintf("inject %v", v["action"])
		if v["heal"] == true {
			s = fmt.Sprintf("heal %v", v["action"])
		}
		if op.Error != "" {
			s += " error"
		}
		out = append(out, s)
	}
	return out
}

func healAll(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	if err := r.HealAll(ctx); err != nil {
		t.Errorf("HealAll: %v", err)
	}
}

// TestRunnerOverlap: an action due while an earlier one is still being
// injected starts at its own offset, takes effect first, and the earlier
// one's heal, long overdue by then, waits for its inject and follows it.
func TestRunnerOverlap(t *testing.T) {
	gs := registerGate(t)
	rec := &memRec{start: time.Now()}
	r := Start(context.Background(), &Env{Rec: rec}, []Action{
		gated(0, time.Millisecond, "a"),
		quick(100*time.Millisecond, 0, "b"),
	})
	defer healAll(t, r)
	a := gs.get("a")
	waitFor(t, a.started, "a's inject to start")
	// b is due while a is held: it must start and end on its own.
	waitFor(t, r.injected[1], "b's inject, due while a's was still under way")
	select {
	case <-r.injected[0]:
		t.Fatal("a's inject ended before its gate opened")
	default:
	}
	if res := r.Results(); res[0].Healed != 0 || res[0].Effect != 0 {
		t.Errorf("a took effect or was healed while its inject was held: %+v", res[0])
	}
	a.open()
	waitFor(t, r.Done(), "the timeline to end")
	if got, want := gs.log.all(), []string{"inject b", "inject a", "heal a"}; !slices.Equal(got, want) {
		t.Errorf("events = %v\nwant %v", got, want)
	}
	if got, want := summary(t, rec.all()), []string{"inject 1", "inject 0", "heal 0"}; !slices.Equal(got, want) {
		t.Errorf("records = %v\nwant %v", got, want)
	}
	res := r.Results()
	if res[0].Action.Params["name"] != "a" || res[1].Action.Params["name"] != "b" {
		t.Errorf("results are not in timeline order: %+v", res)
	}
	a0, b1 := res[0], res[1]
	if b1.Started == 0 || b1.Effect == 0 || a0.Effect == 0 || a0.Healed == 0 {
		t.Fatalf("results lack times: a %+v, b %+v", a0, b1)
	}
	// Causal order, read off the clock: b started and took effect before a
	// did; a was healed after it took effect.
	if !(b1.Started < a0.Effect && b1.Effect < a0.Effect && a0.Effect <= a0.Healed) {
		t.Errorf("times out of order: b started %d, in effect %d; a in effect %d, healed %d", b1.Started, b1.Effect, a0.Effect, a0.Healed)
	}
	if a0.Started > b1.Started {
		t.Errorf("a (due first) started at %d, after b at %d", a0.Started, b1.Started)
	}
}

// TestRunnerHealAfterFailedInject: a heal due while its inject is held
// waits for it; when the inject fails there is nothing to heal, and no heal
// is recorded. The action after it ran meanwhile.
func TestRunnerHealAfterFailedInject(t *testing.T) {
	gs := registerGate(t)
	rec := &memRec{start: time.Now()}
	failing := gated(0, time.Millisecond, "a")
	failing.Params["do"] = "fail"
	r := Start(context.Background(), &Env{Rec: rec}, []Action{failing, quick(time.Millisecond, time.Millisecond, "b")})
	defer healAll(t, r)
	a := gs.get("a")
	waitFor(t, a.started, "a's inject to start")
	waitFor(t, r.injected[1], "b's inject, due while a's was under way")
	a.open()
	waitFor(t, r.Done(), "the timeline to end")
	got := gs.log.all()
	if !slices.Contains(got, "failed a") || slices.Contains(got, "heal a") || !slices.Contains(got, "heal b") {
		t.Errorf("events = %v: want a failed and never healed, b healed", got)
	}
	if i, j := slices.Index(got, "inject b"), slices.Index(got, "failed a"); i < 0 || i > j {
		t.Errorf("events = %v: b's inject should come before a's failure", got)
	}
	res := r.Results()
	if res[0].Error != "cannot" || res[0].Healed != 0 || res[0].Effect != 0 {
		t.Errorf("a's result = %+v", res[0])
	}
	recs := summary(t, rec.all())
	if !slices.Contains(recs, "inject 0 error") || slices.Contains(recs, "heal 0") || slices.Contains(recs, "heal 0 error") {
		t.Errorf("records = %v: want a's failure and no heal of it", recs)
	}
}

// TestRunnerHealAllWaitsForInject: HealAll during an inject under way
// cancels it, waits for it to end (it takes effect anyway, as a failover
// already asked for does) and heals it, the last to take effect first.
func TestRunnerHealAllWaitsForInject(t *testing.T) {
	gs := registerGate(t)
	rec := &memRec{start: time.Now()}
	r := Start(context.Background(), &Env{Rec: rec}, []Action{gated(0, time.Hour, "a"), quick(0, 0, "b")})
	a := gs.get("a")
	waitFor(t, a.started, "a's inject to start")
	waitFor(t, r.injected[1], "b's inject, due with a's")
	healed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		defer cancel()
		healed <- r.HealAll(ctx)
	}()
	waitFor(t, a.stopped, "HealAll to cancel a's inject")
	select {
	case err := <-healed:
		t.Fatalf("HealAll returned (%v) while a's inject was under way", err)
	default:
	}
	a.open()
	select {
	case err := <-healed:
		if err != nil {
			t.Errorf("HealAll: %v", err)
		}
	case <-time.After(watchdog):
		t.Fatal("HealAll did not return")
	}
	if got, want := gs.log.all(), []string{"inject b", "inject a", "heal a", "heal b"}; !slices.Equal(got, want) {
		t.Errorf("events = %v\nwant %v", got, want)
	}
	if got, want := summary(t, rec.all()), []string{"inject 1", "inject 0", "heal 0", "heal 1"}; !slices.Equal(got, want) {
		t.Errorf("records = %v\nwant %v", got, want)
	}
	if err := r.HealAll(context.Background()); err != nil {
		t.Errorf("second HealAll: %v", err)
	}
}

// TestRunnerLateInject: a HealAll whose context ends before an inject that
// ignores it leaves that fault to heal itself once it takes effect.
func TestRunnerLateInject(t *testing.T) {
	gs := registerGate(t)
	rec := &memRec{start: time.Now()}
	r := Start(context.Background(), &Env{Rec: rec}, []Action{gated(0, 0, "a")})
	a := gs.get("a")
	waitFor(t, a.started, "a's inject to start")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.HealAll(ctx); err != nil {
		t.Errorf("HealAll with nothing open: %v", err)
	}
	if got := gs.log.all(); len(got) != 0 {
		t.Errorf("events before a's gate opened = %v", got)
	}
	a.open()
	waitFor(t, r.Done(), "a's inject to end")
	if got, want := gs.log.all(), []string{"inject a", "heal a"}; !slices.Equal(got, want) {
		t.Errorf("events = %v\nwant %v", got, want)
	}
	if got, want := summary(t, rec.all()), []string{"inject 0", "heal 0"}; !slices.Equal(got, want) {
		t.Errorf("records = %v\nwant %v", got, want)
	}
	if res := r.Results(); res[0].Healed == 0 || res[0].HealError != "" {
		t.Errorf("a's result = %+v", res[0])
	}
}

// TestRunnerConcurrentChoices runs injects at the same offset that choose
// nodes from the Env's Rand and read its cluster while others add and
// remove nodes, as membership faults do. Under -race this shows the Env's
// locking covers concurrent injects.
func TestRunnerConcurrentChoices(t *testing.T) {
	c := &topology.Cluster{Name: "x"}
	for i := 1; i <= 6; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i)})
	}
	env := &Env{Cluster: c}
	registry["test-choose"] = Kind{
		Name: "test-choose", Doc: "test", Targets: []string{"minority"},
		Params: map[string]string{"grow": ""},
		New:    func(p Params) (Nemesis, error) { return chooseNemesis{grow: p["grow"] != ""}, nil },
	}
	t.Cleanup(func() { delete(registry, "test-choose") })
	var timeline []Action
	for i := range 12 {
		a := Action{Do: "test-choose", Target: "minority"}
		if i%3 == 0 {
			a.Params = map[string]string{"grow": "y"}
		}
		timeline = append(timeline, a)
	}
	r := Start(context.Background(), env, timeline)
	defer healAll(t, r)
	waitFor(t, r.Done(), "the timeline to end")
	for i, res := range r.Results() {
		// A minority: 2 of 6 nodes, or 3 of 7 or 8 while nodes are added.
		if res.Error != "" || len(res.Nodes) < 2 || len(res.Nodes) > 3 || len(slices.Compact(slices.Sorted(slices.Values(res.Nodes)))) != len(res.Nodes) {
			t.Errorf("action %d: %+v, want a minority of distinct nodes", i, res)
		}
	}
	if n := len(env.Nodes()); n != 6 {
		t.Errorf("%d nodes after every add was undone, want 6", n)
	}
}

// chooseNemesis takes a copy of the cluster, as a backend call does, and
// picks its target's nodes; with grow it also adds a node, as add-node
// does, and removes it again before returning.
type chooseNemesis struct{ grow bool }

func (chooseNemesis) Name() string { return "test-choose" }

func (n chooseNemesis) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	if n.grow {
		env.mu.Lock()
		env.Cluster.Nodes = append(env.Cluster.Nodes, topology.Node{Name: "extra", Addr: "10.0.0.99:6379"})
		env.mu.Unlock()
		defer func() {
			env.mu.Lock()
			env.Cluster.Nodes = slices.DeleteFunc(env.Cluster.Nodes, func(nd topology.Node) bool { return nd.Name == "extra" })
			env.mu.Unlock()
		}()
	}
	c := env.cluster()
	if _, ok := c.Node("n1"); !ok {
		return nil, errors.New("the cluster's copy lacks n1")
	}
	picked, _, _, err := env.pick(ctx, target, false)
	if err != nil {
		return nil, err
	}
	return &onNodes{name: "test-choose", desc: "chose " + namesOf(nodesOf(picked)), nodes: nodesOf(picked),
		undo: func(context.Context, topology.Node) error { return nil }}, nil
}

// TestRunnerFailedSignalsTheRun: an inject that fails while the run goes
// on closes Failed, and Failure names the action in one line; one stopped
// by the end of the run (its context ended first) does not.
func TestRunnerFailedSignalsTheRun(t *testing.T) {
	gs := registerGate(t)
	failing := gated(0, 0, "a")
	failing.Params["do"] = "fail"
	r := Start(context.Background(), &Env{Rec: &memRec{start: time.Now()}}, []Action{failing})
	defer healAll(t, r)
	if r.Failure() != "" {
		t.Fatalf("Failure before any inject: %q", r.Failure())
	}
	gs.get("a").open()
	waitFor(t, r.Failed(), "Failed to close after a failed inject")
	if got, want := r.Failure(), "nemesis action 1 (test-gate one at 0s (do=fail name=a)) failed: cannot"; got != want {
		t.Errorf("Failure = %q, want %q", got, want)
	}

	// The same failure after the run's end is not the run's failure.
	gs2 := registerGate(t)
	failing2 := gated(0, 0, "b")
	failing2.Params["do"] = "fail"
	ctx, cancel := context.WithCancel(context.Background())
	r2 := Start(ctx, &Env{Rec: &memRec{start: time.Now()}}, []Action{failing2})
	b := gs2.get("b")
	waitFor(t, b.started, "b's inject to start")
	cancel()
	waitFor(t, b.stopped, "b's inject to see the end of the run")
	b.open()
	waitFor(t, r2.Done(), "the timeline to end")
	select {
	case <-r2.Failed():
		t.Errorf("an inject stopped by the end of the run counted as failed: %q", r2.Failure())
	default:
	}
	healAll(t, r2)
}
