package workloads

import "github.com/redis/go-redis/v9"

// casScript swaps a register's value when it is the expected one: 1 if it
// swapped, 0 if the value differed (then nothing was written).
const casScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`

// registerWorkload is a single-value register per key, {register:<n>}:
// read (GET), write (SET of a unique int) and cas (casScript).
var registerWorkload = builder{
	mix:         []fWeight{{"cas", 1}, {"read", 1}, {"write", 1}},
	pipelinable: true,
	generator: func(s Spec, ks *keyspace) generator {
		return &registerGen{mix: mixOf(s), ks: ks, last: map[int]int64{}}
	},
	final: func(tag string) []*call { return []*call{registerRead(tag)} },
}

type registerGen struct {
	mix  []fWeight
	ks   *keyspace
	last map[int]int64 // per key, the value this worker last wrote or swapped in
}

func (r *registerGen) next(g *gen) *call {
	f := g.pick(r.mix)
	n := r.ks.next(g)
	key := tag(r.ks.name, n)
	if f == "read" {
		return registerRead(key)
	}
	old, known := r.last[n]
	v := g.unique()
	r.last[n] = v
	if f == "cas" && known {
		// The old value is this worker's own last write: a guess that holds
		// when no other worker wrote since, and that never depends on a reply.
		return &call{f: "cas", key: key, value: []any{old, v}, mutates: true,
			cmds: [][]any{{"eval", casScript, 1, key, itoa(old), itoa(v)}},
			result: func(r []*redis.Cmd) (any, string) {
				if n, _ := r[0].Val().(int64); n == 1 {
					return []any{old, v}, ""
				}
				return nil, "cas-mismatch"
			}}
	}
	// A cas with nothing to compare against is a write.
	return &call{f: "write", key: key, value: v, mutates: true, cmds: [][]any{{"set", key, itoa(v)}}}
}

func registerRead(key string) *call {
	return &call{f: "read", key: key, cmds: [][]any{{"get", key}},
		result: func(r []*redis.Cmd) (any, string) { return intOrNil(val(r[0])), "" }}
}
