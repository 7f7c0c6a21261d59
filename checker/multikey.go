package checker

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/checker/history"
)

// Multikey checks the atomicity of multi-key ops on one hash tag: an MGET
// must never show a mix of two MSETs (a torn read), and CROSSSLOT probes,
// multi-key ops over keys of different slots, must be refused.
//
// An `mset` writes either one value to every key of its tag (value: a
// scalar) or a value per key (value: a map key → value); an `mget` reads a
// map key → value, or a list of values (keyed by the invocation's list of
// keys when it has one). Keys are never deleted. A read is torn when two of
// its keys k1, k2 hold values that no single write explains and that no
// interleaving of atomic writes can produce: k1's value comes only from
// writes that also wrote k2, and k2's (or k2's null) from none of those,
// while k2's writers all wrote k1 too. Reads of tags written piecemeal
// (different key sets) are judged with the same rule, which never blames a
// state that some order of atomic writes could produce.
type Multikey struct {
	Workloads []string
	Options   Options
}

// Name is "multikey".
func (c *Multikey) Name() string { return "multikey" }

// MultikeyResult is results.json's checkers.multikey.
type MultikeyResult struct {
	Valid  Valid  `json:"valid"`
	Reason string `json:"reason,omitempty"`
	Tags   int    `json:"tags"`
	Writes int    `json:"writes"`
	Reads  int    `json:"reads"`
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// Torn reads mix writes (the first MaxListed; Torn is exact).
	Torn      int        `json:"torn"`
	TornReads []TornRead `json:"torn_reads,omitempty"`
	// Unexpected values were read but no write that may have happened
	// wrote them there.
	Unexpected       int             `json:"unexpected"`
	UnexpectedValues []MultikeyValue `json:"unexpected_values,omitempty"`
	Crossslot        CrossslotResult `json:"crossslot"`
	// Unrecognized counts ops of a shape the checker does not know.
	Unrecognized int `json:"unrecognized,omitempty"`
}

// Verdict is the result's verdict.
func (r *MultikeyResult) Verdict() Valid { return r.Valid }

// TornRead is a read whose Keys hold Values that no atomic write order
// explains; Writes are the writes those values come from.
type TornRead struct {
	Read   OpRef    `json:"read"`
	Keys   []string `json:"keys"`
	Values []any    `json:"values"`
	Writes []OpRef  `json:"writes"`
	Detail string   `json:"detail"`
}

// MultikeyValue is a value read at Key that no possible write wrote there;
// Write is a failed write that did, if one did.
type MultikeyValue struct {
	Read  OpRef  `json:"read"`
	Key   string `json:"key"`
	Value any    `json:"value"`
	Write *OpRef `json:"failed_write,omitempty"`
}

// CrossslotResult counts the CROSSSLOT probes: Rejected as they must be
// (fail, CROSSSLOT), Accepted (ok: an anomaly), failed with another error,
// or of unknown outcome.
type CrossslotResult struct {
	Probes      int     `json:"probes"`
	Rejected    int     `json:"rejected"`
	Accepted    int     `json:"accepted"`
	OtherErrors int     `json:"other_errors"`
	Unknown     int     `json:"unknown"`
	AcceptedOps []OpRef `json:"accepted_ops,omitempty"`
}

type mkWrite struct {
	op   int
	all  bool
	vals map[string]string // key → value (canonical), when !all
}

func (w *mkWrite) covers(key string) bool {
	if w.all {
		return true
	}
	_, ok := w.vals[key]
	return ok
}

type mkTag struct {
	writes []mkWrite
	byAll  map[string][]int            // value → writes of it to every key
	byKey  map[string]map[string][]int // key → value → writes
	failed map[string]int              // key+"\x00"+value (or "\x00"+value) → a failed write
	reads  []int
}

// Check judges the multi-key ops.
func (c *Multikey) Check(ctx context.Context, in *Input) Result {
	res := &MultikeyResult{OpsJudged: map[string]int{}}
	all := in.Operations
	sel := newSelector(c.Workloads, c.Options.Only)
	tags := map[string]*mkTag{}
	for i := range all {
		o := &all[i]
		if o.Invoke.F == "crossslot" && (c.Options.Only == "" || sel.match(o.Invoke.Key)) {
			probe(o, &res.Crossslot)
			res.OpsJudged[sel.space(o.Invoke.Key)]++
			continue
		}
		if !sel.match(o.Invoke.Key) {
			continue
		}
		res.OpsJudged[sel.space(o.Invoke.Key)]++
		tagName, ok := hashTag(o.Invoke.Key)
		if !ok {
			tagName = o.Invoke.Key
		}
		t, ok := tags[tagName]
		if !ok {
			t = &mkTag{byAll: map[string][]int{}, byKey: map[string]map[string][]int{}, failed: map[string]int{}}
			tags[tagName] = t
		}
		switch o.Invoke.F {
		case "mset":
			w, ok := parseMset(o.Invoke.Value)
			if !ok {
				res.Unrecognized++
				continue
			}
			w.op = i
			res.Writes++
			if o.Type() == history.Fail {
				if w.all {
					t.failed["\x00"+redisCanon(o.Invoke.Value)] = i
				}
				for k, v := range w.vals {
					t.failed[k+"\x00"+v] = i
				}
				continue
			}
			id := len(t.writes)
			t.writes = append(t.writes, w)
			if w.all {
				v := redisCanon(o.Invoke.Value)
				t.byAll[v] = append(t.byAll[v], id)
			}
			for k, v := range w.vals {
				if t.byKey[k] == nil {
					t.byKey[k] = map[string][]int{}
				}
				t.byKey[k][v] = append(t.byKey[k][v], id)
			}
		case "mget":
			if o.Type() == history.OK {
				t.reads = append(t.reads, i)
			}
		default:
			res.Unrecognized++
		}
	}
	res.Tags = len(tags)
	names := make([]string, 0, len(tags))
	for n := range tags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ctx.Err() != nil {
			res.Valid, res.Reason = Unknown, "cancelled"
			return res
		}
		t := tags[n]
		for _, r := range t.reads {
			keys, vals, ok := parseMget(&all[r])
			if !ok {
				res.Unrecognized++
				continue
			}
			res.Reads++
			t.checkRead(all, r, keys, vals, res)
		}
	}

	var reasons []string
	switch {
	case len(tags) == 0 && res.Crossslot.Probes == 0:
		res.Valid = Unknown
		reasons = append(reasons, fmt.Sprintf("no operations of %v in the history", c.Workloads))
	case res.Torn > 0 || res.Unexpected > 0 || res.Crossslot.Accepted > 0:
		res.Valid = False
		reasons = append(reasons, tally(count{res.Torn, "torn reads"}, count{res.Unexpected, "unexpected values"}, count{res.Crossslot.Accepted, "CROSSSLOT probes accepted"}))
	case res.Unrecognized > 0:
		res.Valid = Unknown
	default:
		res.Valid = True
	}
	if res.Unrecognized > 0 {
		reasons = append(reasons, fmt.Sprintf("%d ops of an unknown shape were left out", res.Unrecognized))
	}
	res.Reason = joinReasons(reasons)
	return res
}

