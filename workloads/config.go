package workloads

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// Config is the client side of a run: which workloads, how many clients,
// how hard they push, how they retry. Zero values mean defaults
// (WithDefaults fills them, so a resolved scenario says exactly what ran).
type Config struct {
	// Workloads are mixed: before each op a worker picks one by weight.
	// Default: register alone.
	Workloads []Spec `yaml:"workloads" json:"workloads"`
	// Concurrency is the number of workers, each one client process at a
	// time (default 10).
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// OpsPerKey is the most ops one key receives (default 1000); then the
	// workload moves to a fresh key. Every worker gets an equal share,
	// OpsPerKey/Concurrency, of each key's ops.
	OpsPerKey int `yaml:"ops_per_key" json:"ops_per_key"`
	// Keys is the number of keys (hash tags) each workload uses at once
	// (default 4). The pipeline workload uses Keys × its batch size, so
	// that a key sees about as many ops at once as under single ops: the
	// ops of one batch share its interval, and many of them on one key are
	// more than the linearizability search can order.
	Keys int `yaml:"keys" json:"keys"`
	// OpTimeout bounds each wait of an op's attempts (default 1 s): for a
	// connection, to connect, to send, for the reply (go-redis's
	// PoolTimeout, DialTimeout, WriteTimeout and ReadTimeout).
	OpTimeout time.Duration `yaml:"op_timeout" json:"op_timeout"`
	// Rate caps the ops per second of all workers together; 0 is no cap.
	Rate float64 `yaml:"rate" json:"rate"`
	// Retry is how an op is retried after errors that prove it did not run.
	Retry RetryPolicy `yaml:"retry" json:"retry"`
	// Seed fixes every choice of the generators: the same seed, worker for
	// worker, generates the same ops.
	Seed int64 `yaml:"seed" json:"seed"`
	// Progress, if set, is called about every second while Run runs, and once
	// at its end, with the completions so far.
	Progress func(ok, fail, info int64) `yaml:"-" json:"-"`
}

// Spec is one workload of the mix.
type Spec struct {
	// Name is a registered workload (Names).
	Name string `yaml:"name" json:"name"`
	// Weight is the workload's share of the ops (default 1).
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Pipeline is the pipeline workload's commands per batch (default 10).
	Pipeline int `yaml:"pipeline,omitempty" json:"pipeline,omitempty"`
	// Of is what the pipeline workload pipelines: "register" (default) or "kv".
	Of string `yaml:"of,omitempty" json:"of,omitempty"`
	// Mix weighs the ops (fs) the workload generates, e.g. {get: 1, put: 1}
	// for kv. Default: each workload's own mix (see doc.go).
	Mix map[string]int `yaml:"mix,omitempty" json:"mix,omitempty"`
}

// RetryPolicy is how an op is retried, inside the op (one history op, its
// attempts unseen by the history), after an error whose kind is in RetryOn.
// Backoff doubles from MinBackoff up to MaxBackoff; it waits on timers and
// stops when the run's context ends.
type RetryPolicy struct {
	// MaxRetries is the most retries of one op (default 5; -1 for none).
	MaxRetries int `yaml:"max_retries" json:"max_retries"`
	// MinBackoff is the wait before the first retry (default 10 ms).
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff"`
	// MaxBackoff caps the wait (default 500 ms).
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff"`
	// RetryOn are the kinds of error retried (see Kinds; default CLUSTERDOWN,
	// MOVED, ASK, TRYAGAIN and connect: errors that prove the command was
	// not executed). Kinds that leave it unknown (timeout, EOF, reset…) may
	// be added; a write retried after one of them is recorded info even when
	// a later attempt succeeds.
	RetryOn []string `yaml:"retry_on" json:"retry_on"`
}

