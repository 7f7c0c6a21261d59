package checker

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis-harness/harness/checker/history"
)

// ListAppend checks append-only lists (RPUSH of unique elements, LRANGE),
// written by `append` ops and by `txn` ops (MULTI/EXEC) whose value lists
// micro-ops ["append", key, elem] and ["r", key, list]. A list only grows
// at its end, so every ok read must be a prefix of the key's final read:
// the last ok `read` of the key, invoked after every append to it. Reads
// inside a txn count too, and must see the txn's own appends at their end.
type ListAppend struct {
	Workloads []string
	Options   Options
}

// Name is "list-append".
func (c *ListAppend) Name() string { return "list-append" }

// ListAppendResult is results.json's checkers.list-append. Counts are of
// distinct elements (or pairs, reads, txns) over all list keys; the lists
// hold the first MaxListed of each.
type ListAppendResult struct {
	Valid   Valid  `json:"valid"`
	Reason  string `json:"reason,omitempty"`
	Keys    int    `json:"keys"`
	Reads   int    `json:"reads"`
	Appends int    `json:"appends"`
	Txns    int    `json:"txns"`
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// Lost elements were acknowledged before the final read began, or seen
	// by an earlier read, and are not in the final read.
	Lost         int           `json:"lost"`
	LostElements []ListElement `json:"lost_elements,omitempty"`
	// Duplicated elements appear in a read more often than they were
	// appended.
	Duplicated int           `json:"duplicated"`
	Duplicates []ListElement `json:"duplicates,omitempty"`
	// Reordered pairs of elements are seen in both orders by two reads, or
	// in the order their appends contradict in real time.
	Reordered int           `json:"reordered"`
	Reorders  []ListReorder `json:"reorders,omitempty"`
	// NotPrefix reads are not a prefix of the key's final read (or, with no
	// final read, of its longest read).
	NotPrefix      int            `json:"not_prefix"`
	NotPrefixReads []ListMismatch `json:"not_prefix_reads,omitempty"`
	// Unexpected elements were read but never appended; FailedPresent were
	// read though every append of them failed.
	Unexpected            int           `json:"unexpected"`
	UnexpectedElements    []ListElement `json:"unexpected_elements,omitempty"`
	FailedPresent         int           `json:"failed_present"`
	FailedPresentElements []ListElement `json:"failed_present_elements,omitempty"`
	// NonAtomicTxns are ok txns whose reads do not see their own appends at
	// the end, contiguously and in order.
	NonAtomicTxns int              `json:"non_atomic_txns"`
	NonAtomic     []ListTxnAnomaly `json:"non_atomic,omitempty"`
	// NoFinalRead lists keys with no read after their last append: whether
	// elements were lost there is unknown.
	NoFinalRead []string `json:"no_final_read,omitempty"`
	// Unrecognized counts ops of a shape the checker does not know.
	Unrecognized int `json:"unrecognized,omitempty"`
}

// Verdict is the result's verdict.
func (r *ListAppendResult) Verdict() Valid { return r.Valid }

// ListElement is one element behind an anomaly, with the append that wrote
// it and the read that saw it.
type ListElement struct {
	Key     string `json:"key"`
	Element any    `json:"element"`
	Count   int    `json:"count,omitempty"`
	Append  *OpRef `json:"append,omitempty"`
	Read    *OpRef `json:"read,omitempty"`
}

// ListReorder is two elements that Read saw as First then Second, though
// they were ordered the other way round: by Kind "reads", the read Other
// saw them so; by Kind "real-time", Other is Second's append, acknowledged
// before Append, First's (only possible) append, was invoked, so the list
// must hold Second first.
type ListReorder struct {
	Key    string `json:"key"`
	First  any    `json:"first"`
	Second any    `json:"second"`
	Read   OpRef  `json:"read"`
	Other  OpRef  `json:"other"`
	Kind   string `json:"kind"`
	Append *OpRef `json:"append,omitempty"`
}

// ListMismatch is a read that is not a prefix of Reference (the final
// read, when Final): at Position it has Got where Reference has Want (null
// past its end). MicroOp is the index of the read in a txn.
type ListMismatch struct {
	Key       string `json:"key"`
	Read      OpRef  `json:"read"`
	MicroOp   *int   `json:"micro_op,omitempty"`
	Reference OpRef  `json:"reference"`
	Final     bool   `json:"final"`
	Position  int    `json:"position"`
	Got       any    `json:"got"`
	Want      any    `json:"want"`
}

