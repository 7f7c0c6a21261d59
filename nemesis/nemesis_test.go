package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/local"
)

func TestRegistry(t *testing.T) {
	want := []string{"add-node", "failover", "kill", "kill-lose-aof-tail", "kill-wipe", "netem", "partition", "partition-bridge", "partition-halves",
		"partition-one-way", "partition-ring", "pause", "remove-node", "reshard", "reshard-interrupted"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v\nwant %v", got, want)
	}
	for _, k := range Kinds() {
		if _, err := New(k.Name, nil); err != nil {
			t.Errorf("%s with its defaults: %v", k.Name, err)
		}
		for _, tg := range k.Targets {
			if err := Target(tg).Validate(); err != nil {
				t.Errorf("%s: target %q: %v", k.Name, tg, err)
			}
		}
		if k.Doc == "" {
			t.Errorf("%s has no doc line", k.Name)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a duplicate kind did not panic")
		}
	}()
	newRegistry(killKinds(), killKinds())
}

func TestParams(t *testing.T) {
	bad := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"kill", map[string]string{"bogus": "1"}, `no parameter "bogus"`},
		{"netem", map[string]string{"delay": "slow"}, "want a duration"},
		{"netem", map[string]string{"delay": "10ms", "jitter": "20ms"}, "jitter must not exceed"},
		{"netem", map[string]string{"delay": "0s", "loss": "0"}, "give a delay, a loss, or both"},
		{"failover", map[string]string{"mode": "gentle"}, "want one of default, force, takeover"},
		{"reshard", map[string]string{"slots": "0"}, "at least one slot"},
		{"reshard-interrupted", map[string]string{"step": "halfway"}, `step "halfway"`},
		{"reshard-interrupted", map[string]string{"then": "explode"}, "want one of kill, pause, partition, none"},
		{"partition-one-way", map[string]string{"direction": "up"}, "want one of in, out"},
		{"no-such-fault", nil, `no fault "no-such-fault"`},
	}
	for _, tt := range bad {
		_, err := New(tt.name, tt.params)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s, %v) = %v, want an error with %q", tt.name, tt.params, err, tt.want)
		}
	}
	n, err := New("netem", map[string]string{"delay": "50ms", "jitter": "5ms", "loss": "2.5%"})
	if err != nil || n.(netem).q != (topology.NetemSpec{Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 2.5}) {
		t.Errorf("netem params = %+v, %v", n, err)
	}
}

