package checker

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis-harness/harness/checker/history"
)

// Counter checks counter keys (INCRBY, GET): every ok read must lie between
// the increments certainly applied before it began (acknowledged before its
// invocation) and those that may have been applied by its end (ok or
// unknown, invoked before its completion). Negative increments are bounded
// the other way round. The final read, the one invoked last, is the
// counter's final value.
type Counter struct {
	Workloads []string
	Options   Options
}

// Name is "counter".
func (c *Counter) Name() string { return "counter" }

// CounterResult is results.json's checkers.counter.
type CounterResult struct {
	Valid  Valid        `json:"valid"`
	Reason string       `json:"reason,omitempty"`
	Keys   []CounterKey `json:"keys"`
	// OpsJudged counts, by key space, the client ops the checker judged.
	OpsJudged map[string]int `json:"ops_judged"`
	// Unrecognized counts ops of a shape the checker does not know.
	Unrecognized int `json:"unrecognized,omitempty"`
}

// Verdict is the result's verdict.
func (r *CounterResult) Verdict() Valid { return r.Valid }

// CounterKey is one counter's evidence.
type CounterKey struct {
	Key   string `json:"key"`
	Valid Valid  `json:"valid"`
	// Acknowledged is the sum of ok increments, Unknown of those of unknown
	// outcome; Incrs and Reads count the ops.
	Acknowledged int64 `json:"acknowledged"`
	Unknown      int64 `json:"unknown"`
	Incrs        int   `json:"incrs"`
	Reads        int   `json:"reads"`
	// Final is the read invoked last, with its value and bounds; nil when
	// the counter was never read.
	Final *CounterRead `json:"final"`
	// Violations are the reads outside their bounds (the first MaxListed;
	// ViolationCount is exact).
	Violations     []CounterRead `json:"violations,omitempty"`
	ViolationCount int           `json:"violation_count"`
}

// CounterRead is a read with the bounds it had to lie in. Kind is "over"
// (more than could have been added: an increment applied twice or out of
// nowhere) or "under" (acknowledged increments lost); empty within bounds.
type CounterRead struct {
	Read  OpRef  `json:"read"`
	Value int64  `json:"value"`
	Lower int64  `json:"lower"`
	Upper int64  `json:"upper"`
	Kind  string `json:"kind,omitempty"`
}

// Check judges the counters.
func (c *Counter) Check(ctx context.Context, in *Input) Result {
	res := &CounterResult{Keys: []CounterKey{}, OpsJudged: map[string]int{}}
	sel := newSelector(c.Workloads, c.Options.Only)
	keys, groups := groupByKey(in, sel)
	var unread []string
	bad := 0
	for _, key := range keys {
		if ctx.Err() != nil {
			res.Valid, res.Reason = Unknown, "cancelled"
			return res
		}
		k := c.checkKey(in.Operations, key, groups[key], res)
		res.OpsJudged[sel.space(key)] += len(groups[key])
		res.Keys = append(res.Keys, k)
		switch k.Valid {
		case False:
			bad++
		case Unknown:
			unread = append(unread, key)
		}
	}
	var reasons []string
	switch {
	case len(keys) == 0:
		res.Valid = Unknown
		reasons = append(reasons, fmt.Sprintf("no operations of %v in the history", c.Workloads))
	case bad > 0:
		res.Valid = False
		reasons = append(reasons, fmt.Sprintf("%d of %d counters read values outside their bounds", bad, len(keys)))
	case len(unread) > 0 || res.Unrecognized > 0:
		res.Valid = Unknown
	default:
		res.Valid = True
	}
	if len(unread) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d counters were never read (%s)", len(unread), keyList(unread, len(unread))))
	}
	if res.Unrecognized > 0 {
		reasons = append(reasons, fmt.Sprintf("%d ops of an unknown shape were left out", res.Unrecognized))
	}
	res.Reason = joinReasons(reasons)
	return res
}

type incr struct {
	t   int64 // completion time (acked) or invocation time (maybe)
	inc int64
}

func (c *Counter) checkKey(all []history.Operation, key string, ops []int, res *CounterResult) CounterKey {
	k := CounterKey{Key: key}
	var acked, maybe []incr // ok by completion time; ok or info by invocation time
	var reads []int
	for _, i := range ops {
		o := &all[i]
		switch o.Invoke.F {
		case "incr":
			inc, ok := intValue(o.Invoke.Value)
			if !ok || o.Invoke.Value == nil {
				res.Unrecognized++
				continue
			}
			k.Incrs++
			switch o.Type() {
			case history.OK:
				k.Acknowledged += inc
				acked = append(acked, incr{t: o.Complete.Time, inc: inc})
				maybe = append(maybe, incr{t: o.Invoke.Time, inc: inc})
			case history.Info:
				k.Unknown += inc
				maybe = append(maybe, incr{t: o.Invoke.Time, inc: inc})
			}
		case "read":
			if o.Type() != history.OK {
				continue
			}
			if _, ok := intValue(o.Complete.Value); !ok {
				res.Unrecognized++
				continue
			}
			k.Reads++
			reads = append(reads, i)
		default:
			res.Unrecognized++
		}
	}
	ackedSums := prefixSums(acked)
	maybeSums := prefixSums(maybe)
	final := lastRead(all, reads)
	for _, r := range reads {
		o := &all[r]
		v, _ := intValue(o.Complete.Value)
		// Certainly applied: acknowledged strictly before the read began.
		na := sort.Search(len(acked), func(i int) bool { return acked[i].t >= o.Invoke.Time })
		// Possibly applied: invoked no later than the read's end.
		nm := sort.Search(len(maybe), func(i int) bool { return maybe[i].t > o.Complete.Time })
		a, m := ackedSums[na], maybeSums[nm]
		cr := CounterRead{Read: Ref(*o), Value: v,
			Lower: a.sum + (m.neg - a.neg),
			Upper: a.sum + (m.pos - a.pos)}
		switch {
		case v < cr.Lower:
			cr.Kind = "under"
		case v > cr.Upper:
			cr.Kind = "over"
		}
		if cr.Kind != "" {
			k.ViolationCount++
			k.Violations = capped(k.Violations, cr)
		}
		if r == final {
			f := cr
			k.Final = &f
		}
	}
	switch {
	case k.ViolationCount > 0:
		k.Valid = False
	case final < 0:
		k.Valid = Unknown
	default:
		k.Valid = True
	}
	return k
}

type sums struct{ sum, pos, neg int64 }

// prefixSums sorts xs by time; out[i] sums the first i.
func prefixSums(xs []incr) []sums {
	sort.Slice(xs, func(i, j int) bool { return xs[i].t < xs[j].t })
	out := make([]sums, len(xs)+1)
	for i, x := range xs {
		s := out[i]
		s.sum += x.inc
		if x.inc > 0 {
			s.pos += x.inc
		} else {
			s.neg += x.inc
		}
		out[i+1] = s
	}
	return out
}
