package reports

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// The history is read once, streaming, into bounded aggregates: a grid of
// time buckets (throughput, errors, latency histograms) whose width doubles
// as the run grows, deterministic samples of ops for the scatter plots, the
// nemesis records, and the final reads of the keys the anomalies name.
// Memory does not grow with the length of the run beyond the nemesis
// records.

// Outcomes, as indexes.
const (
	outOK = iota
	outFail
	outInfo
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "fail", "info"}

func outcomeOf(t history.Type) int {
	switch t {
	case history.OK:
		return outOK
	case history.Fail:
		return outFail
	}
	return outInfo
}

const (
	// maxBuckets bounds the grid: past it, buckets merge pairwise.
	maxBuckets = 200
	firstWidth = int64(10 * time.Millisecond)
	// Latency histograms: 16 bins per doubling (quantiles within 4.4%),
	// from 1 ns to 2^48 ns (78 hours).
	histPerDoubling = 16
	histBins        = 48 * histPerDoubling
	// maxFs is how many distinct f the plots tell apart; the rest are "other".
	maxFs = 24
	// maxNemesis bounds the nemesis records kept.
	maxNemesis = 20000
)

// sampleLimits bound the scatter plots' points per outcome. Failures and
// unknown outcomes are rarer and more telling, so they keep more of theirs.
var sampleLimits = [numOutcomes]int{outOK: 12000, outFail: 6000, outInfo: 6000}

// point is one op in a latency scatter plot.
type point struct {
	t, lat int64 // invocation time and latency, ns
	index  int64 // the invoke record's index: what sampling hashes
	f, out uint8
}

type latHist [histBins]uint32

func histBin(ns int64) int {
	if ns < 1 {
		return 0
	}
	return min(max(int(math.Log2(float64(ns))*histPerDoubling), 0), histBins-1)
}

// quantile is the q-quantile of the n latencies counted, in ns, as the
// geometric middle of its bin.
func (h *latHist) quantile(n int, q float64) float64 {
	want := max(int(math.Ceil(q*float64(n))), 1)
	acc := 0
	for i, c := range h {
		acc += int(c)
		if acc >= want {
			return math.Exp2((float64(i) + 0.5) / histPerDoubling)
		}
	}
	return 0
}

// errorClassIndex numbers checker.ErrorClasses.
var errorClassIndex = func() map[string]int {
	m := map[string]int{}
	for i, c := range checker.ErrorClasses {
		m[c] = i
	}
	return m
}()

// bucket aggregates one span of time. Completions count at their completion
// time; latencies at their invocation, as Jepsen plots them.
type bucket struct {
	done      [numOutcomes]int
	errs      [history.NumErrorKinds]int // by errorClassIndex
	redirects int
	timed     int // latencies counted in hist
	hist      *latHist
	maxLat    int64
	slowest   [numOutcomes]point // the slowest op of each outcome invoked here
}

func (b *bucket) merge(o *bucket) {
	for i := range b.done {
		b.done[i] += o.done[i]
	}
	for i := range b.errs {
		b.errs[i] += o.errs[i]
	}
	b.redirects += o.redirects
	b.timed += o.timed
	b.maxLat = max(b.maxLat, o.maxLat)
	switch {
	case o.hist == nil:
	case b.hist == nil:
		b.hist = o.hist
	default:
		for i, c := range o.hist {
			b.hist[i] += c
		}
	}
	for i := range b.slowest {
		if o.slowest[i].lat > b.slowest[i].lat {
			b.slowest[i] = o.slowest[i]
		}
	}
}

// timeGrid is a row of buckets of one width, doubled (and neighbours
// merged) whenever the run outgrows maxBuckets.
type timeGrid struct {
	width   int64
	buckets []bucket
}

func (g *timeGrid) at(t int64) *bucket {
	t = max(t, 0)
	for t/g.width >= maxBuckets {
		g.coarsen()
	}
	i := int(t / g.width)
	for len(g.buckets) <= i {
		g.buckets = append(g.buckets, bucket{})
	}
	return &g.buckets[i]
}

func (g *timeGrid) coarsen() {
	g.width *= 2
	n := (len(g.buckets) + 1) / 2
	for i := 0; i < n; i++ {
		b := g.buckets[2*i]
		if 2*i+1 < len(g.buckets) {
			b.merge(&g.buckets[2*i+1])
		}
		g.buckets[i] = b
	}
	clear(g.buckets[n:])
	g.buckets = g.buckets[:n]
}

// sampler keeps the ops whose index hashes below a threshold, halving the
// threshold whenever more than limit are kept. What it ends with depends
// only on the history, never on timing: the same run gives the same plot.
type sampler struct {
	limit int
	shift uint
	pts   []point
}

