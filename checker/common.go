package checker

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/redis-harness/harness/checker/history"
)

// MaxListed caps every list of evidence in a result (lost elements, torn
// reads, violating reads…); the counts beside the lists stay exact.
const MaxListed = 100

// WorkloadOf is the key space a client key belongs to: the part before ':'
// inside its first hash tag ("{list-append:7}" → "list-append",
// "{pipeline-kv:4}" → "pipeline-kv"), or "" for a key with no hash tag.
// It is history.SpaceOf, the one rule the workloads name their keys by.
func WorkloadOf(key string) string { return history.SpaceOf(key) }

// hashTag is the text inside key's first non-empty {…}, as Redis Cluster
// reads it.
func hashTag(key string) (string, bool) { return history.HashTag(key) }

// selector picks a checker's ops out of a mixed history by their key's
// space; with only set, every client op is that workload whatever its key,
// and the checker takes them all when only's spaces are among its own.
type selector struct {
	spaces    map[string]bool
	only      string
	onlyMatch bool
}

func newSelector(spaces []string, only string) selector {
	s := selector{spaces: map[string]bool{}, only: only}
	for _, w := range spaces {
		s.spaces[w] = true
	}
	for _, sp := range history.SpacesOf(only) {
		s.onlyMatch = s.onlyMatch || s.spaces[sp.Name]
	}
	return s
}

func (s selector) match(key string) bool {
	if s.only != "" {
		return s.onlyMatch
	}
	return s.spaces[history.SpaceOf(key)]
}

// space is the key space an op of key counts for: its tag's, or only's.
func (s selector) space(key string) string { return judgedSpace(s.only, key) }

// OpRef names one operation of the history in a result: enough to find both
// of its records in history.jsonl and to read it without the file.
type OpRef struct {
	// Index is the invoke record's index; Complete the completion's, or -1
	// when the op never completed.
	Index    int64        `json:"index"`
	Complete int64        `json:"complete_index"`
	Process  int          `json:"process"`
	Type     history.Type `json:"type"`
	F        string       `json:"f"`
	Key      string       `json:"key,omitempty"`
	// Value is what the op read or wrote: the completion's value when it has
	// one, the invocation's otherwise.
	Value any    `json:"value"`
	Error string `json:"error,omitempty"`
	Node  string `json:"node,omitempty"`
	// Time and End are the invoke and completion times (ns since the run
	// started); End is -1 when the op never completed.
	Time int64 `json:"time"`
	End  int64 `json:"end"`
}

// Ref describes o for a result.
func Ref(o history.Operation) OpRef {
	v := o.Invoke.Value
	if o.Type() == history.OK && (!isWrite(o.Invoke.F) || o.Invoke.F == "txn") {
		v = o.Complete.Value // what was read
	}
	return OpRef{
		Index:    o.Invoke.Index,
		Complete: o.Complete.Index,
		Process:  o.Invoke.Process,
		Type:     o.Type(),
		F:        o.Invoke.F,
		Key:      o.Invoke.Key,
		Value:    v,
		Error:    o.Complete.Error,
		Node:     o.Complete.Node,
		Time:     o.Invoke.Time,
		End:      end(o),
	}
}

func isWrite(f string) bool {
	switch f {
	case "write", "cas", "put", "append", "add", "incr", "mset", "txn":
		return true
	}
	return false
}

// end is o's completion time, -1 when it never completed.
func end(o history.Operation) int64 {
	if o.Complete.Index < 0 && o.Complete.Time < 0 {
		return -1
	}
	return o.Complete.Time
}

// returnTime is when o's effect is known to be over: its completion, or
// never (math.MaxInt64) for info, since an op of unknown outcome may take
// effect at any time after its invocation.
func returnTime(o history.Operation) int64 {
	if o.Type() == history.Info || o.Complete.Time < 0 {
		return math.MaxInt64
	}
	return o.Complete.Time
}