// ListTxnAnomaly is an ok txn whose read of Key (micro-op MicroOp) does not
// end with the txn's own appends to Key.
type ListTxnAnomaly struct {
	Txn     OpRef  `json:"txn"`
	Key     string `json:"key"`
	MicroOp int    `json:"micro_op"`
	Read    []any  `json:"read"`
	Want    []any  `json:"want"`
	Detail  string `json:"detail"`
}

// laObs is one observation of a list: a plain read or a read in a txn.
type laObs struct {
	op    int
	micro int // -1 for a plain read
	vals  []any
	elems []string
}

type laAppend struct {
	op  int
	val any
}

type laKey struct {
	appends   map[string][]laAppend
	order     []string
	obs       []laObs
	lastWrite int64 // latest invocation of an op appending to the key
	finalRead int   // index of the last ok plain read, -1 if none
	writes    bool
}

// microOp is a decoded txn micro-op.
type microOp struct {
	f   string // "append" or "r"
	key string
	val any
}

func parseTxn(v any) ([]microOp, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]microOp, 0, len(list))
	for _, m := range list {
		t, ok := m.([]any)
		if !ok || len(t) != 3 {
			return nil, false
		}
		f, _ := t[0].(string)
		key, kok := t[1].(string)
		switch f {
		case "append", ":append":
			f = "append"
		case "r", ":r", "read":
			f = "r"
		default:
			return nil, false
		}
		if !kok {
			return nil, false
		}
		out = append(out, microOp{f: f, key: key, val: t[2]})
	}
	return out, true
}

// Check judges the lists.
func (c *ListAppend) Check(ctx context.Context, in *Input) Result {
	res := &ListAppendResult{OpsJudged: map[string]int{}}
	all := in.Operations
	ks, txns := gatherLists(all, newSelector(c.Workloads, c.Options.Only), res)
	noFinal := ks.findFinalReads()
	names := make([]string, 0, len(ks.keys))
	for k := range ks.keys {
		names = append(names, k)
	}
	sort.Strings(names)
	res.Keys = len(names)
	for _, k := range names {
		if ctx.Err() != nil {
			res.Valid, res.Reason = Unknown, "cancelled"
			return res
		}
		c.checkKey(all, k, ks.keys[k], res)
	}
	for _, i := range txns {
		checkTxn(all, i, res)
	}
	c.verdict(res, noFinal)
	return res
}

// laKeys gathers, key by key, the appends and the reads of a history.
type laKeys struct {
	all  []history.Operation
	res  *ListAppendResult
	keys map[string]*laKey
}

// gatherLists sorts the ops of the selected keys into laKeys, counting
// them in res; txns are the ok txns, whose atomicity checkTxn judges.
func gatherLists(all []history.Operation, sel selector, res *ListAppendResult) (ks *laKeys, txns []int) {
	ks = &laKeys{all: all, res: res, keys: map[string]*laKey{}}
	for i := range all {
		o := &all[i]
		if !sel.match(o.Invoke.Key) {
			continue
		}
		res.OpsJudged[sel.space(o.Invoke.Key)]++
		switch o.Invoke.F {
		case "append":
			res.Appends++
			ks.addAppend(o.Invoke.Key, i, o.Invoke.Value)
		case "read":
			ks.get(o.Invoke.Key)
			if o.Type() == history.OK && !ks.addObs(o.Invoke.Key, i, -1, o.Complete.Value) {
				res.Unrecognized++
			}
		case "txn":
			if !ks.addTxn(i) {
				res.Unrecognized++
				continue
			}
			if o.Type() == history.OK {
				txns = append(txns, i)
			}
		default:
			res.Unrecognized++
		}
	}
	return ks, txns
}

func (ks *laKeys) get(k string) *laKey {
	lk, ok := ks.keys[k]
	if !ok {
		lk = &laKey{appends: map[string][]laAppend{}, finalRead: -1}
		ks.keys[k] = lk
	}
	return lk
}

func (ks *laKeys) addAppend(k string, i int, v any) {
	lk := ks.get(k)
	e := redisCanon(v)
	if _, ok := lk.appends[e]; !ok {
		lk.order = append(lk.order, e)
	}
	lk.appends[e] = append(lk.appends[e], laAppend{op: i, val: v})
	lk.writes = true
	lk.lastWrite = max(lk.lastWrite, ks.all[i].Invoke.Time)
}

// addObs records a read of k (micro: its place in a txn, -1 for a plain
// read); false when v is not a list.
func (ks *laKeys) addObs(k string, i, micro int, v any) bool {
	list, ok := asList(v)
	if !ok {
		return false
	}
	ob := laObs{op: i, micro: micro, vals: list, elems: make([]string, len(list))}
	for j, x := range list {
		ob.elems[j] = redisCanon(x)
	}
	ks.get(k).obs = append(ks.get(k).obs, ob)
	ks.res.Reads++
	return true
}