func TestTargetParse(t *testing.T) {
	tests := []struct {
		t    Target
		word string
		slot int
		ok   bool
	}{
		{"one", "one", -1, true},
		{"majority-primaries", "majority-primaries", -1, true},
		{"slot-master:0", "slot-master", 0, true},
		{"slot-master:16383", "slot-master", 16383, true},
		{"slot-master:16384", "", 0, false},
		{"key-master:{set:0}", "slot-master", topology.KeySlot("{set:0}"), true},
		{"key-master:", "", 0, false},
		{"n1,n3", "nodes", -1, true},
		{"127.0.100.1:6379", "nodes", -1, true},
		{"n1,,n2", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		w, s, err := tt.t.parse()
		if (err == nil) != tt.ok || tt.ok && (w != tt.word || s != tt.slot) {
			t.Errorf("parse(%q) = %q, %d, %v; want %q, %d, ok %v", tt.t, w, s, err, tt.word, tt.slot, tt.ok)
		}
	}
}

func TestShapes(t *testing.T) {
	for n := 3; n <= 8; n++ {
		nodes := make([]string, n)
		for i := range nodes {
			nodes[i] = fmt.Sprintf("n%d", i+1)
		}
		a, b := halves(nodes)
		if len(a)+len(b) != n || len(a) > len(b) {
			t.Errorf("halves of %d: %v | %v", n, a, b)
		}
		x, bridge, y := bridged(nodes)
		if len(x)+len(y)+1 != n || bridge == "" || slices.Contains(x, bridge) || slices.Contains(y, bridge) {
			t.Errorf("bridge of %d: %v | %s | %v", n, x, bridge, y)
		}
		// Majorities ring: every node hears a majority (itself included),
		// and no two nodes hear the same set.
		cuts := majoritiesRing(nodes)
		hears := map[string][]string{}
		for _, to := range nodes {
			for _, from := range nodes {
				if !slices.Contains(cuts, topology.Cut{From: from, To: to}) {
					hears[to] = append(hears[to], from)
				}
			}
			if len(hears[to]) != n/2+1 || !slices.Contains(hears[to], to) {
				t.Errorf("ring of %d: %s hears %v, want a majority of %d with itself", n, to, hears[to], n/2+1)
			}
		}
		seen := map[string]string{}
		for _, to := range nodes {
			k := strings.Join(hears[to], ",")
			if other, dup := seen[k]; dup {
				t.Errorf("ring of %d: %s and %s hear the same majority %s", n, other, to, k)
			}
			seen[k] = to
		}
	}
}

func TestResolveFaults(t *testing.T) {
	spec := Spec{Faults: []string{"kill", "partition@key-master:{set:0}", "pause", "netem"}, Interval: 5 * time.Second}
	a, err := spec.Resolve(42, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := spec.Resolve(42, 60*time.Second)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed gave two timelines:\n%v\n%v", a, b)
	}
	if len(a) != 6 {
		t.Fatalf("%d actions in 60 s at 5 s intervals, want 6: %v", len(a), a)
	}
	for i, x := range a {
		if x.At != time.Duration(5+10*i)*time.Second || x.For != 5*time.Second {
			t.Errorf("action %d at %s for %s, want at %ds for 5s", i, x.At, x.For, 5+10*i)
		}
		if x.Do == "partition" && x.Target != "key-master:{set:0}" {
			t.Errorf("partition's explicit target became %q", x.Target)
		}
		k, _ := Lookup(x.Do)
		if !slices.Contains(k.Targets, x.Target) && x.Do != "partition" {
			t.Errorf("%s got target %q, not one of %v", x.Do, x.Target, k.Targets)
		}
		if x.Do == "netem" && x.Params["delay"] != "100ms" {
			t.Errorf("netem's default params not filled: %v", x.Params)
		}
	}
	differ := false
	for seed := int64(1); seed < 20 && !differ; seed++ {
		c, _ := spec.Resolve(seed, 60*time.Second)
		differ = !reflect.DeepEqual(a, c)
	}
	if !differ {
		t.Error("twenty seeds all gave the same timeline")
	}
	// Cut short at the time limit.
	short, _ := Spec{Faults: []string{"kill"}, Interval: 10 * time.Second}.Resolve(1, 25*time.Second)
	if len(short) != 1 || short[0].At != 10*time.Second || short[0].For != 10*time.Second {
		t.Errorf("25 s at 10 s: %v", short)
	}
	short, _ = Spec{Faults: []string{"kill"}, Interval: 10 * time.Second}.Resolve(1, 15*time.Second)
	if len(short) != 1 || short[0].For != 5*time.Second {
		t.Errorf("15 s at 10 s: %v", short)
	}
}

func TestResolveTimeline(t *testing.T) {
	spec := Spec{Timeline: []Action{
		{At: 20 * time.Second, Do: "pause", Target: "replica"},
		{At: 5 * time.Second, For: 10 * time.Second, Do: "failover", Params: map[string]string{"mode": "takeover"}},
	}}
	got, err := spec.Resolve(7, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{
		{At: 5 * time.Second, For: 10 * time.Second, Do: "failover", Target: "primary", Params: map[string]string{"mode": "takeover", "timeout": "30s"}},
		{At: 20 * time.Second, Do: "pause", Target: "replica"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Resolve = %v\nwant %v", got, want)
	}
	bad := []struct {
		spec Spec
		want string
	}{
		{Spec{Faults: []string{"kill"}, Timeline: want}, "not both"},
		{Spec{Timeline: []Action{{At: time.Minute, Do: "kill"}}}, "starts after the run's 30s time limit"},
		{Spec{Timeline: []Action{{Do: "kill", Target: "somewhere else"}}}, "target"},
		{Spec{Faults: []string{"explode"}}, `no fault "explode"`},
	}
	for _, tt := range bad {
		if _, err := tt.spec.Resolve(1, 30*time.Second); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve(%+v) = %v, want an error with %q", tt.spec, err, tt.want)
		}
	}
	if got, err := (Spec{}).Resolve(1, time.Second); err != nil || got != nil {
		t.Errorf("empty spec: %v, %v", got, err)
	}
}

// fakeBackend is a backend with no abilities; fakeFaulty adds them, but
// cannot do partitions here.
type fakeBackend struct{ topology.Backend }

func (fakeBackend) Name() string { return "fake" }

type fakeFaulty struct {
	fakeBackend
	topology.Lifecycle
	topology.Network
}

func (fakeFaulty) CanFault(a topology.Ability) error {
	if a == topology.AbilityPartition {
		return errors.New("partition faults need root here")
	}
	return nil
}

func TestValidate(t *testing.T) {
	spec := Spec{Faults: []string{"kill", "failover", "partition", "reshard", "add-node"}}
	err := Validate(spec, nil)
	for _, want := range []string{`fault "kill" cannot run here`, `fault "partition" cannot run here`, `fault "add-node" cannot run here`, "given by address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate with no backend = %v, want %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), `"failover"`) || strings.Contains(err.Error(), `"reshard"`)) {
		t.Errorf("failover and reshard need no backend, yet: %v", err)
	}
	err = Validate(spec, fakeBackend{})
	if err == nil || !strings.Contains(err.Error(), "the fake backend cannot kill") {
		t.Errorf("Validate on a backend without lifecycle = %v", err)
	}
	err = Validate(spec, fakeFaulty{})
	if err == nil || !strings.Contains(err.Error(), `fault "partition" cannot run here: partition faults need root here`) || strings.Contains(err.Error(), `"kill"`) {
		t.Errorf("Validate on a backend without root = %v", err)
	}
	if err := Validate(Spec{Timeline: []Action{{Do: "reshard-interrupted", Params: map[string]string{"then": "none"}}}}, nil); err != nil {
		t.Errorf("reshard-interrupted then=none needs no backend: %v", err)
	}
	if err := Validate(Spec{Timeline: []Action{{Do: "reshard-interrupted", Params: map[string]string{"then": "partition"}}}}, fakeFaulty{}); err == nil {
		t.Error("reshard-interrupted then=partition passed without the partition ability")
	}
}

// memRec is an in-memory Recorder.
type memRec struct {
	mu    sync.Mutex
	start time.Time
	ops   []history.Op
}

func (m *memRec) Now() int64 { return int64(time.Since(m.start)) }
func (m *memRec) Append(op history.Op) (history.Op, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if op.Time == 0 {
		op.Time = m.Now()
	}
	op.Index = int64(len(m.ops))
	m.ops = append(m.ops, op)
	return op, nil
}
func (m *memRec) all() []history.Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ops)
}

