package workloads

import "github.com/redis/go-redis/v9"

// listKeys are the keys under one list-append hash tag: a transaction may
// touch several of them, since they share a slot.
var listKeys = []string{":a", ":b", ":c"}

// listAppendWorkload is the list-append workload, judged by the checker of
// the same name (checker/listappend.go): lists {list-append:<n>}:a, :b and
// :c; append (RPUSH of a unique int), read (LRANGE 0 -1) and txn (2 to 4
// of those on one tag in MULTI/EXEC, value [["append", key, elem] | ["r",
// key, list]…]).
var listAppendWorkload = builder{
	mix: []fWeight{{"append", 2}, {"read", 1}, {"txn", 1}},
	generator: func(s Spec, ks *keyspace) generator {
		return &listGen{mix: mixOf(s), ks: ks}
	},
	final: func(t string) []*call {
		out := make([]*call, len(listKeys))
		for i, k := range listKeys {
			out[i] = listRead(t + k)
		}
		return out
	},
}

type listGen struct {
	mix []fWeight
	ks  *keyspace
}

func (l *listGen) next(g *gen) *call {
	f := g.pick(l.mix)
	t := tag(l.ks.name, l.ks.next(g))
	switch f {
	case "read":
		return listRead(t + listKeys[g.rng.IntN(len(listKeys))])
	case "append":
		key := t + listKeys[g.rng.IntN(len(listKeys))]
		e := g.unique()
		return &call{f: "append", key: key, value: e, mutates: true, cmds: [][]any{{"rpush", key, itoa(e)}}}
	}
	mops := make([]any, 2+g.rng.IntN(3))
	for i := range mops {
		key := t + listKeys[g.rng.IntN(len(listKeys))]
		if g.rng.IntN(2) == 0 {
			mops[i] = []any{"append", key, g.unique()}
		} else {
			mops[i] = []any{"r", key, nil}
		}
	}
	return listTxn(t+listKeys[0], mops)
}

// listTxn is a MULTI/EXEC of micro-ops ["append", key, elem] and ["r", key,
// nil] on keys of one tag; its ok value fills each read's list in.
func listTxn(key string, mops []any) *call {
	c := &call{f: "txn", key: key, value: mops, tx: true}
	for _, m := range mops {
		m := m.([]any)
		if m[0] == "append" {
			c.cmds = append(c.cmds, []any{"rpush", m[1], itoa(m[2].(int64))})
			c.mutates = true
		} else {
			c.cmds = append(c.cmds, []any{"lrange", m[1], 0, -1})
		}
	}
	c.result = func(r []*redis.Cmd) (any, string) {
		out := make([]any, len(mops))
		for i, m := range mops {
			m := m.([]any)
			if m[0] == "r" {
				out[i] = []any{"r", m[1], ints(val(r[i]))}
			} else {
				out[i] = m
			}
		}
		return out, ""
	}
	return c
}

func listRead(key string) *call {
	return &call{f: "read", key: key, cmds: [][]any{{"lrange", key, 0, -1}},
		result: func(r []*redis.Cmd) (any, string) { return ints(val(r[0])), "" }}
}
