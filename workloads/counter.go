package workloads

// counterWorkload is counters, {counter:<n>}: incr (INCRBY of 1 to 5, the
// value being the increment) and read (GET: an int, or null before the
// first increment).
var counterWorkload = builder{
	mix: []fWeight{{"incr", 1}, {"read", 1}},
	generator: func(s Spec, ks *keyspace) generator {
		return &counterGen{mix: mixOf(s), ks: ks}
	},
	final: func(tag string) []*call { return []*call{registerRead(tag)} },
}

type counterGen struct {
	mix []fWeight
	ks  *keyspace
}

func (c *counterGen) next(g *gen) *call {
	f := g.pick(c.mix)
	key := tag(c.ks.name, c.ks.next(g))
	if f == "read" {
		return registerRead(key)
	}
	d := int64(1 + g.rng.IntN(5))
	return &call{f: "incr", key: key, value: d, mutates: true, cmds: [][]any{{"incrby", key, d}}}
}