// fakeNemesis records what it did in log; its behaviour is set by params.
type fakeNemesis struct {
	p   Params
	log *fakeLog
}

type fakeLog struct {
	mu     sync.Mutex
	events []string
}

func (l *fakeLog) add(s string) {
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *fakeLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

type fakeFault struct {
	name  string
	log   *fakeLog
	fails int // heals that fail before one succeeds
}

func (f *fakeFault) String() string          { return "fake " + f.name }
func (f *fakeFault) Nodes() []string         { return []string{"10.0.0.1:6379"} }
func (f *fakeFault) Details() map[string]any { return map[string]any{"n": int64(1)} }
func (f *fakeFault) Heal(ctx context.Context) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("heal failed")
	}
	f.log.add("heal " + f.name)
	return nil
}

func (n fakeNemesis) Name() string { return "test-fake" }
func (n fakeNemesis) Inject(ctx context.Context, env *Env, target Target) (Fault, error) {
	switch n.p["do"] {
	case "panic":
		panic("boom")
	case "fail":
		return nil, errors.New("cannot")
	}
	n.log.add("inject " + n.p["name"])
	return &fakeFault{name: n.p["name"], log: n.log, fails: len(n.p["healfails"])}, nil
}

func registerFake(t *testing.T, log *fakeLog) {
	registry["test-fake"] = Kind{
		Name: "test-fake", Doc: "test", Targets: []string{"one"},
		Params: map[string]string{"name": "", "do": "", "healfails": ""},
		New:    func(p Params) (Nemesis, error) { return fakeNemesis{p: p, log: log}, nil },
	}
	t.Cleanup(func() { delete(registry, "test-fake") })
}

