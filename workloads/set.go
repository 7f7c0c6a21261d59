package workloads

import "github.com/redis/go-redis/v9"

// setWorkload adds unique ints to sets, {set:<n>}: add (SADD). Reads
// (SMEMBERS, f read) come at the end (Final), and during the run only when
// the mix gives read a weight.
var setWorkload = builder{
	mix: []fWeight{{"add", 1}, {"read", 0}},
	generator: func(s Spec, ks *keyspace) generator {
		return &setGen{mix: mixOf(s), ks: ks}
	},
	final: func(tag string) []*call { return []*call{setRead(tag)} },
}

type setGen struct {
	mix []fWeight
	ks  *keyspace
}

func (s *setGen) next(g *gen) *call {
	f := g.pick(s.mix)
	key := tag(s.ks.name, s.ks.next(g))
	if f == "read" {
		return setRead(key)
	}
	e := g.unique()
	return &call{f: "add", key: key, value: e, mutates: true, cmds: [][]any{{"sadd", key, itoa(e)}}}
}

func setRead(key string) *call {
	return &call{f: "read", key: key, cmds: [][]any{{"smembers", key}},
		result: func(r []*redis.Cmd) (any, string) { return sortedInts(val(r[0])), "" }}
}