func probe(o *history.Operation, r *CrossslotResult) {
	r.Probes++
	switch o.Type() {
	case history.OK:
		r.Accepted++
		r.AcceptedOps = capped(r.AcceptedOps, Ref(*o))
	case history.Fail:
		if strings.HasPrefix(strings.TrimSpace(o.Complete.Error), "CROSSSLOT") {
			r.Rejected++
		} else {
			r.OtherErrors++
		}
	default:
		r.Unknown++
	}
}

func parseMset(v any) (mkWrite, bool) {
	switch t := v.(type) {
	case map[string]any:
		w := mkWrite{vals: make(map[string]string, len(t))}
		for k, x := range t {
			if x == nil {
				return w, false
			}
			w.vals[k] = redisCanon(x)
		}
		return w, len(t) > 0
	case nil, []any:
		return mkWrite{}, false
	}
	return mkWrite{all: true}, true
}

// parseMget returns the read's keys and canonical values ("" key names
// stand for positions when the keys are unknown); ok is false for a shape
// it does not know.
func parseMget(o *history.Operation) (keys []string, vals []any, ok bool) {
	switch t := o.Complete.Value.(type) {
	case map[string]any:
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vals = append(vals, t[k])
		}
		return keys, vals, true
	case []any:
		names, _ := o.Invoke.Value.([]any)
		for i, x := range t {
			k := "#" + strconv.Itoa(i) // a position: no write names it
			if len(names) == len(t) {
				if s, isStr := names[i].(string); isStr {
					k = s
				}
			}
			keys = append(keys, k)
			vals = append(vals, x)
		}
		return keys, vals, true
	}
	return nil, nil, false
}

// candidates are the writes (indices in t.writes) that wrote v to key.
func (t *mkTag) candidates(key, v string) []int {
	out := append([]int(nil), t.byAll[v]...)
	return append(out, t.byKey[key][v]...)
}

func (t *mkTag) allCover(ws []int, key string) bool {
	for _, w := range ws {
		if !t.writes[w].covers(key) {
			return false
		}
	}
	return true
}

func (t *mkTag) checkRead(all []history.Operation, r int, keys []string, vals []any, res *MultikeyResult) {
	cands := make([][]int, len(keys))
	known := make([]bool, len(keys))
	for i, k := range keys {
		if vals[i] == nil {
			known[i] = true
			continue
		}
		v := redisCanon(vals[i])
		cands[i] = t.candidates(k, v)
		if len(cands[i]) > 0 {
			known[i] = true
			continue
		}
		mv := MultikeyValue{Read: Ref(all[r]), Key: k, Value: vals[i]}
		if f, ok := t.failed[k+"\x00"+v]; ok {
			fr := Ref(all[f])
			mv.Write = &fr
		} else if f, ok := t.failed["\x00"+v]; ok {
			fr := Ref(all[f])
			mv.Write = &fr
		}
		res.Unexpected++
		res.UnexpectedValues = capped(res.UnexpectedValues, mv)
	}
	for i := range keys {
		if vals[i] == nil || !known[i] {
			continue
		}
		for j := range keys {
			if i == j || !known[j] {
				continue
			}
			var detail string
			switch {
			case vals[j] == nil:
				if t.allCover(cands[i], keys[j]) {
					detail = fmt.Sprintf("%s holds a value whose every write also wrote %s, which is still null", keys[i], keys[j])
				}
			case j > i && !intersect(cands[i], cands[j]) && t.allCover(cands[i], keys[j]) && t.allCover(cands[j], keys[i]):
				detail = fmt.Sprintf("%s and %s hold values of different writes, each of which wrote both keys", keys[i], keys[j])
			}
			if detail == "" {
				continue
			}
			tr := TornRead{Read: Ref(all[r]), Keys: []string{keys[i], keys[j]}, Values: []any{vals[i], vals[j]}, Detail: detail}
			for _, w := range append(append([]int(nil), cands[i]...), cands[j]...) {
				if len(tr.Writes) < 4 {
					tr.Writes = append(tr.Writes, Ref(all[t.writes[w].op]))
				}
			}
			res.Torn++
			res.TornReads = capped(res.TornReads, tr)
			return
		}
	}
}

func intersect(a, b []int) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