// canon is the identity of a JSON value: equal values (1 and 1.0 included)
// get equal strings, and values of different types never collide.
func canon(v any) string {
	if n, ok := history.Int(v); ok {
		return strconv.FormatInt(n, 10)
	}
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case bool:
		return strconv.FormatBool(t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// capped appends x to list unless list is full.
func capped[T any](list []T, x T) []T {
	if len(list) >= MaxListed {
		return list
	}
	return append(list, x)
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// joinReasons joins the reasons a checker could not decide.
func joinReasons(rs []string) string {
	if len(rs) > 5 {
		rs = append(rs[:5:5], strconv.Itoa(len(rs)-5)+" more")
	}
	return strings.Join(rs, "; ")
}

// redisCanon is the identity of a value as Redis stores it: everything is a
// string there, so 7 and "7" are the same member or element. nil (a missing
// key) stays apart from every string.
func redisCanon(v any) string {
	switch t := v.(type) {
	case nil:
		return "\x00nil"
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case float64:
		if n, ok := history.Int(t); ok {
			return strconv.FormatInt(n, 10)
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		if t {
			return "1"
		}
		return "0"
	}
	return "\x00" + canon(v)
}

// asList reads a read's value as a list: null is the empty list (a missing
// key).
func asList(v any) ([]any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, true
	case []any:
		return t, true
	}
	return nil, false
}

// intValue reads v as an integer, from a number or a decimal string (what
// Redis replies); null is 0, as INCRBY reads a missing key.
func intValue(v any) (int64, bool) {
	if v == nil {
		return 0, true
	}
	if n, ok := history.Int(v); ok {
		return n, true
	}
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// groupByKey collects the indices (in Input.Operations) of the operations
// sel picks, by key; keys come back sorted.
func groupByKey(in *Input, sel selector) ([]string, map[string][]int) {
	groups := map[string][]int{}
	for i := range in.Operations {
		k := in.Operations[i].Invoke.Key
		if sel.match(k) {
			groups[k] = append(groups[k], i)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, groups
}

// lastRead is the ok op with f "read" invoked last among ops, or -1.
func lastRead(all []history.Operation, ops []int) int {
	best := -1
	for _, i := range ops {
		o := &all[i]
		if o.Invoke.F != "read" || o.Type() != history.OK {
			continue
		}
		if best < 0 || o.Invoke.Time >= all[best].Invoke.Time {
			best = i
		}
	}
	return best
}

// count is a number of anomalies of one kind, for a reason text.
type count struct {
	n    int
	what string
}

// tally says the non-zero counts: "1 lost, 2 duplicated".
func tally(cs ...count) string {
	var parts []string
	for _, c := range cs {
		if c.n > 0 {
			parts = append(parts, strconv.Itoa(c.n)+" "+c.what)
		}
	}
	return strings.Join(parts, ", ")
}

// Evidence quotes what a history holds, and a history is outside input: one
// 50 MB value quoted by a few results made results.json, junit.xml and the
// report each as large, over and over. Evidence is cut where it is encoded
// (Report.Results), so every output made from it is bounded.
const (
	// MaxValueBytes is the longest string a result quotes whole (a value,
	// key, element, error or reason); a longer one keeps its first
	// cutKeep bytes and says its length: "xxxx…(52428800 bytes)".
	MaxValueBytes = 2048
	cutKeep       = 256
	// maxResultBytes bounds one checker's encoded result: past it the
	// result is cut again with a smaller limit.
	maxResultBytes = 2 << 20
)

// CutString returns s if it is at most limit bytes long, else its first
// bytes (whole UTF-8 characters) and its length: "abc…(52428800 bytes)".
func CutString(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	keep := min(cutKeep, limit/2)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// encodeCut encodes a result (or stats) with every string in it cut at
// MaxValueBytes, and every list held in an `any` field (a read's value)
// cut to the elements that fit in as many bytes; if the whole is still
// over maxResultBytes, it cuts again at a tenth of the limit. It cuts v
// in place: a result is encoded for output once.
func encodeCut(v any) ([]byte, error) {
	var b []byte
	var err error
	for _, limit := range []int{MaxValueBytes, MaxValueBytes / 10, 16} {
		c := cutter{limit: limit, seen: map[uintptr]bool{}}
		c.value(reflect.ValueOf(v), 0)
		if b, err = json.Marshal(v); err != nil || len(b) <= maxResultBytes {
			break
		}
	}
	return b, err
}

// cutter cuts at limit; seen are the pointers it has walked, so that a
// value two refs share is cut once (a list cut twice would miscount what
// it left out).
type cutter struct {
	limit int
	seen  map[uintptr]bool
}

// value walks v (pointers, structs, slices, maps, interfaces) and cuts
// what it can set; depth bounds a hostile tree.
func (c cutter) value(v reflect.Value, depth int) {
	limit := c.limit
	if depth > 64 || !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() && !c.seen[v.Pointer()] {
			c.seen[v.Pointer()] = true
			c.value(v.Elem(), depth+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				c.value(f, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes encode as base64; results have none
		}
		for i := 0; i < v.Len(); i++ {
			c.value(v.Index(i), depth+1)
		}
	case reflect.String:
		if v.CanSet() && v.Len() > limit {
			v.SetString(CutString(v.String(), limit))
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		if x := reflect.ValueOf(c.any(v.Elem().Interface(), depth+1)); x.IsValid() && x.Type().AssignableTo(v.Type()) {
			v.Set(x)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(v.MapIndex(k))
			c.value(val, depth+1)
			nk := k
			if k.Kind() == reflect.String && k.Len() > limit {
				v.SetMapIndex(k, reflect.Value{})
				nk = reflect.New(k.Type()).Elem()
				nk.SetString(CutString(k.String(), limit))
			}
			v.SetMapIndex(nk, val)
		}
	}
}

// any cuts a value held in an `any`: as a history's values are decoded,
// strings, lists and objects of them. A list keeps the elements that fit
// in limit bytes, then says how many it left out.
func (c cutter) any(x any, depth int) any {
	limit := c.limit
	switch t := x.(type) {
	case string:
		return CutString(t, limit)
	case []any:
		out := make([]any, 0, min(len(t), 64))
		size := 0
		for i, e := range t {
			e = c.any(e, depth+1)
			b, _ := json.Marshal(e)
			if size += len(b) + 1; size > limit && i > 0 {
				return append(out, "…("+strconv.Itoa(len(t)-i)+" more of "+strconv.Itoa(len(t))+" elements)")
			}
			out = append(out, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[CutString(k, limit)] = c.any(e, depth+1)
		}
		return out
	}
	if x == nil {
		return nil
	}
	v := reflect.New(reflect.TypeOf(x)).Elem()
	v.Set(reflect.ValueOf(x))
	c.value(v, depth+1)
	return v.Interface()
}
