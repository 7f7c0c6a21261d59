package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// DefaultCheckTimeout is the linearizability search budget when
// Options.CheckTimeout is zero.
const DefaultCheckTimeout = 60 * time.Second

// Options configures the checkers ForWorkloads builds.
type Options struct {
	// CheckTimeout is the linearizability search budget for the whole
	// history; keys it does not decide make the verdict unknown. Zero means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	// CheckMemory is the memory ceiling of the linearizability search, in
	// bytes: past it the search stops and the keys it was on are unknown.
	// Zero means DefaultCheckMemory(). ExplainTimeout and ExplainMemory
	// bound the explanation of the failing keys (zero: 10 s, 1 GiB of
	// live heap), ShrinkTimeout the shrinking of each key's witness (zero:
	// 5 s) and MaxWitnesses how many keys get one (zero: 20); see budget.go.
	CheckMemory    int64
	ExplainTimeout time.Duration
	ExplainMemory  int64
	ShrinkTimeout  time.Duration
	MaxWitnesses   int
	// Only, when set, makes every client op count as this workload whatever
	// its key: `harness check --workload W` on a history from elsewhere,
	// whose keys carry no hash tag of ours.
	Only string
	// searchOnly skips the direct walk (direct.go), so that every key is
	// searched: what tests and benchmarks of the search alone set.
	searchOnly bool
}

func (o Options) timeout() time.Duration {
	if o.CheckTimeout <= 0 {
		return DefaultCheckTimeout
	}
	return o.CheckTimeout
}

// constructors build a checker of a kind for some key spaces. Which kind
// judges which space is history's table of spaces (history.Spaces), the
// one the workloads name their keys by; a test fails when a kind of the
// table has no constructor here, or a constructor no space.
var constructors = map[string]func(spaces []string, opts Options) Checker{
	history.CheckLinearizable: func(w []string, o Options) Checker { return &Linearizable{Workloads: w, Options: o} },
	history.CheckSet:          func(w []string, o Options) Checker { return &Set{Workloads: w, Options: o} },
	history.CheckCounter:      func(w []string, o Options) Checker { return &Counter{Workloads: w, Options: o} },
	history.CheckListAppend:   func(w []string, o Options) Checker { return &ListAppend{Workloads: w, Options: o} },
	history.CheckMultikey:     func(w []string, o Options) Checker { return &Multikey{Workloads: w, Options: o} },
}

// KnownWorkloads lists the names ForWorkloads accepts, sorted: the
// workloads and their key spaces (history.Spaces).
func KnownWorkloads() []string {
	var out []string
	for _, s := range history.Spaces() {
		for _, n := range []string{s.Workload, s.Name} {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ForWorkloads returns the checkers for a run's workloads followed by
// slots, recovery and stats, which every run gets. A name is a key space or
// a workload, which means every space it may write ("pipeline":
// pipeline-register and pipeline-kv); each checker gets the spaces of the
// table it judges, in the order given. With opts.Only set and no names, the names are
// [opts.Only].
func ForWorkloads(names []string, opts Options) ([]Checker, error) {
	if opts.Only != "" {
		if len(history.SpacesOf(opts.Only)) == 0 {
			return nil, unknownWorkload(opts.Only)
		}
		if len(names) == 0 {
			names = []string{opts.Only}
		}
	}
	byKind := map[string][]string{}
	for _, n := range names {
		sps := history.SpacesOf(n)
		if len(sps) == 0 {
			return nil, unknownWorkload(n)
		}
		for _, sp := range sps {
			if !slices.Contains(byKind[sp.Checker], sp.Name) {
				byKind[sp.Checker] = append(byKind[sp.Checker], sp.Name)
			}
		}
	}
	var out []Checker
	for _, kind := range history.SpaceCheckers() {
		if ws := byKind[kind]; len(ws) > 0 {
			out = append(out, constructors[kind](ws, opts))
		}
	}
	return append(out, &Slots{}, &Recovery{}, &Stats{}), nil
}

func unknownWorkload(name string) error {
	return fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(KnownWorkloads(), ", "))
}