// addTxn records txn i's micro-ops: its appends, and its reads when it
// completed ok; false when its value is not a txn.
func (ks *laKeys) addTxn(i int) bool {
	o := &ks.all[i]
	v := o.Invoke.Value
	if o.Type() == history.OK {
		v = o.Complete.Value
	}
	mops, ok := parseTxn(v)
	if !ok {
		return false
	}
	ks.res.Txns++
	for j, m := range mops {
		switch {
		case m.f == "append":
			ks.res.Appends++
			ks.addAppend(m.key, i, m.val)
		case o.Type() == history.OK:
			if !ks.addObs(m.key, i, j, m.val) {
				ks.res.Unrecognized++
			}
		default:
			ks.get(m.key)
		}
	}
	return true
}

// findFinalReads picks each key's final read: its last ok plain read, if
// invoked after every append. The keys written with none are listed in
// res.NoFinalRead (cut at MaxListed); it returns how many there are.
func (ks *laKeys) findFinalReads() int {
	all, res := ks.all, ks.res
	for k, lk := range ks.keys {
		best := -1
		for j, ob := range lk.obs {
			if ob.micro < 0 && (best < 0 || all[ob.op].Invoke.Time >= all[lk.obs[best].op].Invoke.Time) {
				best = j
			}
		}
		if best >= 0 && (!lk.writes || all[lk.obs[best].op].Invoke.Time > lk.lastWrite) {
			lk.finalRead = best
		} else if lk.writes {
			res.NoFinalRead = append(res.NoFinalRead, k)
		}
	}
	sort.Strings(res.NoFinalRead)
	noFinal := len(res.NoFinalRead)
	if noFinal > MaxListed {
		res.NoFinalRead = res.NoFinalRead[:MaxListed]
	}
	return noFinal
}

// verdict sets res's verdict and reason from what the keys showed.
func (c *ListAppend) verdict(res *ListAppendResult, noFinal int) {
	var reasons []string
	anomalies := res.Lost + res.Duplicated + res.Reordered + res.NotPrefix + res.Unexpected + res.FailedPresent + res.NonAtomicTxns
	switch {
	case res.Keys == 0:
		res.Valid = Unknown
		reasons = append(reasons, fmt.Sprintf("no operations of %v in the history", c.Workloads))
	case anomalies > 0:
		res.Valid = False
		reasons = append(reasons, tally(count{res.Lost, "lost"}, count{res.Duplicated, "duplicated"}, count{res.Reordered, "reordered pairs"},
			count{res.NotPrefix, "reads not a prefix of the final read"}, count{res.Unexpected, "unexpected"},
			count{res.FailedPresent, "failed yet present"}, count{res.NonAtomicTxns, "txns not atomic"}))
	case noFinal > 0 || res.Unrecognized > 0:
		res.Valid = Unknown
	default:
		res.Valid = True
	}
	if noFinal > 0 {
		reasons = append(reasons, fmt.Sprintf("%d keys have no read after their last append (%s)", noFinal, keyList(res.NoFinalRead, noFinal)))
	}
	if res.Unrecognized > 0 {
		reasons = append(reasons, fmt.Sprintf("%d ops of an unknown shape were left out", res.Unrecognized))
	}
	res.Reason = joinReasons(reasons)
}

func obsRef(all []history.Operation, ob laObs) OpRef {
	r := Ref(all[ob.op])
	if ob.micro >= 0 {
		r.Value = ob.vals
	}
	return r
}

func (c *ListAppend) checkKey(all []history.Operation, key string, lk *laKey, res *ListAppendResult) {
	eachRead(all, key, lk, res)
	if len(lk.obs) == 0 {
		return
	}
	kc := newKeyCheck(all, key, lk, res)
	for j, ob := range lk.obs {
		if j != kc.refIndex {
			kc.againstReference(ob)
		}
	}
	realTimeOrder(all, key, lk, kc.reordered, res)
	if kc.final {
		kc.lostAcknowledged()
	}
}

