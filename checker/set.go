package checker

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/checker/history"
)

// Set checks set keys (SADD of unique elements, SMEMBERS read at the end)
// for lost, unexpected and recovered elements, as Jepsen's set checker. A
// key's final read is its ok read invoked last.
type Set struct {
	Workloads []string
	Options   Options
}

// Name is "set".
func (c *Set) Name() string { return "set" }

// SetResult is results.json's checkers.set. The counts are of distinct
// elements, summed over the set keys.
type SetResult struct {
	Valid  Valid  `json:"valid"`
	Reason string `json:"reason,omitempty"`
	Keys   int    `json:"keys"`
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// Attempted elements had an add invoked; OK were acknowledged and are in
	// the final read; Lost were acknowledged before the final read was
	// invoked (or seen by an earlier read) and are not in it; Unexpected are
	// read but were never attempted; Recovered are read and their adds' outcome
	// was unknown; FailedPresent are read though every add of them failed;
	// Unconfirmed were acknowledged only after the final read was invoked
	// and are not in it, which proves nothing.
	Attempted     int `json:"attempted"`
	OK            int `json:"ok"`
	Lost          int `json:"lost"`
	Unexpected    int `json:"unexpected"`
	Recovered     int `json:"recovered"`
	FailedPresent int `json:"failed_present"`
	Unconfirmed   int `json:"unconfirmed"`
	// The elements behind the anomalies, the first MaxListed of each.
	LostElements          []SetElement `json:"lost_elements,omitempty"`
	UnexpectedElements    []SetElement `json:"unexpected_elements,omitempty"`
	FailedPresentElements []SetElement `json:"failed_present_elements,omitempty"`
	// NoFinalRead lists the keys with no ok read: nothing about them is known.
	NoFinalRead []string `json:"no_final_read,omitempty"`
	// Unrecognized counts ops of a shape the checker does not know.
	Unrecognized int `json:"unrecognized,omitempty"`
}

// Verdict is the result's verdict.
func (r *SetResult) Verdict() Valid { return r.Valid }

// SetElement is one element behind an anomaly: the add that wrote it (for a
// lost one, the acknowledged add) and the read that saw it.
type SetElement struct {
	Key     string `json:"key"`
	Element any    `json:"element"`
	Add     *OpRef `json:"add,omitempty"`
	Read    *OpRef `json:"read,omitempty"`
}

// Check judges the sets.
func (c *Set) Check(ctx context.Context, in *Input) Result {
	res := &SetResult{OpsJudged: map[string]int{}}
	sel := newSelector(c.Workloads, c.Options.Only)
	keys, groups := groupByKey(in, sel)
	res.Keys = len(keys)
	var reasons []string
	for _, key := range keys {
		if ctx.Err() != nil {
			res.Valid = Unknown
			res.Reason = "cancelled"
			return res
		}
		c.checkKey(in.Operations, key, groups[key], res)
		res.OpsJudged[sel.space(key)] += len(groups[key])
	}
	switch {
	case len(keys) == 0:
		res.Valid = Unknown
		reasons = append(reasons, fmt.Sprintf("no operations of %v in the history", c.Workloads))
	case res.Lost > 0 || res.Unexpected > 0 || res.FailedPresent > 0:
		res.Valid = False
		reasons = append(reasons, tally(count{res.Lost, "lost"}, count{res.Unexpected, "unexpected"}, count{res.FailedPresent, "failed yet present"}))
	case len(res.NoFinalRead) > 0 || res.Unrecognized > 0:
		res.Valid = Unknown
	default:
		res.Valid = True
	}
	if n := len(res.NoFinalRead); n > 0 {
		reasons = append(reasons, fmt.Sprintf("%d keys have no final read (%s)", n, keyList(res.NoFinalRead, n)))
	}
	if res.Unrecognized > 0 {
		reasons = append(reasons, fmt.Sprintf("%d ops of an unknown shape were left out", res.Unrecognized))
	}
	res.Reason = joinReasons(reasons)
	return res
}

type setAdds struct {
	value any
	ops   []int
}

func (c *Set) checkKey(all []history.Operation, key string, ops []int, res *SetResult) {
	adds := map[string]*setAdds{}
	var order []string // elements in first-add order, for stable lists
	var reads []int
	for _, i := range ops {
		o := &all[i]
		switch o.Invoke.F {
		case "add":
			e := redisCanon(o.Invoke.Value)
			a, ok := adds[e]
			if !ok {
				a = &setAdds{value: o.Invoke.Value}
				adds[e] = a
				order = append(order, e)
			}
			a.ops = append(a.ops, i)
		case "read":
			if o.Type() != history.OK {
				continue
			}
			if _, ok := asList(o.Complete.Value); !ok {
				res.Unrecognized++
				continue
			}
			reads = append(reads, i)
		default:
			res.Unrecognized++
		}
	}
	res.Attempted += len(adds)

	// Every ok read: unexpected and failed-yet-present elements, and what
	// was seen before the final read.
	final := lastRead(all, reads)
	var finalInvoke int64
	if final >= 0 {
		finalInvoke = all[final].Invoke.Time
	}
	seen := map[string]int{} // element → a read that completed before the final one began
	flagged := map[string]bool{}
	for _, r := range reads {
		list, _ := asList(all[r].Complete.Value)
		for _, v := range list {
			e := redisCanon(v)
			a, attempted := adds[e]
			if !attempted || !everTried(all, a.ops) {
				if !flagged[e] {
					flagged[e] = true
					rr := Ref(all[r])
					el := SetElement{Key: key, Element: v, Read: &rr}
					if !attempted {
						res.Unexpected++
						res.UnexpectedElements = capped(res.UnexpectedElements, el)
					} else {
						ar := Ref(all[a.ops[0]])
						el.Add = &ar
						res.FailedPresent++
						res.FailedPresentElements = capped(res.FailedPresentElements, el)
					}
				}
				continue
			}
			if _, ok := seen[e]; !ok && r != final && all[r].Complete.Time < finalInvoke {
				seen[e] = r
			}
		}
	}
	if final < 0 {
		res.NoFinalRead = capped(res.NoFinalRead, key)
		return
	}

	present := map[string]bool{}
	list, _ := asList(all[final].Complete.Value)
	for _, v := range list {
		present[redisCanon(v)] = true
	}
	for _, e := range order {
		a := adds[e]
		acked, ackedBefore := -1, -1
		for _, i := range a.ops {
			o := &all[i]
			if o.Type() != history.OK {
				continue
			}
			if acked < 0 {
				acked = i
			}
			if o.Complete.Time < finalInvoke && ackedBefore < 0 {
				ackedBefore = i
			}
		}
		switch {
		case present[e] && acked >= 0:
			res.OK++
		case present[e] && everTried(all, a.ops):
			res.Recovered++
		case present[e]:
			// counted above as failed yet present
		case ackedBefore >= 0:
			ar := Ref(all[ackedBefore])
			res.Lost++
			res.LostElements = capped(res.LostElements, SetElement{Key: key, Element: a.value, Add: &ar})
		case hasKey(seen, e):
			ar, rr := Ref(all[a.ops[0]]), Ref(all[seen[e]])
			res.Lost++
			res.LostElements = capped(res.LostElements, SetElement{Key: key, Element: a.value, Add: &ar, Read: &rr})
		case acked >= 0:
			res.Unconfirmed++
		}
	}
}

// everTried is true when some op of ops may have taken effect (ok or info).
func everTried(all []history.Operation, ops []int) bool {
	for _, i := range ops {
		if all[i].Type() != history.Fail {
			return true
		}
	}
	return false
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
