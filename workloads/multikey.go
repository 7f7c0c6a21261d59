package workloads

import "github.com/redis/go-redis/v9"

// multikeyKeys are the keys under one multikey hash tag; the op's key is
// the first.
var multikeyKeys = []string{":a", ":b", ":c"}

// crossSlotKeys are what the crossslot probe mixes: keys of two tags that
// hash to different slots (a test checks it), outside the tags the
// workload writes ({multikey:<n>} has n ≥ 0), so that a probe Redis wrongly
// accepted would not disturb the mset/mget keys.
var crossSlotKeys = []string{"{multikey:-1}:a", "{multikey:-2}:a"}

// multikeyWorkload is groups of keys under one hash tag, {multikey:<n>}:a,
// :b and :c: mset (MSET of one unique int to all, value {key: int}), mget
// (MGET of all, value {key: int|null}) and crossslot (MSET or MGET over
// two tags, which Redis must refuse with CROSSSLOT; value ["mset", {key:
// int}] or ["mget", [keys]]).
var multikeyWorkload = builder{
	mix: []fWeight{{"crossslot", 1}, {"mget", 10}, {"mset", 10}},
	generator: func(s Spec, ks *keyspace) generator {
		return &multikeyGen{mix: mixOf(s), ks: ks}
	},
	final: func(t string) []*call { return []*call{mget(t)} },
}

type multikeyGen struct {
	mix []fWeight
	ks  *keyspace
}

func (m *multikeyGen) next(g *gen) *call {
	switch g.pick(m.mix) {
	case "crossslot":
		return crossSlot(g)
	case "mget":
		return mget(tag(m.ks.name, m.ks.next(g)))
	}
	t := tag(m.ks.name, m.ks.next(g))
	v := g.unique()
	vals := map[string]any{}
	args := []any{"mset"}
	for _, k := range multikeyKeys {
		vals[t+k] = v
		args = append(args, t+k, itoa(v))
	}
	return &call{f: "mset", key: t + multikeyKeys[0], value: vals, mutates: true, cmds: [][]any{args}}
}

func mget(t string) *call {
	args := []any{"mget"}
	for _, k := range multikeyKeys {
		args = append(args, t+k)
	}
	return &call{f: "mget", key: t + multikeyKeys[0], cmds: [][]any{args},
		result: func(r []*redis.Cmd) (any, string) { return keyed(args[1:], val(r[0])), "" }}
}

// keyed pairs the keys of an MGET with its reply.
func keyed(keys []any, reply any) map[string]any {
	arr, _ := reply.([]any)
	out := make(map[string]any, len(keys))
	for i, k := range keys {
		var v any
		if i < len(arr) {
			v = intOrNil(arr[i])
		}
		out[k.(string)] = v
	}
	return out
}

func crossSlot(g *gen) *call {
	c := &call{f: "crossslot", key: crossSlotKeys[0]}
	if g.rng.IntN(2) == 0 {
		v := g.unique()
		vals := map[string]any{}
		args := []any{"mset"}
		for _, k := range crossSlotKeys {
			vals[k] = v
			args = append(args, k, itoa(v))
		}
		c.value, c.mutates, c.cmds = []any{"mset", vals}, true, [][]any{args}
		c.result = func([]*redis.Cmd) (any, string) { return []any{"mset", vals}, "" }
		return c
	}
	args := []any{"mget"}
	keys := make([]any, len(crossSlotKeys))
	for i, k := range crossSlotKeys {
		args = append(args, k)
		keys[i] = k
	}
	c.value, c.cmds = []any{"mget", keys}, [][]any{args}
	c.result = func(r []*redis.Cmd) (any, string) { return []any{"mget", keyed(keys, val(r[0]))}, "" }
	return c
}
