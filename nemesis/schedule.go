package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology"
)

// Spec is a scenario's nemesis: either Jepsen-style faults and an interval
// (fault, heal, fault… with the choices made by the run's seed) or an
// explicit timeline. Resolve turns either into a timeline, which the
// resolved scenario records so that a rerun replays the same faults at the
// same times.
type Spec struct {
	// Faults are kind names, each optionally with a target after "@"
	// ("kill", "partition@key-master:{set:0}"); the schedule picks among them.
	Faults []string `yaml:"faults,omitempty" json:"faults,omitempty"`
	// Interval is how long each fault lasts and how long the cluster then
	// runs healed before the next one (default 10 s).
	Interval time.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Timeline is an explicit schedule, instead of Faults.
	Timeline []Action `yaml:"timeline,omitempty" json:"timeline,omitempty"`
}

// DefaultInterval is Spec.Interval's default.
const DefaultInterval = 10 * time.Second

// MaxActions bounds a generated schedule (Spec.Faults with an interval).
const MaxActions = 10000

// Action is one fault of a timeline.
type Action struct {
	// At is when the fault starts, from the start of the run.
	At time.Duration `yaml:"at" json:"at"`
	// For is how long it lasts; 0 leaves it until the end of the run.
	For time.Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// Do is the fault's kind (Names lists them).
	Do string `yaml:"do" json:"do"`
	// Target chooses its nodes (see Target); empty means the kind's default.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Params are the kind's parameters.
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
}

// String is "kill primary at 10s for 10s (k=v)".
func (a Action) String() string {
	s := fmt.Sprintf("%s %s at %s", a.Do, a.Target, a.At)
	if a.For > 0 {
		s += " for " + a.For.String()
	}
	if len(a.Params) > 0 {
		var kv []string
		for _, k := range sortedKeys(a.Params) {
			kv = append(kv, k+"="+a.Params[k])
		}
		s += " (" + strings.Join(kv, " ") + ")"
	}
	return s
}

// Empty reports whether the spec asks for no fault at all.
func (s Spec) Empty() bool { return len(s.Faults) == 0 && len(s.Timeline) == 0 }

// resolveAction fills the action's default target and params and checks it.
func resolveAction(a Action) (Action, Kind, error) {
	k, err := Lookup(a.Do)
	if err != nil {
		return a, k, err
	}
	p, err := k.WithDefaults(a.Params)
	if err != nil {
		return a, k, err
	}
	if _, err := k.New(p); err != nil {
		return a, k, fmt.Errorf("%s: %w", a.Do, err)
	}
	if a.Target == "" {
		a.Target = k.Targets[0]
	}
	if err := Target(a.Target).Validate(); err != nil {
		return a, k, fmt.Errorf("%s: %w", a.Do, err)
	}
	if len(p) > 0 {
		a.Params = p
	} else {
		a.Params = nil
	}
	return a, k, nil
}

// parseFault splits "kind@target".
func parseFault(s string) (Action, error) {
	name, target, _ := strings.Cut(s, "@")
	a, _, err := resolveAction(Action{Do: strings.TrimSpace(name), Target: strings.TrimSpace(target)})
	return a, err
}

// Resolve returns the explicit timeline of the spec for a run of timeLimit:
// the timeline itself with defaults filled, sorted by start; or, for
// Faults, one fault every 2×Interval from Interval on, each lasting
// Interval (cut short at the time limit), the fault and, when the fault
// names none, its target chosen among the kind's by seed. The same seed
// gives the same timeline.
func (s Spec) Resolve(seed int64, timeLimit time.Duration) ([]Action, error) {
	if len(s.Faults) > 0 && len(s.Timeline) > 0 {
		return nil, errors.New("nemesis: give faults (with an interval) or a timeline, not both")
	}
	if timeLimit <= 0 {
		return nil, fmt.Errorf("nemesis: time limit %s: want a positive duration", timeLimit)
	}
	var out []Action
	if len(s.Timeline) > 0 {
		var errs []error
		for i, a := range s.Timeline {
			r, _, err := resolveAction(a)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("nemesis timeline action %d: %w", i+1, err))
			case a.At < 0 || a.For < 0:
				errs = append(errs, fmt.Errorf("nemesis timeline action %d (%s): at and for must not be negative", i+1, a.Do))
			case a.At >= timeLimit:
				errs = append(errs, fmt.Errorf("nemesis timeline action %d (%s at %s) starts after the run's %s time limit", i+1, a.Do, a.At, timeLimit))
			}
			out = append(out, r)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
		return out, nil
	}
	if len(s.Faults) == 0 {
		return nil, nil
	}
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	if n := (timeLimit - min(interval, timeLimit)) / interval / 2; n >= MaxActions {
		// 1ns over an hour would be 1.8e12 actions: refuse, do not allocate.
		return nil, fmt.Errorf("interval %s over a %s run makes %d faults; at most %d: lengthen the interval", interval, timeLimit, n, MaxActions)
	}
	var choices []Action
	for _, f := range s.Faults {
		a, err := parseFault(f)
		if err != nil {
			return nil, fmt.Errorf("nemesis fault %q: %w", f, err)
		}
		if !strings.Contains(f, "@") {
			a.Target = "" // chosen by the seed, per fault
		}
		choices = append(choices, a)
	}
	rnd := rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973))
	for t := interval; t < timeLimit; {
		a := choices[rnd.IntN(len(choices))]
		if a.Target == "" {
			k, _ := Lookup(a.Do)
			a.Target = k.Targets[rnd.IntN(len(k.Targets))]
		}
		a.At, a.For = t, min(interval, timeLimit-t)
		if a.Params != nil {
			p := make(map[string]string, len(a.Params))
			for k, v := range a.Params {
				p[k] = v
			}
			a.Params = p
		}
		out = append(out, a)
		if timeLimit-t <= 2*interval || 2*interval < interval {
			break // the next would start past the limit (or overflow)
		}
		t += 2 * interval
	}
	if len(out) == 0 {
		// Faults asked for and none scheduled: a run that reports valid
		// about faults that never happened.
		return nil, fmt.Errorf("no fault fits in the %s time limit: the first starts after one %s interval; raise the time limit above it or shorten the interval", timeLimit, interval)
	}
	return out, nil
}