// Defaults of Config.
const (
	DefaultConcurrency = 10
	DefaultOpsPerKey   = 1000
	DefaultKeys        = 4
	DefaultOpTimeout   = time.Second
	DefaultPipeline    = 10
	DefaultMaxRetries  = 5
	DefaultMinBackoff  = 10 * time.Millisecond
	DefaultMaxBackoff  = 500 * time.Millisecond
	// MaxConcurrency is the most workers a run may have.
	MaxConcurrency = 10000
)

// DefaultRetryOn is RetryPolicy.RetryOn's default.
func DefaultRetryOn() []string {
	return []string{KindClusterDown, KindMoved, KindAsk, KindTryAgain, KindConnect}
}

// WithDefaults returns c with every zero field filled.
func (c Config) WithDefaults() Config {
	if len(c.Workloads) == 0 {
		c.Workloads = []Spec{{Name: "register"}}
	} else {
		c.Workloads = slices.Clone(c.Workloads)
	}
	for i := range c.Workloads {
		c.Workloads[i] = c.Workloads[i].WithDefaults()
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.OpsPerKey == 0 {
		c.OpsPerKey = DefaultOpsPerKey
	}
	if c.Keys == 0 {
		c.Keys = DefaultKeys
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	c.Retry = c.Retry.WithDefaults()
	return c
}

// WithDefaults returns s with its weight, pipeline parameters and mix filled.
func (s Spec) WithDefaults() Spec {
	if s.Weight == 0 {
		s.Weight = 1
	}
	if s.Name == "pipeline" {
		if s.Pipeline == 0 {
			s.Pipeline = DefaultPipeline
		}
		if s.Of == "" {
			s.Of = "register"
		}
	}
	b, ok := registry[s.Name]
	if !ok || len(s.Mix) > 0 {
		return s
	}
	if s.Name == "pipeline" {
		if b, ok = registry[s.Of]; !ok {
			return s
		}
	}
	s.Mix = map[string]int{}
	for _, fw := range b.mix {
		s.Mix[fw.f] = fw.w
	}
	return s
}

// WithDefaults returns p with every zero field filled.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.RetryOn == nil {
		p.RetryOn = DefaultRetryOn()
	}
	return p
}

// Validate says what is wrong with c, naming the field as scenario files
// spell it. It accepts zero values (they mean defaults).
func (c Config) Validate() error {
	seen := map[string]int{}
	for i, s := range c.Workloads {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("workloads[%d]: %w", i, err)
		}
		sp := s.WithDefaults().space()
		if j, dup := seen[sp]; dup {
			return fmt.Errorf("workloads[%d]: %s is already workloads[%d]: list each workload once and give it a weight", i, describe(s), j)
		}
		seen[sp] = i
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		return fmt.Errorf("concurrency %d: want 1 to %d workers (0 means %d)", c.Concurrency, MaxConcurrency, DefaultConcurrency)
	}
	if c.OpsPerKey < 0 {
		return fmt.Errorf("ops_per_key %d: want a positive number (0 means %d)", c.OpsPerKey, DefaultOpsPerKey)
	}
	if c.Keys < 0 || c.Keys > 1_000_000 {
		return fmt.Errorf("keys %d: want 1 to 1000000 keys at once per workload (0 means %d)", c.Keys, DefaultKeys)
	}
	d := c.WithDefaults()
	if d.OpsPerKey < d.Concurrency {
		return fmt.Errorf("ops_per_key %d is less than concurrency %d: every worker needs at least one op of each key; raise ops_per_key or lower concurrency", d.OpsPerKey, d.Concurrency)
	}
	if c.OpTimeout < 0 {
		return fmt.Errorf("op_timeout %s: want a positive duration, e.g. 1s", c.OpTimeout)
	}
	if c.Rate < 0 {
		return fmt.Errorf("rate %g: want ops per second ≥ 0 (0 is no cap)", c.Rate)
	}
	if err := c.Retry.Validate(); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	return nil
}

func describe(s Spec) string {
	if s.Name == "pipeline" {
		return fmt.Sprintf("pipeline of %s", s.WithDefaults().Of)
	}
	return s.Name
}

