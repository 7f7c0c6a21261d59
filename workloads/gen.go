package workloads

import (
	"math/rand/v2"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// gen is one worker's source of randomness and of unique values. Everything
// a worker generates comes from it and from the worker's own past ops, never
// from replies or timing, so that a seed replays the same ops.
type gen struct {
	rng    *rand.Rand
	worker int
	conc   int
	seq    int64
}

func newGen(seed int64, worker, conc int) *gen {
	return &gen{rng: rand.New(rand.NewPCG(uint64(seed), uint64(worker)+0x9e3779b97f4a7c15)), worker: worker, conc: conc}
}

// unique is a value no other op of the run writes: worker w's k-th value
// is k*conc + w + 1.
func (g *gen) unique() int64 {
	v := g.seq*int64(g.conc) + int64(g.worker) + 1
	g.seq++
	return v
}

// pick chooses an f from a mix by weight.
func (g *gen) pick(mix []fWeight) string {
	total := 0
	for _, fw := range mix {
		total += fw.w
	}
	r := g.rng.IntN(total)
	for _, fw := range mix {
		if r < fw.w {
			return fw.f
		}
		r -= fw.w
	}
	return mix[len(mix)-1].f
}

// keyspace hands one worker the keys of one workload: slots keys in use at
// once, the n-th of which is tag n. A worker sends at most per ops to each
// key, then moves that slot to a fresh key (n + slots); with per =
// OpsPerKey/Concurrency no key gets more than OpsPerKey ops from all
// workers, and the key of each op depends on the worker's own past alone.
type keyspace struct {
	name  string
	slots int
	per   int
	count []int
}

func newKeyspace(name string, slots, per int) *keyspace {
	return &keyspace{name: name, slots: slots, per: per, count: make([]int, slots)}
}

// next is the tag number of the worker's next op.
func (k *keyspace) next(g *gen) int {
	s := g.rng.IntN(k.slots)
	n := k.count[s]/k.per*k.slots + s
	k.count[s]++
	return n
}

// used lists every tag number this worker sent ops to.
func (k *keyspace) used() []int {
	var out []int
	for s, c := range k.count {
		if c == 0 {
			continue
		}
		for gen := 0; gen <= (c-1)/k.per; gen++ {
			out = append(out, gen*k.slots+s)
		}
	}
	return out
}

// tag is the hash tag of key space name's n-th key: "{register:12}", by
// the rule the checkers read it back with (history.Tag, history.SpaceOf).
func tag(name string, n int) string { return history.Tag(name, n) }

// call is one history op ready to run: what its invoke records, the
// commands that carry it out, and how their replies become its completion.
type call struct {
	f, key string
	// value is the invoke's value (and the completion's, unless result
	// says otherwise).
	value any
	// mutates is true when the op may change state (see Classify).
	mutates bool
	// cmds are the commands, each its arguments: one, or several when tx.
	cmds [][]any
	// tx runs cmds in MULTI/EXEC.
	tx bool
	// result reads the replies of an attempt that got no error: the
	// completion's value, or a failure's error text when the op did not
	// take effect (cas-mismatch). Nil means: the invoke's value.
	result func(replies []*redis.Cmd) (value any, fail string)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