func TestRunner(t *testing.T) {
	log := &fakeLog{}
	registerFake(t, log)
	rec := &memRec{start: time.Now()}
	env := &Env{Rec: rec}
	// The order of events depends on the schedule's offsets; a unit of
	// 4 ms leaves wide margins on a loaded machine.
	ms := 4 * time.Millisecond
	timeline := []Action{
		{At: 10 * ms, For: 40 * ms, Do: "test-fake", Target: "one", Params: map[string]string{"name": "a"}},
		{At: 20 * ms, Do: "test-fake", Target: "one", Params: map[string]string{"name": "b"}},
		{At: 30 * ms, For: 10 * ms, Do: "test-fake", Target: "one", Params: map[string]string{"do": "panic"}},
		{At: 40 * ms, Do: "test-fake", Target: "one", Params: map[string]string{"do": "fail"}},
		{At: 60 * ms, For: 10 * ms, Do: "test-fake", Target: "one", Params: map[string]string{"name": "c", "healfails": "x"}},
		{At: time.Hour, Do: "test-fake", Target: "one", Params: map[string]string{"name": "never"}},
	}
	r := Start(context.Background(), env, timeline)
	time.Sleep(150 * ms)
	if err := r.HealAll(context.Background()); err != nil {
		t.Fatalf("HealAll: %v", err)
	}
	if err := r.HealAll(context.Background()); err != nil {
		t.Errorf("second HealAll: %v", err)
	}
	// a healed on time; c's heal failed once and was retried by HealAll,
	// which heals the last injected first: c, then b.
	want := []string{"inject a", "inject b", "heal a", "inject c", "heal c", "heal b"}
	if got := log.all(); !slices.Equal(got, want) {
		t.Errorf("events = %v\nwant %v", got, want)
	}
	res := r.Results()
	if res[0].Effect == 0 || res[0].Latency < 0 || res[0].Healed < int64(50*ms) || res[0].Fault != "fake a" {
		t.Errorf("result of a = %+v", res[0])
	}
	if !strings.Contains(res[2].Error, "panic: boom") || res[3].Error != "cannot" {
		t.Errorf("panic and failure results: %q, %q", res[2].Error, res[3].Error)
	}
	if res[4].HealError != "" || res[4].Healed == 0 {
		t.Errorf("c: the retried heal should have succeeded: %+v", res[4])
	}
	if res[5].Effect != 0 || res[5].Error != "" {
		t.Errorf("the action after the end ran: %+v", res[5])
	}
	ops := rec.all()
	var summary []string
	for _, op := range ops {
		if op.Process != history.NemesisProcess || op.Type != history.Info || op.F != "test-fake" {
			t.Errorf("record %v: want process -1, info, f test-fake", op)
		}
		if err := op.Valid(); err != nil {
			t.Errorf("record %v: %v", op, err)
		}
		v := op.Value.(map[string]any)
		s := fmt.Sprint(v["action"])
		if v["heal"] == true {
			s = "heal " + s
		}
		if op.Error != "" {
			s += " error"
		}
		summary = append(summary, s)
		if v["target"] != "one" {
			t.Errorf("record %v lacks the target", op)
		}
	}
	wantSummary := []string{"0", "1", "2 error", "3 error", "heal 0", "4", "heal 4 error", "heal 4", "heal 1"}
	if !slices.Equal(summary, wantSummary) {
		t.Errorf("records = %v\nwant %v", summary, wantSummary)
	}
	first := ops[0].Value.(map[string]any)
	if first["name"] != "a" || !reflect.DeepEqual(first["nodes"], []string{"10.0.0.1:6379"}) || first["fault"] != "fake a" || first["latency_ns"] == nil {
		t.Errorf("first record's value = %v", first)
	}
}

// TestRunnerCancel: a run that ends early leaves its faults to HealAll.
func TestRunnerCancel(t *testing.T) {
	log := &fakeLog{}
	registerFake(t, log)
	env := &Env{}
	ctx, cancel := context.WithCancel(context.Background())
	r := Start(ctx, env, []Action{
		{At: 0, For: time.Hour, Do: "test-fake", Target: "one", Params: map[string]string{"name": "a"}},
		{At: time.Hour, Do: "test-fake", Target: "one", Params: map[string]string{"name": "b"}},
	})
	deadline := time.Now().Add(5 * time.Second)
	for len(log.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-r.Done()
	if err := r.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.all(); !slices.Equal(got, []string{"inject a", "heal a"}) {
		t.Errorf("events = %v", got)
	}
}

// TestPick chooses nodes for the targets that need no roles, so no cluster:
// sizes right, named nodes found, the same seed the same choice.
func TestPick(t *testing.T) {
	c := &topology.Cluster{Name: "x"}
	for i := 1; i <= 6; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i)})
	}
	pick := func(seed uint64, tg Target) []string {
		env := &Env{Cluster: c, Rand: rand.New(rand.NewPCG(seed, 0))}
		p, all, _, err := env.pick(context.Background(), tg, false)
		if err != nil {
			t.Fatalf("pick(%s): %v", tg, err)
		}
		if len(all) != 6 {
			t.Errorf("pick(%s): %d members, want 6", tg, len(all))
		}
		return names(p)
	}
	for tg, n := range map[Target]int{"one": 1, "minority": 2, "majority": 4, "all": 6, "n2,10.0.0.5:6379": 2} {
		if got := pick(1, tg); len(got) != n {
			t.Errorf("pick(%s) = %v, want %d nodes", tg, got, n)
		}
	}
	if got := pick(1, "n2,10.0.0.5:6379"); !slices.Equal(got, []string{"n2", "n5"}) {
		t.Errorf("named nodes = %v", got)
	}
	if a, b := pick(3, "minority"), pick(3, "minority"); !slices.Equal(a, b) {
		t.Errorf("the same seed chose %v and %v", a, b)
	}
	env := &Env{Cluster: c}
	if _, _, _, err := env.pick(context.Background(), "n9", false); err == nil || !strings.Contains(err.Error(), `no node "n9"`) {
		t.Errorf("pick of an unknown node: %v", err)
	}
}