// Validate refuses, before a run starts, the faults of spec that cannot
// run here, saying which and why: unknown kinds or parameters, faults that
// need the backend on a cluster given by address (backend nil), and faults
// the backend cannot do on this machine (no root for iptables…).
func Validate(spec Spec, backend topology.Backend) error {
	var actions []Action
	var errs []error
	for _, f := range spec.Faults {
		a, err := parseFault(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("nemesis fault %q: %w", f, err))
			continue
		}
		actions = append(actions, a)
	}
	if len(spec.Faults) > 0 && len(spec.Timeline) > 0 {
		errs = append(errs, errors.New("nemesis: give faults (with an interval) or a timeline, not both"))
	}
	for i, a := range spec.Timeline {
		r, _, err := resolveAction(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("nemesis timeline action %d: %w", i+1, err))
			continue
		}
		actions = append(actions, r)
	}
	checked := map[topology.Ability]error{}
	seen := map[string]bool{}
	for _, a := range actions {
		k, _ := Lookup(a.Do)
		p, _ := k.WithDefaults(a.Params)
		if k.NeedsBackend(p) && backend == nil {
			if !seen[a.Do+"\x00backend"] {
				errs = append(errs, fmt.Errorf("fault %q cannot run here: %w", a.Do, errNoBackend(a.Do)))
				seen[a.Do+"\x00backend"] = true
			}
			continue
		}
		for _, ab := range k.Abilities(p) {
			err, done := checked[ab]
			if !done {
				err = canFault(backend, ab)
				checked[ab] = err
			}
			if err != nil && !seen[a.Do+"\x00"+string(ab)] {
				errs = append(errs, fmt.Errorf("fault %q cannot run here: %w", a.Do, err))
				seen[a.Do+"\x00"+string(ab)] = true
			}
		}
	}
	return errors.Join(errs...)
}

// ValidateNames refuses, before a cluster of nodes nodes is made, the
// timeline's targets that name a node no backend will make: every backend
// names its nodes n1, n2, … (and add-node the next ones), so "n99" on six
// nodes can be refused before anything starts. Addresses (host:port) are
// left to CheckTargets, once the cluster exists.
func ValidateNames(timeline []Action, nodes int) error {
	adds := 0
	for _, a := range timeline {
		if a.Do == "add-node" {
			adds++
		}
	}
	var errs []error
	for i, a := range timeline {
		word, _, err := Target(a.Target).parse()
		if err != nil || word != "nodes" {
			continue
		}
		for _, name := range strings.Split(a.Target, ",") {
			if strings.Contains(name, ":") {
				continue
			}
			k, err := strconv.Atoi(strings.TrimPrefix(name, "n"))
			if !strings.HasPrefix(name, "n") || err != nil || k < 1 || k > nodes+adds {
				errs = append(errs, fmt.Errorf("nemesis action %d (%s): target %s: the cluster will have no node %q (its nodes are n1 to n%d)", i+1, a, a.Target, name, nodes+adds))
			}
		}
	}
	return errors.Join(errs...)
}

// canFault says whether backend has ability a here.
func canFault(b topology.Backend, a topology.Ability) error {
	switch a {
	case topology.AbilityLifecycle:
		if _, ok := b.(topology.Lifecycle); !ok {
			return fmt.Errorf("the %s backend cannot kill, restart or pause nodes", b.Name())
		}
	case topology.AbilityPartition, topology.AbilityNetem:
		if _, ok := b.(topology.Network); !ok {
			return fmt.Errorf("the %s backend cannot cut or degrade the network", b.Name())
		}
	}
	if fc, ok := b.(topology.FaultChecker); ok {
		return fc.CanFault(a)
	}
	return nil
}
