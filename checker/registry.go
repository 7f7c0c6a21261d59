package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"
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
	// Only, when set, makes every client op count as this workload whatever
	// its key: `harness check --workload W` on a history from elsewhere,
	// whose keys carry no hash tag of ours.
	Only string
}

func (o Options) timeout() time.Duration {
	if o.CheckTimeout <= 0 {
		return DefaultCheckTimeout
	}
	return o.CheckTimeout
}

// checkerKinds maps every workload to the checker that judges it. Checkers
// of one kind are built once, with all of the run's workloads of that kind.
var checkerKinds = map[string]string{
	"register":    "linearizable",
	"kv":          "linearizable",
	"pipeline":    "linearizable",
	"set":         "set",
	"counter":     "counter",
	"list-append": "list-append",
	"multikey":    "multikey",
}

// kindOrder is the order of the checkers in results.json and reports.
var kindOrder = []string{"linearizable", "set", "counter", "list-append", "multikey"}

// constructors build a checker of a kind for some workloads.
var constructors = map[string]func(workloads []string, opts Options) Checker{
	"linearizable": func(w []string, o Options) Checker { return &Linearizable{Workloads: w, Options: o} },
	"set":          func(w []string, o Options) Checker { return &Set{Workloads: w, Options: o} },
	"counter":      func(w []string, o Options) Checker { return &Counter{Workloads: w, Options: o} },
	"list-append":  func(w []string, o Options) Checker { return &ListAppend{Workloads: w, Options: o} },
	"multikey":     func(w []string, o Options) Checker { return &Multikey{Workloads: w, Options: o} },
}

// KnownWorkloads lists the workload names ForWorkloads accepts, sorted.
func KnownWorkloads() []string {
	out := make([]string, 0, len(checkerKinds))
	for w := range checkerKinds {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// ForWorkloads returns the checkers for a run's workloads (register, kv and
// pipeline share the linearizable checker) followed by slots and stats,
// which every run gets. With opts.Only set and no names, the names are
// [opts.Only].
func ForWorkloads(names []string, opts Options) ([]Checker, error) {
	if opts.Only != "" {
		if _, ok := checkerKinds[opts.Only]; !ok {
			return nil, unknownWorkload(opts.Only)
		}
		if len(names) == 0 {
			names = []string{opts.Only}
		}
	}
	byKind := map[string][]string{}
	seen := map[string]bool{}
	for _, n := range names {
		kind, ok := checkerKinds[n]
		if !ok {
			return nil, unknownWorkload(n)
		}
		if !seen[n] {
			seen[n] = true
			byKind[kind] = append(byKind[kind], n)
		}
	}
	var out []Checker
	for _, kind := range kindOrder {
		if ws := byKind[kind]; len(ws) > 0 {
			out = append(out, constructors[kind](ws, opts))
		}
	}
	return append(out, &Slots{}, &Stats{}), nil
}

func unknownWorkload(name string) error {
	return fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(KnownWorkloads(), ", "))
}