// TestValidateLocal asks the real local backend: as root every fault can
// run; without root the network faults are refused, saying so.
func TestValidateLocal(t *testing.T) {
	l, err := local.NewHost(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	err = Validate(Spec{Faults: Names()}, l)
	if os.Geteuid() == 0 {
		if err != nil {
			t.Errorf("Validate of every fault as root: %v", err)
		}
		return
	}
	for _, want := range []string{`fault "partition" cannot run here: partition faults on the local backend need root`, `fault "netem" cannot run here: netem faults`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate without root = %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), `"kill"`) {
		t.Errorf("kill needs no root: %v", err)
	}
}

// TestCheckTargets resolves targets against a cluster before the run: a
// node the cluster lacks is refused naming the action, a node an add-node
// of the timeline will make is accepted, and nothing is drawn from Rand.
func TestCheckTargets(t *testing.T) {
	c := &topology.Cluster{Name: "x", Seq: 6}
	for i := 1; i <= 6; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i)})
	}
	ctx := context.Background()
	for _, tc := range []struct {
		timeline []Action
		want     string // "" for none
	}{
		{[]Action{{At: time.Second, Do: "pause", Target: "n2,10.0.0.5:6379"}, {At: 2 * time.Second, Do: "kill", Target: "majority"}}, ""},
		{[]Action{{At: time.Second, Do: "pause", Target: "n1"}, {At: 2 * time.Second, Do: "partition", Target: "n99"}}, `nemesis action 2 (partition n99 at 2s): target n99: cluster x has no node "n99"`},
		{[]Action{{At: time.Second, Do: "pause", Target: "n3,nosuch"}}, `no node "nosuch"`},
		{[]Action{{At: time.Second, Do: "add-node", Target: "all"}, {At: 2 * time.Second, Do: "kill", Target: "n7"}}, ""},
		{[]Action{{At: time.Second, Do: "kill", Target: "n7"}}, `no node "n7"`},
	} {
		// Only targets that need no roles here: a role target reads the cluster.
		before := rand.New(rand.NewPCG(1, 2)).Uint64()
		env := &Env{Cluster: c, Rand: rand.New(rand.NewPCG(1, 2))}
		err := env.CheckTargets(ctx, tc.timeline)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.timeline, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want %q", tc.timeline, err, tc.want)
		}
		if after := env.Rand.Uint64(); after != before {
			t.Errorf("%v: CheckTargets drew from Rand", tc.timeline)
		}
	}
}

// TestCheckTargetsRoles: a target that chooses by role, on a cluster where
// no node answers, is refused saying the cluster has no such node now
// (closed loopback ports: nothing leaves the machine).
func TestCheckTargetsRoles(t *testing.T) {
	c := &topology.Cluster{Name: "x"}
	for i := 1; i <= 3; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", i)})
	}
	admin := topology.NewAdmin()
	defer admin.Close()
	env := &Env{Cluster: c, Admin: admin}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := env.CheckTargets(ctx, []Action{{At: time.Second, Do: "pause", Target: "replica"}, {At: 2 * time.Second, Do: "kill", Target: "slot-master:100"}})
	for _, want := range []string{"nemesis action 1 (pause replica at 1s): target replica: the cluster has no replica now", "nemesis action 2 (kill slot-master:100 at 2s): target slot-master:100: no node of the cluster owns slot 100 now"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTargets = %v, want %q", err, want)
		}
	}
}