func mix(x int64) uint64 {
	z := uint64(x) + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (s *sampler) keeps(index int64) bool {
	return s.shift == 0 || mix(index)>>(64-s.shift) == 0
}

func (s *sampler) offer(p point) {
	if !s.keeps(p.index) {
		return
	}
	s.pts = append(s.pts, p)
	for len(s.pts) > s.limit && s.shift < 63 {
		s.shift++
		kept := s.pts[:0]
		for _, q := range s.pts {
			if s.keeps(q.index) {
				kept = append(kept, q)
			}
		}
		s.pts = kept
	}
}

// fraction is the share of ops the sampler keeps.
func (s *sampler) fraction() float64 { return math.Exp2(-float64(s.shift)) }

type pendingInvoke struct {
	index, time int64
	f           uint8
	// op is kept only for the keys whose final read is wanted.
	op *history.Op
}

// finalRead is a key's ok read invoked last: the read an anomaly's
// explanation names. N is how many elements it returned.
type finalRead struct {
	Ref checker.OpRef
	N   int
}

// histScan is what one pass over history.jsonl found.
type histScan struct {
	grid    timeGrid
	fs      []string
	fIndex  map[string]uint8
	samples [numOutcomes]sampler
	pending map[int]pendingInvoke

	nemesis        []history.Op
	nemesisDropped int
	finals         map[string]*finalRead // keys asked for → their final read

	records     int64
	counts      [numOutcomes]int
	completed   int
	unfinished  int
	orphans     int // completions with no invoke
	first, last int64
	end         int64 // the last record's time, client or nemesis
	truncated   string
	file        string // the history's file name, for warnings
}

// scanHistory streams dir's history (history.jsonl or history.jsonl.gz),
// unless loaded has it already. wantFinal names the keys whose
// final read the explanations need.
func scanHistory(dir string, wantFinal map[string]bool, loaded *Loaded) (*histScan, error) {
	s := &histScan{
		grid:    timeGrid{width: firstWidth},
		fIndex:  map[string]uint8{},
		pending: map[int]pendingInvoke{},
		finals:  map[string]*finalRead{},
		first:   math.MaxInt64,
		last:    math.MinInt64,
	}
	for i := range s.samples {
		s.samples[i].limit = sampleLimits[i]
	}
	if loaded != nil {
		for i := range loaded.Ops {
			s.add(loaded.Ops[i], wantFinal)
		}
		s.truncated, s.file = loaded.Truncated, cmp.Or(loaded.File, checker.HistoryFile)
	} else {
		src, err := history.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		defer src.Close()
		res, err := history.Read(src, func(o history.Op) error { s.add(o, wantFinal); return nil })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		s.truncated = res.Truncated
		s.file = filepath.Base(src.Path)
	}
	s.unfinished = len(s.pending)
	s.counts[outInfo] += s.unfinished
	s.pending = nil
	if s.first > s.last {
		s.first, s.last = 0, 0
	}
	return s, nil
}

func (s *histScan) fOf(f string) uint8 {
	if i, ok := s.fIndex[f]; ok {
		return i
	}
	if len(s.fs) >= maxFs {
		if i, ok := s.fIndex["other"]; ok {
			return i
		}
		f = "other"
	}
	i := uint8(len(s.fs))
	s.fs = append(s.fs, f)
	s.fIndex[f] = i
	return i
}

func (s *histScan) add(o history.Op, wantFinal map[string]bool) {
	s.records++
	s.end = max(s.end, o.Time)
	if !o.IsClient() {
		if len(s.nemesis) < maxNemesis {
			s.nemesis = append(s.nemesis, o)
		} else {
			s.nemesisDropped++
		}
		return
	}
	s.first, s.last = min(s.first, o.Time), max(s.last, o.Time)
	if o.Type == history.Invoke {
		p := pendingInvoke{index: o.Index, time: o.Time, f: s.fOf(o.F)}
		if wantFinal[o.Key] && o.F == "read" {
			op := o
			p.op = &op
		}
		s.pending[o.Process] = p
		return
	}
	inv, ok := s.pending[o.Process]
	if !ok {
		s.orphans++
		return
	}
	delete(s.pending, o.Process)
	out := outcomeOf(o.Type)
	s.counts[out]++
	s.completed++

	b := s.grid.at(o.Time)
	b.done[out]++
	b.redirects += o.Redirects
	if c := checker.ErrorClass(o.Error); c != "" {
		b.errs[errorClassIndex[c]]++
	}

	lat := max(o.Time-inv.time, 0)
	p := point{t: inv.time, lat: lat, index: inv.index, f: inv.f, out: uint8(out)}
	b = s.grid.at(inv.time)
	if b.hist == nil {
		b.hist = new(latHist)
	}
	b.hist[histBin(lat)]++
	b.timed++
	b.maxLat = max(b.maxLat, lat)
	if lat >= b.slowest[out].lat {
		b.slowest[out] = p
	}
	s.samples[out].offer(p)

	if inv.op != nil && o.Type == history.OK {
		key := inv.op.Key
		fr := s.finals[key]
		if fr == nil || inv.time >= fr.Ref.Time {
			ref := checker.Ref(history.Operation{Invoke: inv.op, Complete: &o})
			n := 0
			if l, ok := o.Value.([]any); ok {
				n = len(l)
			}
			ref.Value = nil // the elements are counted, not shown
			s.finals[key] = &finalRead{Ref: ref, N: n}
		}
	}
}