// eachRead reports what every read of key shows on its own: unexpected,
// failed-yet-present and duplicated elements.
func eachRead(all []history.Operation, key string, lk *laKey, res *ListAppendResult) {
	flagged := map[string]bool{}
	duped := map[string]bool{}
	count := map[string]int{} // per read; cleared, not remade: reads are long
	for _, ob := range lk.obs {
		clear(count)
		for j, e := range ob.elems {
			count[e]++
			aps, attempted := lk.appends[e]
			if (!attempted || !appendTried(all, aps)) && !flagged[e] {
				flagged[e] = true
				rr := obsRef(all, ob)
				el := ListElement{Key: key, Element: ob.vals[j], Read: &rr}
				if !attempted {
					res.Unexpected++
					res.UnexpectedElements = capped(res.UnexpectedElements, el)
				} else {
					ar := Ref(all[aps[0].op])
					el.Append = &ar
					res.FailedPresent++
					res.FailedPresentElements = capped(res.FailedPresentElements, el)
				}
			}
			allowed := 0
			for _, a := range aps {
				if all[a.op].Type() != history.Fail {
					allowed++
				}
			}
			if count[e] > max(allowed, 1) && !duped[e] {
				duped[e] = true
				rr := obsRef(all, ob)
				res.Duplicated++
				res.Duplicates = capped(res.Duplicates, ListElement{Key: key, Element: ob.vals[j], Count: count[e], Read: &rr})
			}
		}
	}
}

// keyCheck compares one key's reads with its reference read: the final
// read, or, when the key has none, the longest.
type keyCheck struct {
	all       []history.Operation
	key       string
	lk        *laKey
	res       *ListAppendResult
	refIndex  int
	ref       laObs
	final     bool           // the reference is the final read
	pos       map[string]int // each element's first position in the reference
	lost      map[string]bool
	reordered map[[2]string]bool
}

func newKeyCheck(all []history.Operation, key string, lk *laKey, res *ListAppendResult) *keyCheck {
	ref := lk.finalRead
	if ref < 0 {
		ref = 0
		for j, ob := range lk.obs {
			if len(ob.elems) > len(lk.obs[ref].elems) {
				ref = j
			}
		}
	}
	kc := &keyCheck{all: all, key: key, lk: lk, res: res, refIndex: ref, ref: lk.obs[ref], final: lk.finalRead >= 0,
		pos: make(map[string]int, len(lk.obs[ref].elems)), lost: map[string]bool{}, reordered: map[[2]string]bool{}}
	for j, e := range kc.ref.elems {
		if _, ok := kc.pos[e]; !ok {
			kc.pos[e] = j
		}
	}
	return kc
}

// againstReference reports a read that is not a prefix of the reference,
// then the elements it saw that the final read lost and the pairs it holds
// in the other order.
func (kc *keyCheck) againstReference(ob laObs) {
	all, rob, res := kc.all, kc.ref, kc.res
	at := -1
	for p, e := range ob.elems {
		if p >= len(rob.elems) || rob.elems[p] != e {
			at = p
			break
		}
	}
	if at < 0 {
		return
	}
	m := ListMismatch{Key: kc.key, Read: obsRef(all, ob), Reference: obsRef(all, rob), Final: kc.final, Position: at, Got: ob.vals[at]}
	if ob.micro >= 0 {
		mi := ob.micro
		m.MicroOp = &mi
	}
	if at < len(rob.vals) {
		m.Want = rob.vals[at]
	}
	res.NotPrefix++
	res.NotPrefixReads = capped(res.NotPrefixReads, m)
	// Elements this read saw that the final read no longer has; the read
	// ended before the final one began, as the final read follows every
	// append.
	prev, prevVal := -1, any(nil)
	for p, e := range ob.elems {
		q, ok := kc.pos[e]
		if !ok {
			if kc.final && !kc.lost[e] && all[ob.op].Complete.Time < all[rob.op].Invoke.Time {
				kc.lost[e] = true
				rr := obsRef(all, ob)
				el := ListElement{Key: kc.key, Element: ob.vals[p], Read: &rr}
				if aps := kc.lk.appends[e]; len(aps) > 0 {
					ar := Ref(all[aps[0].op])
					el.Append = &ar
				}
				res.Lost++
				res.LostElements = capped(res.LostElements, el)
			}
			continue
		}
		if prev >= 0 && q < prev {
			pair := pairKey(rob.elems[q], rob.elems[prev])
			if !kc.reordered[pair] {
				kc.reordered[pair] = true
				res.Reordered++
				res.Reorders = capped(res.Reorders, ListReorder{Key: kc.key, First: prevVal, Second: ob.vals[p],
					Read: obsRef(all, ob), Other: obsRef(all, rob), Kind: "reads"})
			}
		}
		prev, prevVal = q, ob.vals[p]
	}
}

