package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// Recorder is where the nemesis writes its records; *history.Writer is one.
type Recorder interface {
	Append(history.Op) (history.Op, error)
	// Now is the time since the run started, in ns, as history times are.
	Now() int64
}

// Env is what faults act on. Membership faults add and remove nodes of
// Cluster; whoever reads its nodes while the nemesis runs reads them through
// Addrs or Nodes. An Env must not be copied once in use.
type Env struct {
	Cluster *topology.Cluster
	// Backend made the cluster; nil for a cluster reached by address, which
	// can have only the faults that speak Redis (failover, reshard).
	Backend topology.Backend
	Admin   *topology.Admin
	// Rec receives the nemesis's records (process -1); nil records nothing.
	Rec Recorder
	// Rand makes every choice of nodes; seeded from the run's seed. Faults
	// draw from it through the Env, which serializes the draws of
	// concurrent injects.
	Rand *rand.Rand
	Log  *slog.Logger

	// mu guards Cluster.Nodes (and Seq), which membership faults change
	// while other faults act: whoever else passes the cluster to the backend
	// passes a copy from cluster.
	mu     sync.Mutex
	randMu sync.Mutex // guards Rand
}

// Addrs lists the cluster's node addresses now.
func (e *Env) Addrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Cluster.Addrs()
}

// Nodes lists the cluster's nodes now.
func (e *Env) Nodes() []topology.Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.Cluster.Nodes)
}

// cluster is a copy of the cluster as it is now, for a backend call: the
// backends read Cluster.Nodes, which a membership fault may be changing
// at the same time.
func (e *Env) cluster() *topology.Cluster {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Cluster == nil {
		return nil
	}
	c := *e.Cluster
	c.Nodes = slices.Clone(e.Cluster.Nodes)
	return &c
}

func (e *Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return e.Log
}

// shuffle permutes n elements with Rand. Faults injected at the same time
// draw one after another, each shuffle whole.
func (e *Env) shuffle(n int, swap func(i, j int)) {
	e.randMu.Lock()
	defer e.randMu.Unlock()
	if e.Rand == nil {
		e.Rand = rand.New(rand.NewPCG(1, 1))
	}
	e.Rand.Shuffle(n, swap)
}

func (e *Env) now() int64 {
	if e.Rec == nil {
		return 0
	}
	return e.Rec.Now()
}

// errNoBackend is why a fault that needs the backend cannot run.
func errNoBackend(what string) error {
	return fmt.Errorf("%s needs the backend that made the cluster; a cluster given by address can have only failover and reshard faults", what)
}

func (e *Env) lifecycle(what string) (topology.Lifecycle, error) {
	if e.Backend == nil {
		return nil, errNoBackend(what)
	}
	l, ok := e.Backend.(topology.Lifecycle)
	if !ok {
		return nil, fmt.Errorf("%s: the %s backend cannot kill, restart or pause nodes", what, e.Backend.Name())
	}
	return l, nil
}

func (e *Env) network(what string) (topology.Network, error) {
	if e.Backend == nil {
		return nil, errNoBackend(what)
	}
	n, ok := e.Backend.(topology.Network)
	if !ok {
		return nil, fmt.Errorf("%s: the %s backend cannot cut or degrade the network", what, e.Backend.Name())
	}
	return n, nil
}

// Nemesis injects one kind of fault.
type Nemesis interface {
	Name() string
	// Inject puts the fault in effect on the target's nodes, chosen now,
	// and returns the handle that heals it. On error nothing is left in effect.
	Inject(ctx context.Context, env *Env, target Target) (Fault, error)
}

// Fault is a fault in effect.
type Fault interface {
	String() string
	// Heal undoes the fault. It is safe to call more than once.
	Heal(ctx context.Context) error
}

// Described is implemented by faults that say, for the history, which
// nodes they touched and what else is worth keeping.
type Described interface {
	Nodes() []string
	Details() map[string]any
}

// Kind is one entry of the registry: a fault kind, its parameters and what
// it needs of the backend.
type Kind struct {
	Name string
	// Doc is one line for `harness nemesis list` and the README.
	Doc string
	// Params are the parameters the kind knows, with their defaults ("" for none).
	Params map[string]string
	// Targets are what a generated schedule picks from; the first is the default.
	Targets []string
	// Needs lists the backend abilities the fault uses with these params;
	// nil needs none.
	Needs func(p Params) []topology.Ability
	// Backend is true for a kind that needs the backend that made the
	// cluster beyond any ability (to start and stop nodes).
	Backend bool
	// New decodes and checks the params (defaults filled) and makes the nemesis.
	New func(p Params) (Nemesis, error)
}

func needs(a ...topology.Ability) func(Params) []topology.Ability {
	return func(Params) []topology.Ability { return a }
}

// Abilities are the backend abilities the kind uses with params p.
func (k Kind) Abilities(p Params) []topology.Ability {
	if k.Needs == nil {
		return nil
	}
	return k.Needs(p)
}

