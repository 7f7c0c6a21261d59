package checker

import (
	"context"
	"math"
	"slices"

	"github.com/redis-harness/harness/checker/history"
)

// ErrorClasses are the classes of errors Stats counts, in report order:
// the client's kinds of error (history.ErrorKinds), so that a report names
// an error as the client that got it did.
var ErrorClasses = history.ErrorKinds()

// ErrorClass classifies an error text of a fail/info completion for the
// statistics by history.ErrorKind: the kind the client would give the
// error (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, CROSSSLOT, LOADING, READONLY,
// MASTERDOWN, REFUSED, REDIS, connect, timeout, canceled, EOF, reset,
// other), and "" for no error and for "cas-mismatch", which is an answer,
// not an error.
func ErrorClass(text string) string { return history.ErrorKind(text) }

// Stats counts and times the client ops: outcomes, throughput, latency by f
// and outcome, redirects, errors by class. It always says valid; its result
// is also results.json's top-level "stats".
type Stats struct{}

// Name is "stats".
func (c *Stats) Name() string { return "stats" }

// StatsResult is results.json's stats (and checkers.stats).
type StatsResult struct {
	Valid Valid `json:"valid"`
	// Ops is the number of client operations; OK, Fail and Info their
	// outcomes, Info including Unfinished (invoked, never completed).
	Ops        int `json:"ops"`
	OK         int `json:"ok"`
	Fail       int `json:"fail"`
	Info       int `json:"info"`
	Unfinished int `json:"unfinished"`
	// Nemesis is the number of nemesis records.
	Nemesis int `json:"nemesis"`
	// SpanS is the time from the first client record to the last, and
	// OpsPerSec the completions over it.
	SpanS     float64 `json:"span_s"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency is by f, then outcome (ok, fail, info), of completed ops.
	Latency map[string]map[string]Latency `json:"latency"`
	// Redirects is the sum of MOVED/ASK hops the client followed.
	Redirects int64 `json:"redirects"`
	// Errors is by class (ErrorClasses); ErrorsPerSecond counts each class's
	// errors in every second of the run (index 0 is the run's first second),
	// for the classes that occurred.
	Errors          map[string]ErrorCount `json:"errors"`
	ErrorsPerSecond map[string][]int      `json:"errors_per_second"`
}

// Verdict is always True: statistics find no anomaly.
func (r *StatsResult) Verdict() Valid { return r.Valid }

// Latency summarizes completion times, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// ErrorCount is how many errors of a class, and their rate over the span.
type ErrorCount struct {
	Count  int     `json:"count"`
	PerSec float64 `json:"per_sec"`
}

// Check computes the statistics.
func (c *Stats) Check(_ context.Context, in *Input) Result {
	return ComputeStats(in)
}

// ComputeStats computes the statistics of a history.
func ComputeStats(in *Input) *StatsResult {
	res := &StatsResult{
		Valid:           True,
		Latency:         map[string]map[string]Latency{},
		Errors:          map[string]ErrorCount{},
		ErrorsPerSecond: map[string][]int{},
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range in.Ops {
		o := &in.Ops[i]
		if !o.IsClient() {
			res.Nemesis++
			continue
		}
		first, last = min(first, o.Time), max(last, o.Time)
	}
	lat := map[string]map[string][]int64{}
	completed := 0
	for i := range in.Operations {
		o := &in.Operations[i]
		res.Ops++
		switch o.Type() {
		case history.OK:
			res.OK++
		case history.Fail:
			res.Fail++
		default:
			res.Info++
		}
		if end(*o) < 0 {
			res.Unfinished++
			continue
		}
		completed++
		res.Redirects += int64(o.Complete.Redirects)
		f, t := o.Invoke.F, string(o.Type())
		if lat[f] == nil {
			lat[f] = map[string][]int64{}
		}
		lat[f][t] = append(lat[f][t], o.Complete.Time-o.Invoke.Time)
		if class := ErrorClass(o.Complete.Error); class != "" {
			ec := res.Errors[class]
			ec.Count++
			res.Errors[class] = ec
			sec := int(max(o.Complete.Time, 0) / 1e9)
			series := res.ErrorsPerSecond[class]
			for len(series) <= sec {
				series = append(series, 0)
			}
			series[sec]++
			res.ErrorsPerSecond[class] = series
		}
	}
	if last > first {
		res.SpanS = float64(last-first) / 1e9
		res.OpsPerSec = float64(completed) / res.SpanS
	}
	for class, ec := range res.Errors {
		if res.SpanS > 0 {
			ec.PerSec = float64(ec.Count) / res.SpanS
		}
		res.Errors[class] = ec
	}
	// Every series as long as the run, so that they plot side by side.
	if last > 0 {
		n := int(last/1e9) + 1
		for class, s := range res.ErrorsPerSecond {
			for len(s) < n {
				s = append(s, 0)
			}
			res.ErrorsPerSecond[class] = s
		}
	}
	for f, byType := range lat {
		res.Latency[f] = map[string]Latency{}
		for t, xs := range byType {
			res.Latency[f][t] = summarize(xs)
		}
	}
	return res
}

func summarize(xs []int64) Latency {
	slices.Sort(xs)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return float64(xs[max(i, 0)]) / 1e6
	}
	return Latency{Count: len(xs), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: float64(xs[len(xs)-1]) / 1e6}
}