// Validate says what is wrong with s.
func (s Spec) Validate() error {
	b, ok := registry[s.Name]
	if !ok {
		return fmt.Errorf("workload %q: want one of %s", s.Name, strings.Join(Names(), ", "))
	}
	if s.Weight < 0 {
		return fmt.Errorf("%s: weight %d: want a positive share (0 means 1)", s.Name, s.Weight)
	}
	if s.Name != "pipeline" && (s.Pipeline != 0 || s.Of != "") {
		return fmt.Errorf("%s: pipeline and of belong to the pipeline workload", s.Name)
	}
	if s.Name == "pipeline" {
		if s.Pipeline < 0 || s.Pipeline > 10000 {
			return fmt.Errorf("pipeline: pipeline %d: want 1 to 10000 commands per batch (0 means %d)", s.Pipeline, DefaultPipeline)
		}
		of := s.WithDefaults().Of
		if b, ok = registry[of]; !ok || !b.pipelinable {
			return fmt.Errorf("pipeline: of %q: want register or kv", of)
		}
	}
	if _, ok := s.Space(); !ok {
		return fmt.Errorf("%s writes no key space of history's table, so no checker would judge it", describe(s))
	}
	if len(s.Mix) > 0 {
		total := 0
		for f, w := range s.Mix {
			if !b.has(f) {
				return fmt.Errorf("%s: mix %s: want some of %s", describe(s), f, strings.Join(b.fs(), ", "))
			}
			if w < 0 {
				return fmt.Errorf("%s: mix %s: %d: want a weight ≥ 0", describe(s), f, w)
			}
			total += w
		}
		if total == 0 {
			return fmt.Errorf("%s: mix: every weight is 0: give at least one op a positive weight", describe(s))
		}
	}
	return nil
}

// Validate says what is wrong with p.
func (p RetryPolicy) Validate() error {
	if p.MaxRetries < -1 {
		return fmt.Errorf("max_retries %d: want ≥ 0, or -1 for no retries (0 means %d)", p.MaxRetries, DefaultMaxRetries)
	}
	if p.MinBackoff < 0 || p.MaxBackoff < 0 {
		return fmt.Errorf("min_backoff %s, max_backoff %s: want positive durations", p.MinBackoff, p.MaxBackoff)
	}
	d := p.WithDefaults()
	if d.MinBackoff > d.MaxBackoff {
		return fmt.Errorf("min_backoff %s is more than max_backoff %s", d.MinBackoff, d.MaxBackoff)
	}
	kinds := Kinds()
	for _, k := range p.RetryOn {
		if !slices.Contains(kinds, k) {
			return fmt.Errorf("retry_on %q: want some of %s", k, strings.Join(kinds, ", "))
		}
		if k == KindCrossSlot {
			return fmt.Errorf("retry_on %s: a CROSSSLOT command fails the same way every time", k)
		}
	}
	return nil
}

// Space is the key space s writes, as history's table of spaces says: the
// name in its keys' hash tags and the checker that judges them. ok is false
// for a workload the table does not know (Validate refuses it).
func (s Spec) Space() (history.Space, bool) {
	return history.SpaceFor(s.Name, s.WithDefaults().Of)
}

// keys is how many keys s uses at once when the run's Keys is keys: a
// pipeline batch's ops spread over its size times as many.
func (s Spec) keys(keys int) int {
	if registry[s.Name].pipeline {
		return keys * max(s.Pipeline, 1)
	}
	return keys
}

// space is the name in s's keys' hash tags.
func (s Spec) space() string {
	if sp, ok := s.Space(); ok {
		return sp.Name
	}
	return s.Name
}

// mixOf is s's mix as an ordered list (sorted by f, so that picking by
// weight is deterministic).
func mixOf(s Spec) []fWeight {
	var out []fWeight
	for f, w := range s.Mix {
		if w > 0 {
			out = append(out, fWeight{f, w})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].f < out[j].f })
	return out
}
