package workloads

import "github.com/redis/go-redis/v9"

// kvWorkload is string keys, {kv:<n>}: get (GET), put (SET) and append
// (APPEND). Every written string is a unique token, "<int>;", so a read
// splits into the writes it holds.
var kvWorkload = builder{
	mix:         []fWeight{{"append", 1}, {"get", 2}, {"put", 1}},
	pipelinable: true,
	generator: func(s Spec, ks *keyspace) generator {
		return &kvGen{mix: mixOf(s), ks: ks}
	},
	final: func(tag string) []*call { return []*call{kvGet(tag)} },
}

type kvGen struct {
	mix []fWeight
	ks  *keyspace
}

func (k *kvGen) next(g *gen) *call {
	f := g.pick(k.mix)
	key := tag(k.ks.name, k.ks.next(g))
	switch f {
	case "get":
		return kvGet(key)
	case "put":
		v := itoa(g.unique()) + ";"
		return &call{f: "put", key: key, value: v, mutates: true, cmds: [][]any{{"set", key, v}}}
	default:
		v := itoa(g.unique()) + ";"
		return &call{f: "append", key: key, value: v, mutates: true, cmds: [][]any{{"append", key, v}}}
	}
}

func kvGet(key string) *call {
	return &call{f: "get", key: key, cmds: [][]any{{"get", key}},
		result: func(r []*redis.Cmd) (any, string) {
			if s, ok := val(r[0]).(string); ok {
				return s, ""
			}
			return nil, ""
		}}
}