// lostAcknowledged reports the acknowledged appends the final read does
// not have (those completed before it began).
func (kc *keyCheck) lostAcknowledged() {
	for _, e := range kc.lk.order {
		if _, ok := kc.pos[e]; ok || kc.lost[e] {
			continue
		}
		for _, a := range kc.lk.appends[e] {
			o := &kc.all[a.op]
			if o.Type() == history.OK && o.Complete.Time < kc.all[kc.ref.op].Invoke.Time {
				kc.lost[e] = true
				ar := Ref(*o)
				kc.res.Lost++
				kc.res.LostElements = capped(kc.res.LostElements, ListElement{Key: kc.key, Element: a.val, Append: &ar})
				break
			}
		}
	}
}

// pairKey names an unordered pair of elements.
func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// realTimeOrder finds, in every read of a key, an element y placed after an
// element x although y's append was acknowledged before x's was invoked: a
// list that grows only at its end holds y first. Only elements with one
// append that may have taken effect count (each element is appended once),
// and reads that hold an element twice are left to the duplicate check.
func realTimeOrder(all []history.Operation, key string, lk *laKey, reordered map[[2]string]bool, res *ListAppendResult) {
	type when struct {
		op       int
		inv, ret int64
		acked    bool
	}
	times := make(map[string]when, len(lk.appends))
	for e, aps := range lk.appends {
		n, w := 0, when{}
		for _, a := range aps {
			o := &all[a.op]
			if o.Type() == history.Fail {
				continue
			}
			n++
			w = when{op: a.op, inv: o.Invoke.Time, ret: o.Complete.Time, acked: o.Type() == history.OK}
		}
		if n == 1 {
			times[e] = w
		}
	}
	seen := map[string]bool{}
	for _, ob := range lk.obs {
		clear(seen)
		dup := false
		for _, e := range ob.elems {
			if seen[e] {
				dup = true
				break
			}
			seen[e] = true
		}
		if dup {
			continue
		}
		// latest is the earlier element whose append was invoked last.
		latest, at := int64(0), -1
		for p, e := range ob.elems {
			t, ok := times[e]
			if !ok {
				continue
			}
			if at >= 0 && t.acked && t.ret < latest {
				x := ob.elems[at]
				if pair := pairKey(x, e); !reordered[pair] {
					reordered[pair] = true
					app := Ref(all[times[x].op])
					res.Reordered++
					res.Reorders = capped(res.Reorders, ListReorder{Key: key, First: ob.vals[at], Second: ob.vals[p],
						Read: obsRef(all, ob), Other: Ref(all[t.op]), Kind: "real-time", Append: &app})
				}
			}
			if at < 0 || t.inv > latest {
				latest, at = t.inv, p
			}
		}
	}
}

// appendTried is true when some append may have taken effect (ok or info).
func appendTried(all []history.Operation, aps []laAppend) bool {
	for _, a := range aps {
		if all[a.op].Type() != history.Fail {
			return true
		}
	}
	return false
}

// checkTxn checks that an ok txn's reads see its own appends: a read of a
// key must equal the txn's previous read of it followed by the appends
// since, or, before any read of the key, end with the txn's appends so far.
func checkTxn(all []history.Operation, i int, res *ListAppendResult) {
	mops, _ := parseTxn(all[i].Complete.Value)
	type seen struct {
		base  []string
		known bool
		own   []string
		ownV  []any
		baseV []any
	}
	state := map[string]*seen{}
	for j, m := range mops {
		s, ok := state[m.key]
		if !ok {
			s = &seen{}
			state[m.key] = s
		}
		if m.f == "append" {
			s.own = append(s.own, redisCanon(m.val))
			s.ownV = append(s.ownV, m.val)
			continue
		}
		list, ok := asList(m.val)
		if !ok {
			continue // counted as unrecognized already
		}
		got := make([]string, len(list))
		for k, x := range list {
			got[k] = redisCanon(x)
		}
		var want []string
		var wantV []any
		var detail string
		if s.known {
			want = append(append(want, s.base...), s.own...)
			wantV = append(append(wantV, s.baseV...), s.ownV...)
			if !equalStrings(got, want) {
				detail = "differs from the txn's earlier read of the key followed by its appends since"
			}
		} else {
			want, wantV = s.own, s.ownV
			if len(got) < len(want) || !equalStrings(got[len(got)-len(want):], want) {
				detail = "does not end with the txn's own appends, contiguously and in order"
			}
		}
		if detail != "" {
			res.NonAtomicTxns++
			res.NonAtomic = capped(res.NonAtomic, ListTxnAnomaly{Txn: Ref(all[i]), Key: m.key, MicroOp: j, Read: list, Want: wantV, Detail: detail})
			return
		}
		s.base, s.baseV, s.known, s.own, s.ownV = got, list, true, nil, nil
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