// NeedsBackend reports whether the kind, with params p, needs the backend
// that made the cluster; those that do not (failover, reshard) speak only
// Redis and work on a cluster given by address.
func (k Kind) NeedsBackend(p Params) bool {
	return k.Backend || len(k.Abilities(p)) > 0
}

// registry is every fault kind by name.
var registry = newRegistry(
	partitionKinds(), killKinds(), pauseKinds(), failoverKinds(),
	reshardKinds(), netemKinds(), membershipKinds(),
	diskKinds(),
)

func newRegistry(groups ...[]Kind) map[string]Kind {
	m := map[string]Kind{}
	for _, g := range groups {
		for _, k := range g {
			if _, dup := m[k.Name]; dup {
				panic("nemesis: fault kind " + k.Name + " registered twice")
			}
			if len(k.Targets) == 0 || k.New == nil {
				panic("nemesis: fault kind " + k.Name + " lacks targets or a constructor")
			}
			m[k.Name] = k
		}
	}
	return m
}

// Kinds lists the registered fault kinds, sorted by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the registered fault kinds' names, sorted.
func Names() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// Lookup finds a kind by name.
func Lookup(name string) (Kind, error) {
	k, ok := registry[name]
	if !ok {
		return Kind{}, fmt.Errorf("no fault %q: the faults are %s", name, strings.Join(Names(), ", "))
	}
	return k, nil
}

// Params are a fault's parameters as scenario files spell them.
type Params map[string]string

// WithDefaults returns the params with the kind's defaults filled in, or an
// error naming a parameter the kind does not know.
func (k Kind) WithDefaults(p map[string]string) (Params, error) {
	out := k.defaults()
	for key, v := range p {
		if _, ok := k.Params[key]; !ok {
			return nil, fmt.Errorf("%s: no parameter %q (it knows %s)", k.Name, key, strings.Join(sortedKeys(k.Params), ", "))
		}
		out[key] = v
	}
	return out, nil
}

// defaults are the kind's params with their default values.
func (k Kind) defaults() Params {
	out := Params{}
	for key, v := range k.Params {
		if v != "" {
			out[key] = v
		}
	}
	return out
}

// New makes the named nemesis from its params (defaults filled in).
func New(name string, params map[string]string) (Nemesis, error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	p, err := k.WithDefaults(params)
	if err != nil {
		return nil, err
	}
	n, err := k.New(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

func (p Params) str(key string) string { return p[key] }

func (p Params) duration(key string) (time.Duration, error) {
	v := p[key]
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 100ms", key, v)
	}
	return d, nil
}

func (p Params) float(key string) (float64, error) {
	v := p[key]
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a number", key, v)
	}
	return f, nil
}

func (p Params) int(key string) (int, error) {
	v := p[key]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a whole number ≥ 0", key, v)
	}
	return n, nil
}

func (p Params) bool(key string) (bool, error) {
	v := p[key]
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", key, v)
	}
	return b, nil
}

func (p Params) oneOf(key string, allowed ...string) (string, error) {
	v := p[key]
	if !slices.Contains(allowed, v) {
		return "", fmt.Errorf("%s=%q: want one of %s", key, v, strings.Join(allowed, ", "))
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// each runs f for 0..n-1 concurrently and joins the errors.
func each(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// onNodes is the common shape of faults that do one thing to each of a
// set of nodes and undo it on heal (kill, pause, netem).
type onNodes struct {
	name   string
	desc   string
	nodes  []topology.Node
	undo   func(ctx context.Context, n topology.Node) error
	detail map[string]any

	mu     sync.Mutex
	healed bool
}

func (f *onNodes) String() string { return f.desc }

func (f *onNodes) Nodes() []string { return addrsOf(f.nodes) }

func (f *onNodes) Details() map[string]any { return f.detail }

// Heal undoes the fault on every node; a heal that failed is tried again
// by the next call.
func (f *onNodes) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return nil
	}
	err := each(len(f.nodes), func(i int) error { return f.undo(ctx, f.nodes[i]) })
	if err != nil {
		return fmt.Errorf("heal %s: %w", f.desc, err)
	}
	f.healed = true
	return nil
}

// doOnNodes does act to every node concurrently; when any fails, it
// undoes what was done and returns the error.
func doOnNodes(ctx context.Context, name, desc string, nodes []topology.Node, act, undo func(ctx context.Context, n topology.Node) error) (*onNodes, error) {
	f := &onNodes{name: name, desc: desc, nodes: nodes, undo: undo}
	if err := each(len(nodes), func(i int) error { return act(ctx, nodes[i]) }); err != nil {
		if herr := f.Heal(context.WithoutCancel(ctx)); herr != nil {
			err = fmt.Errorf("%w (undoing it: %v)", err, herr)
		}
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	return f, nil
}

func addrsOf(nodes []topology.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr
	}
	return out
}

func namesOf(nodes []topology.Node) string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return strings.Join(out, ",")
}
