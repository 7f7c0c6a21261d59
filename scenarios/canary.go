package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/workloads"
)

// TopologyColumn is the canary matrix's column of the mutations planted in
// topology.jsonl rather than in a key space's ops.
const TopologyColumn = "topology"

// The outcomes of a canary cell.
const (
	Caught   = "caught"    // the checker reported exactly the planted anomaly
	Missed   = "MISSED"    // it did not
	NoTarget = "NO TARGET" // the recorded history had nothing to plant it in
)

// CanaryOptions configure Canary. Zero values mean defaults.
type CanaryOptions struct {
	// Backend is where the cluster runs (default local).
	Backend string
	// Store is where the recorded run is kept; empty: a temporary
	// directory, removed at the end unless the canary failed.
	Store string
	// TimeLimit is how long the workloads run (default 4 s).
	TimeLimit time.Duration
	// Seed fixes the workloads' choices; 0 picks one.
	Seed int64
	// Progress receives the recording's progress lines.
	Progress io.Writer
}

// CanaryReport is what Canary found: the recorded run, how the unmutated
// history was judged, and one cell per mutation and column.
type CanaryReport struct {
	// Dir is the recorded run directory (removed when Store was empty and
	// every cell was caught).
	Dir string
	// Columns are the key spaces, in history's table order, then topology.
	Columns []string
	// Mutations are the rows, in order.
	Mutations []string
	// Baseline is the verdict on the history as recorded.
	Baseline CanaryBaseline
	// Cells are the planted anomalies, row by row.
	Cells []CanaryCell
	// RecordS and CheckS are how long recording and judging the mutants took.
	RecordS, CheckS float64
}

// CanaryBaseline is the unmutated history's verdict: it must be valid, and
// every key space's checker must have judged some of its ops.
type CanaryBaseline struct {
	Valid checker.Valid `json:"valid"`
	// Judged is, by key space, the ops its checker judged.
	Judged map[string]int `json:"judged"`
	// Problems say what keeps the baseline from proving anything.
	Problems []string `json:"problems,omitempty"`
}

// CanaryCell is one mutation planted in one column's ops.
type CanaryCell struct {
	Mutation string `json:"mutation"`
	Column   string `json:"column"`
	Checker  string `json:"checker,omitempty"`
	Outcome  string `json:"outcome"`
	// Target is what was planted ("element 1234 of {set:1} dropped from
	// its final read").
	Target string `json:"target,omitempty"`
	// Detail is what the checker said instead, when it missed.
	Detail string `json:"detail,omitempty"`
}

// OK is true when the baseline is valid with every space judged and every
// cell caught.
func (r *CanaryReport) OK() bool {
	if r.Baseline.Valid != checker.True || len(r.Baseline.Problems) > 0 {
		return false
	}
	for _, c := range r.Cells {
		if c.Outcome != Caught {
			return false
		}
	}
	return len(r.Cells) > 0
}

// Cell is the cell of a mutation and a column, if the mutation applies there.
func (r *CanaryReport) Cell(mutation, column string) (CanaryCell, bool) {
	for _, c := range r.Cells {
		if c.Mutation == mutation && c.Column == column {
			return c, true
		}
	}
	return CanaryCell{}, false
}

// PrintMatrix writes the matrix (mutation × column → caught, MISSED, NO
// TARGET, or "·" where the mutation does not apply), then every cell that
// was not caught with what the checker said.
func (r *CanaryReport) PrintMatrix(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "mutation")
	for _, c := range r.Columns {
		fmt.Fprint(tw, "\t"+c)
	}
	fmt.Fprintln(tw)
	fmt.Fprint(tw, "(none: judged)")
	for _, c := range r.Columns {
		cell := "·"
		if c != TopologyColumn {
			cell = fmt.Sprintf("%d ops", r.Baseline.Judged[c])
		}
		fmt.Fprint(tw, "\t"+cell)
	}
	fmt.Fprintln(tw)
	for _, m := range r.Mutations {
		fmt.Fprint(tw, m)
		for _, col := range r.Columns {
			cell := "·"
			if c, ok := r.Cell(m, col); ok {
				cell = c.Outcome
			}
			fmt.Fprint(tw, "\t"+cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "unmutated history: %s", r.Baseline.Valid)
	if len(r.Baseline.Problems) > 0 {
		fmt.Fprintf(w, " — %s", strings.Join(r.Baseline.Problems, "; "))
	}
	fmt.Fprintln(w)
	for _, c := range r.Cells {
		if c.Outcome == Caught {
			continue
		}
		fmt.Fprintf(w, "%s × %s: %s", c.Mutation, c.Column, c.Outcome)
		if c.Target != "" {
			fmt.Fprintf(w, " (planted: %s)", c.Target)
		}
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
}

// CanaryUnavailable says why the canary cannot record on backend here, or
// "" when it can try.
func CanaryUnavailable(backend string) string {
	if backend == "" || backend == "local" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			return "redis-server is not installed (apt-get install redis-server), so the local backend cannot run a cluster"
		}
	}
	return ""
}

// CanaryScenario is the run the canary records: every workload of
// history's table of key spaces (list-append with its MULTI/EXEC txns, the
// pipeline workload of register and of kv) at once on one healthy 3×1
// cluster, rate-capped so that the history stays small enough to judge
// a dozen times over in seconds.
func CanaryScenario(o CanaryOptions) *Scenario {
	var specs []workloads.Spec
	for _, sp := range history.Spaces() {
		s := workloads.Spec{Name: sp.Workload, Of: sp.Of}
		if sp.Workload == history.PipelineWorkload {
			s.Pipeline = 4
		}
		specs = append(specs, s)
	}
	backend := o.Backend
	if backend == "" {
		backend = "local"
	}
	limit := o.TimeLimit
	if limit <= 0 {
		limit = 4 * time.Second
	}
	return &Scenario{
		Name:        "canary",
		Description: "every workload at once, recorded for the canary's mutations",
		Backend:     backend,
		Cluster:     ClusterSpec{Masters: 3, Replicas: 1, Config: map[string]string{"cluster-node-timeout": "2000"}, HealthTimeout: 60 * time.Second},
		TimeLimit:   limit,
		Seed:        o.Seed,
		Client:      workloads.Config{Workloads: specs, Concurrency: 8, OpsPerKey: 200, Keys: 4, Rate: 2000},
		Check:       CheckSpec{Timeout: 30 * time.Second},
	}
}

// Canary proves that the harness still sees: it records a short real run
// of every workload (CanaryScenario), requires the history as recorded to
// be valid with every key space's ops judged, then plants every known
// anomaly (Mutations) in copies of it and requires the checker of the
// anomaly to report exactly that anomaly: the lost element, the key, the
// torn read, the uncovered slots. A mutation with nothing to plant in is
// a failing cell, never a pass. An error is a *HarnessError: the run could
// not be recorded.
func Canary(ctx context.Context, o CanaryOptions) (*CanaryReport, error) {
	store, temp := o.Store, false
	if store == "" {
		d, err := os.MkdirTemp("", "harness-canary-")
		if err != nil {
			return nil, harnessErr("canary store: %w", err)
		}
		store, temp = d, true
	}
	s := CanaryScenario(o)
	started := time.Now()
	out, err := Run(ctx, s, Options{Store: store, Progress: o.Progress})
	rep := &CanaryReport{RecordS: time.Since(started).Seconds()}
	if out != nil {
		rep.Dir = out.Dir
	}
	if err != nil {
		return rep, &HarnessError{Err: fmt.Errorf("canary: record the run (kept in %s): %w", store, err)}
	}
	s = out.Scenario // as the run resolved it
	in, err := checker.Load(out.Dir)
	if err != nil {
		return rep, harnessErr("canary: %w", err)
	}
	in.Expect = topology.Expect{Replicas: s.Cluster.Replicas}
	in.Dir = "" // mutants write no files
	checkStart := time.Now()
	judge(ctx, rep, in, out.Report, checker.Options{CheckTimeout: s.Check.Timeout}, spaceNames(s.Client))
	rep.CheckS = time.Since(checkStart).Seconds()
	if temp && rep.OK() {
		os.RemoveAll(store)
		rep.Dir = ""
	}
	return rep, nil
}

// judge fills rep's baseline from base, the recorded history's report, and
// plants every mutation in copies of in, judged by the checkers the run's
// spaces get (as Judge picks them).
func judge(ctx context.Context, rep *CanaryReport, in *checker.Input, base *checker.Report, opts checker.Options, spaces []string) {
	for _, sp := range history.Spaces() {
		rep.Columns = append(rep.Columns, sp.Name)
	}
	rep.Columns = append(rep.Columns, TopologyColumn)
	rep.Baseline = baseline(base)
	for _, m := range Mutations() {
		rep.Mutations = append(rep.Mutations, m.Name)
		for _, col := range m.Columns {
			rep.Cells = append(rep.Cells, plantOne(ctx, m, col, in, opts, spaces))
		}
	}
}

func baseline(base *checker.Report) CanaryBaseline {
	b := CanaryBaseline{Valid: checker.Unknown, Judged: map[string]int{}}
	if base == nil {
		b.Problems = append(b.Problems, "the recorded run was not judged")
		return b
	}
	b.Valid = base.Valid
	for _, name := range base.Names {
		if v := base.Checkers[name].Verdict(); v != checker.True {
			b.Problems = append(b.Problems, fmt.Sprintf("%s: %s", name, v))
		}
	}
	for _, sp := range history.Spaces() {
		if j, ok := base.Checkers[sp.Checker].(checker.Judging); ok {
			b.Judged[sp.Name] = j.Judged()[sp.Name]
		}
		if b.Judged[sp.Name] == 0 {
			b.Problems = append(b.Problems, fmt.Sprintf("the %s checker judged no op of %s", sp.Checker, sp.Name))
		}
	}
	return b
}

// plantOne plants m in a copy of in's column col and judges the copy with
// the checker that must catch it.
func plantOne(ctx context.Context, m Mutation, col string, in *checker.Input, opts checker.Options, spaces []string) CanaryCell {
	cell := CanaryCell{Mutation: m.Name, Column: col, Checker: history.CheckSlots}
	if sp, ok := history.SpaceNamed(col); ok {
		cell.Checker = sp.Checker
	}
	h, err := newMutant(in)
	if err != nil {
		cell.Outcome, cell.Detail = NoTarget, err.Error()
		return cell
	}
	p := m.plant(h, col)
	if p == nil {
		cell.Outcome = NoTarget
		cell.Detail = "the recorded history has no op this mutation can be planted in"
		return cell
	}
	cell.Target = p.target
	cs, err := checker.ForWorkloads(spaces, opts)
	if err != nil {
		cell.Outcome, cell.Detail = Missed, err.Error()
		return cell
	}
	var c checker.Checker
	for _, x := range cs {
		if x.Name() == cell.Checker {
			c = x
		}
	}
	if c == nil {
		cell.Outcome, cell.Detail = Missed, "no "+cell.Checker+" checker"
		return cell
	}
	res := checker.Check(ctx, h.input(), []checker.Checker{c}).Checkers[cell.Checker]
	if why := p.caught(res); why != "" {
		cell.Outcome = Missed
		b, _ := json.Marshal(res)
		cell.Detail = why + "; result: " + cut(string(b), 600)
		return cell
	}
	cell.Outcome = Caught
	return cell
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Mutation is a known anomaly the canary plants in recorded histories.
type Mutation struct {
	// Name is the matrix row; Does says what it plants.
	Name, Does string
	// Columns are the key spaces (or TopologyColumn) it is planted in.
	Columns []string
	plant   func(h *mutant, col string) *planted
}

// planted is one anomaly in a mutant: what, and how to tell that the
// checker reported exactly it ("" when it did).
type planted struct {
	target string
	caught func(checker.Result) string
}

// Mutations are every anomaly the canary plants. Each is sound: the
// mutated history proves the anomaly under Jepsen's semantics, whatever
// else the run did, so a checker that misses it is blind.
func Mutations() []Mutation {
	return []Mutation{
		{Name: "lost-write", Does: "drop an acknowledged add/append from the key's final read",
			Columns: []string{"set", "list-append"}, plant: plantLostWrite},
		{Name: "stale-read", Does: "make a read return the value an earlier read saw before a write that completed since (pipelined reads too)",
			Columns: []string{"register", "kv", "pipeline-register", "pipeline-kv"}, plant: plantStaleRead},
		{Name: "cas-wrong-old", Does: "answer a compare-and-set as if it found a value overwritten before it began",
			Columns: []string{"register", "pipeline-register"}, plant: plantCASWrongOld},
		{Name: "torn-mget", Does: "make an MGET return one key's value from another MSET",
			Columns: []string{"multikey"}, plant: plantTornMget},
		{Name: "list-duplicate", Does: "repeat an element in the final read",
			Columns: []string{"list-append"}, plant: plantListDuplicate},
		{Name: "list-reorder", Does: "swap two elements of the final read whose appends were ordered in real time",
			Columns: []string{"list-append"}, plant: plantListReorder},
		{Name: "txn-not-atomic", Does: "make a MULTI/EXEC read miss the txn's own earlier append",
			Columns: []string{"list-append"}, plant: plantTxnNotAtomic},
		{Name: "lost-increment", Does: "make the final read miss an acknowledged increment",
			Columns: []string{"counter"}, plant: plantLostIncrement},
		{Name: "phantom-element", Does: "make the final read hold an element no op ever added",
			Columns: []string{"set", "list-append"}, plant: plantPhantom},
		{Name: "double-increment", Does: "make the final read count an acknowledged increment twice",
			Columns: []string{"counter"}, plant: plantDoubleIncrement},
		{Name: "crossslot-accepted", Does: "make Redis accept a multi-key command over two slots",
			Columns: []string{"multikey"}, plant: plantCrossslotAccepted},
		{Name: "slots-uncovered", Does: "leave 10 slots without a master in the last topology sample",
			Columns: []string{TopologyColumn}, plant: plantSlotsUncovered},
		{Name: "slots-open", Does: "leave a slot MIGRATING/IMPORTING in the last topology sample",
			Columns: []string{TopologyColumn}, plant: plantSlotsOpen},
	}
}

// mutant is a copy of a recorded history that a mutation may change: its
// own records (values are replaced, never changed in place, so the
// original's stay intact), paired again, and its own topology samples.
type mutant struct {
	ops   []history.Op
	pairs []history.Operation
	topo  []topology.Sample
	exp   topology.Expect
}

func newMutant(in *checker.Input) (*mutant, error) {
	ops := slices.Clone(in.Ops)
	pairs, err := history.Pair(ops)
	if err != nil {
		return nil, fmt.Errorf("pair the copy: %w", err)
	}
	return &mutant{ops: ops, pairs: pairs, topo: slices.Clone(in.Topology), exp: in.Expect}, nil
}

func (h *mutant) input() *checker.Input {
	return &checker.Input{Ops: h.ops, Operations: h.pairs, Topology: h.topo, Expect: h.exp}
}

// byKey is the index (in pairs, i.e. invocation order) of every op of
// space, by key; keys sorted.
func (h *mutant) byKey(space string) ([]string, map[string][]int) {
	m := map[string][]int{}
	for i := range h.pairs {
		k := h.pairs[i].Invoke.Key
		if history.SpaceOf(k) == space {
			m[k] = append(m[k], i)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, m
}

func (h *mutant) ok(i int) bool { return h.pairs[i].Type() == history.OK }
func (h *mutant) inv(i int) int64 {
	return h.pairs[i].Invoke.Time
}
func (h *mutant) ret(i int) int64 { return h.pairs[i].Complete.Time }

// setValue replaces op i's completion value (and, with invoke, its
// invocation's too).
func (h *mutant) setValue(i int, v any, invoke bool) {
	h.pairs[i].Complete.Value = v
	if invoke {
		h.pairs[i].Invoke.Value = v
	}
}

// same compares two history values as JSON does (1 and 1.0 alike).
func same(a, b any) bool {
	x, errx := json.Marshal(norm(a))
	y, erry := json.Marshal(norm(b))
	return errx == nil && erry == nil && string(x) == string(y)
}

func norm(v any) any {
	if n, ok := history.Int(v); ok {
		return n
	}
	return v
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lastRead is the ok op with f among ids invoked last, or -1.
func (h *mutant) lastRead(ids []int, f string) int {
	best := -1
	for _, i := range ids {
		if h.pairs[i].Invoke.F == f && h.ok(i) && (best < 0 || h.inv(i) >= h.inv(best)) {
			best = i
		}
	}
	return best
}

// linFs are the f of the reads and of the writes of a linearizable
// space's model.
func linFs(space string) (read string, writes []string) {
	sp, _ := history.SpaceNamed(space)
	if sp.Model == history.ModelKV {
		return "get", []string{"put", "append"}
	}
	return "read", []string{"write", "cas"}
}

// lastWriteBefore is the ok write among ids that completed before t and was
// invoked last, or -1.
func (h *mutant) lastWriteBefore(ids []int, writes []string, t int64) int {
	best := -1
	for _, i := range ids {
		if slices.Contains(writes, h.pairs[i].Invoke.F) && h.ok(i) && h.ret(i) < t && (best < 0 || h.inv(i) > h.inv(best)) {
			best = i
		}
	}
	return best
}

func linCaught(key string) func(checker.Result) string {
	return caughtAs("linearizable", func(lr *checker.LinearizableResult) string {
		if lr.InvalidCount != 1 || len(lr.InvalidKeys) != 1 || lr.InvalidKeys[0] != key {
			return fmt.Sprintf("invalid keys %v (%d), want exactly %s", lr.InvalidKeys, lr.InvalidCount, key)
		}
		return ""
	})
}

// plantStaleRead: a read R, a write W that completed before R began, and a
// read R0 that completed before W began: R returns R0's value. Every state
// after W is W's or a later op's (values are unique; a kv string after W
// holds W's token or starts with a later put's), none of which R0 saw.
func plantStaleRead(h *mutant, space string) *planted {
	readF, writes := linFs(space)
	keys, ops := h.byKey(space)
	for _, key := range keys {
		ids := ops[key]
		for j := len(ids) - 1; j >= 0; j-- {
			r := ids[j]
			if h.pairs[r].Invoke.F != readF || !h.ok(r) {
				continue
			}
			w := h.lastWriteBefore(ids, writes, h.inv(r))
			if w < 0 {
				continue
			}
			for _, r0 := range ids {
				if h.pairs[r0].Invoke.F == readF && h.ok(r0) && h.ret(r0) < h.inv(w) && !same(h.pairs[r0].Complete.Value, h.pairs[r].Complete.Value) {
					old := h.pairs[r0].Complete.Value
					h.setValue(r, old, false)
					return &planted{
						target: fmt.Sprintf("read #%d of %s returns %s, read by #%d before write #%d", h.pairs[r].Invoke.Index, key, show(old), h.pairs[r0].Invoke.Index, h.pairs[w].Invoke.Index),
						caught: linCaught(key),
					}
				}
			}
		}
	}
	return nil
}

// plantCASWrongOld: an ok cas C [old, new], a write W that completed before
// C began, and a write W0 that completed before W began: C now claims it
// found W0's value, which W had overwritten.
func plantCASWrongOld(h *mutant, space string) *planted {
	_, writes := linFs(space)
	keys, ops := h.byKey(space)
	for _, key := range keys {
		ids := ops[key]
		for j := len(ids) - 1; j >= 0; j-- {
			c := ids[j]
			cv, _ := h.pairs[c].Complete.Value.([]any)
			if h.pairs[c].Invoke.F != "cas" || !h.ok(c) || len(cv) != 2 {
				continue
			}
			w := h.lastWriteBefore(ids, writes, h.inv(c))
			if w < 0 {
				continue
			}
			for _, w0 := range ids {
				if !slices.Contains(writes, h.pairs[w0].Invoke.F) || !h.ok(w0) || h.ret(w0) >= h.inv(w) {
					continue
				}
				v0 := h.pairs[w0].Invoke.Value
				if vs, ok := v0.([]any); ok && len(vs) == 2 {
					v0 = vs[1] // a cas writes its new value
				}
				if same(v0, cv[0]) {
					continue
				}
				h.setValue(c, []any{v0, cv[1]}, true)
				return &planted{
					target: fmt.Sprintf("cas #%d of %s swaps from %s, written by #%d and overwritten by #%d before it began", h.pairs[c].Invoke.Index, key, show(v0), h.pairs[w0].Invoke.Index, h.pairs[w].Invoke.Index),
					caught: linCaught(key),
				}
			}
		}
	}
	return nil
}

// plantTornMget: an ok mget M of a tag and an ok mset S of it whose value
// differs from what M read at the tag's second key: M now reads S's value
// there. Every mset writes every key of the tag at once, so no state has
// two keys apart.
func plantTornMget(h *mutant, space string) *planted {
	keys, ops := h.byKey(space)
	for _, key := range keys {
		ids := ops[key]
		for j := len(ids) - 1; j >= 0; j-- {
			m := ids[j]
			read, _ := h.pairs[m].Complete.Value.(map[string]any)
			if h.pairs[m].Invoke.F != "mget" || !h.ok(m) || len(read) < 2 {
				continue
			}
			names := make([]string, 0, len(read))
			for k := range read {
				names = append(names, k)
			}
			sort.Strings(names)
			second := names[1]
			for _, s := range ids {
				vals, _ := h.pairs[s].Invoke.Value.(map[string]any)
				if h.pairs[s].Invoke.F != "mset" || !h.ok(s) || vals == nil {
					continue
				}
				v2, ok := vals[second]
				if !ok || same(v2, read[second]) {
					continue
				}
				torn := make(map[string]any, len(read))
				for k, v := range read {
					torn[k] = v
				}
				torn[second] = v2
				h.setValue(m, torn, false)
				idx := h.pairs[m].Invoke.Index
				return &planted{
					target: fmt.Sprintf("mget #%d of %s reads %s at %s, written by mset #%d", idx, key, show(v2), second, h.pairs[s].Invoke.Index),
					caught: caughtAs("multikey", func(mr *checker.MultikeyResult) string {
						for _, t := range mr.TornReads {
							if t.Read.Index == idx {
								return ""
							}
						}
						return fmt.Sprintf("%d torn reads, none of them #%d", mr.Torn, idx)
					}),
				}
			}
		}
	}
	return nil
}

// plantLostWrite drops, from a key's final read, an element whose add or
// append was acknowledged before that read began.
func plantLostWrite(h *mutant, space string) *planted {
	if space == "list-append" {
		return h.plantList(func(key string, fin int, list []any, acked map[string]int) *planted {
			for p := len(list) - 1; p >= 0; p-- {
				a, ok := acked[show(norm(list[p]))]
				if !ok || !h.ok(a) || h.ret(a) >= h.inv(fin) {
					continue
				}
				e := list[p]
				h.setValue(fin, slices.Delete(slices.Clone(list), p, p+1), false)
				return &planted{
					target: fmt.Sprintf("element %s of %s, appended by #%d, dropped from final read #%d", show(e), key, h.pairs[a].Invoke.Index, h.pairs[fin].Invoke.Index),
					caught: listElementCaught(key, e, func(r *checker.ListAppendResult) []checker.ListElement { return r.LostElements }, "lost"),
				}
			}
			return nil
		})
	}
	keys, ops := h.byKey(space)
	for _, key := range keys {
		ids := ops[key]
		fin := h.lastRead(ids, "read")
		if fin < 0 {
			continue
		}
		list, _ := h.pairs[fin].Complete.Value.([]any)
		for p := len(list) - 1; p >= 0; p-- {
			for _, a := range ids {
				if h.pairs[a].Invoke.F != "add" || !h.ok(a) || h.ret(a) >= h.inv(fin) || !same(h.pairs[a].Invoke.Value, list[p]) {
					continue
				}
				e := list[p]
				h.setValue(fin, slices.Delete(slices.Clone(list), p, p+1), false)
				return &planted{
					target: fmt.Sprintf("element %s of %s, added by #%d, dropped from final read #%d", show(e), key, h.pairs[a].Invoke.Index, h.pairs[fin].Invoke.Index),
					caught: caughtAs("set", func(sr *checker.SetResult) string {
						for _, l := range sr.LostElements {
							if l.Key == key && same(l.Element, e) {
								return ""
							}
						}
						return fmt.Sprintf("%d lost, not %s of %s", sr.Lost, show(e), key)
					}),
				}
			}
		}
	}
	return nil
}

func listElementCaught(key string, e any, list func(*checker.ListAppendResult) []checker.ListElement, what string) func(checker.Result) string {
	return caughtAs("list-append", func(lr *checker.ListAppendResult) string {
		for _, l := range list(lr) {
			if l.Key == key && same(l.Element, e) {
				return ""
			}
		}
		return fmt.Sprintf("no %s element %s of %s reported", what, show(e), key)
	})
}

// caughtAs is how a planted anomaly is found in its checker's result: the
// result must be an R (the checker's kind, named what) and invalid, and
// found, given it, says "" when it reports the planted anomaly itself, or
// what it reported instead.
func caughtAs[R checker.Result](what string, found func(R) string) func(checker.Result) string {
	return func(r checker.Result) string {
		x, ok := r.(R)
		if !ok {
			return fmt.Sprintf("not a %s result: %T", what, r)
		}
		if v := r.Verdict(); v != checker.False {
			return "verdict " + v.String()
		}
		return found(x)
	}
}

// plantList calls f with each list key (sorted), its final read (the last
// ok plain read, invoked after every append to the key), that read's list,
// and the op that appended each element (by its JSON), until f plants.
func (h *mutant) plantList(f func(key string, fin int, list []any, appended map[string]int) *planted) *planted {
	lastAppend := map[string]int64{}
	appended := map[string]map[string]int{}
	var reads []int
	for i := range h.pairs {
		o := h.pairs[i]
		if history.SpaceOf(o.Invoke.Key) != "list-append" {
			continue
		}
		add := func(key string, e any) {
			if appended[key] == nil {
				appended[key] = map[string]int{}
			}
			if _, dup := appended[key][show(norm(e))]; !dup {
				appended[key][show(norm(e))] = i
			}
			lastAppend[key] = max(lastAppend[key], o.Invoke.Time)
		}
		switch o.Invoke.F {
		case "append":
			add(o.Invoke.Key, o.Invoke.Value)
		case "read":
			reads = append(reads, i)
		case "txn":
			mops, _ := o.Invoke.Value.([]any)
			for _, m := range mops {
				if t, ok := m.([]any); ok && len(t) == 3 && t[0] == "append" {
					if k, ok := t[1].(string); ok {
						add(k, t[2])
					}
				}
			}
		}
	}
	final := map[string]int{}
	for _, r := range reads {
		k := h.pairs[r].Invoke.Key
		if !h.ok(r) {
			continue
		}
		if b, ok := final[k]; !ok || h.inv(r) >= h.inv(b) {
			final[k] = r
		}
	}
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fin := final[k]
		if h.inv(fin) <= lastAppend[k] {
			continue
		}
		list, ok := h.pairs[fin].Complete.Value.([]any)
		if !ok {
			continue
		}
		if p := f(k, fin, list, appended[k]); p != nil {
			return p
		}
	}
	return nil
}

// plantListDuplicate repeats the last element of a final read.
func plantListDuplicate(h *mutant, _ string) *planted {
	return h.plantList(func(key string, fin int, list []any, _ map[string]int) *planted {
		if len(list) == 0 {
			return nil
		}
		e := list[len(list)-1]
		h.setValue(fin, append(slices.Clone(list), e), false)
		return &planted{
			target: fmt.Sprintf("element %s of %s twice in final read #%d", show(e), key, h.pairs[fin].Invoke.Index),
			caught: listElementCaught(key, e, func(r *checker.ListAppendResult) []checker.ListElement { return r.Duplicates }, "duplicated"),
		}
	})
}

// plantListReorder swaps two neighbours x, y of a final read, the last such
// pair where x's append was acknowledged before y's was invoked: a list
// that only grows at its end must hold x before y.
func plantListReorder(h *mutant, _ string) *planted {
	return h.plantList(func(key string, fin int, list []any, appended map[string]int) *planted {
		for p := len(list) - 2; p >= 0; p-- {
			a, aok := appended[show(norm(list[p]))]
			b, bok := appended[show(norm(list[p+1]))]
			if !aok || !bok || a == b || !h.ok(a) || h.pairs[b].Type() == history.Fail || h.ret(a) >= h.inv(b) {
				continue
			}
			x, y := list[p], list[p+1]
			swapped := slices.Clone(list)
			swapped[p], swapped[p+1] = y, x
			h.setValue(fin, swapped, false)
			return &planted{
				target: fmt.Sprintf("%s after %s in final read #%d of %s, though #%d appended %s before #%d appended %s", show(x), show(y), h.pairs[fin].Invoke.Index, key, h.pairs[a].Invoke.Index, show(x), h.pairs[b].Invoke.Index, show(y)),
				caught: caughtAs("list-append", func(lr *checker.ListAppendResult) string {
					for _, o := range lr.Reorders {
						if o.Key == key && (same(o.First, x) && same(o.Second, y) || same(o.First, y) && same(o.Second, x)) {
							return ""
						}
					}
					return fmt.Sprintf("%d reordered pairs, not %s and %s of %s", lr.Reordered, show(x), show(y), key)
				}),
			}
		}
		return nil
	})
}

// plantTxnNotAtomic removes, from a read inside an ok MULTI/EXEC txn, the
// element the same txn appended to that key just before: the txn's read
// must end with its own appends.
func plantTxnNotAtomic(h *mutant, space string) *planted {
	keys, ops := h.byKey(space)
	for _, key := range keys {
		for _, i := range ops[key] {
			mops, _ := h.pairs[i].Complete.Value.([]any)
			if h.pairs[i].Invoke.F != "txn" || !h.ok(i) {
				continue
			}
			for j := 1; j < len(mops); j++ {
				prev, _ := mops[j-1].([]any)
				cur, _ := mops[j].([]any)
				if len(prev) != 3 || len(cur) != 3 || prev[0] != "append" || cur[0] != "r" || prev[1] != cur[1] {
					continue
				}
				list, _ := cur[2].([]any)
				if len(list) == 0 || !same(list[len(list)-1], prev[2]) {
					continue
				}
				changed := slices.Clone(mops)
				changed[j] = []any{"r", cur[1], slices.Clone(list[:len(list)-1])}
				h.setValue(i, changed, false)
				idx := h.pairs[i].Invoke.Index
				return &planted{
					target: fmt.Sprintf("txn #%d's read of %s misses its own append of %s", idx, cur[1], show(prev[2])),
					caught: caughtAs("list-append", func(lr *checker.ListAppendResult) string {
						for _, a := range lr.NonAtomic {
							if a.Txn.Index == idx {
								return ""
							}
						}
						return fmt.Sprintf("%d txns not atomic, not #%d", lr.NonAtomicTxns, idx)
					}),
				}
			}
		}
	}
	return nil
}

// plantLostIncrement lowers a counter's final read by an increment
// acknowledged before it began, to below the sum of those increments.
func plantLostIncrement(h *mutant, space string) *planted {
	return h.plantCounter(space, func(key string, ids []int, fin int, v int64) *planted {
		var lower int64
		last := -1
		for _, i := range ids {
			d, ok := history.Int(h.pairs[i].Invoke.Value)
			if h.pairs[i].Invoke.F == "incr" && ok && h.ok(i) && h.ret(i) < h.inv(fin) {
				lower += d
				if d > 0 {
					last = i
				}
			}
		}
		if last < 0 {
			return nil
		}
		d, _ := history.Int(h.pairs[last].Invoke.Value)
		if v-d >= lower {
			return nil // increments of unknown outcome make room for it
		}
		h.setValue(fin, v-d, false)
		idx := h.pairs[fin].Invoke.Index
		return &planted{
			target: fmt.Sprintf("final read #%d of %s returns %d, missing incr #%d of %d (acknowledged sum %d)", idx, key, v-d, h.pairs[last].Invoke.Index, d, lower),
			caught: counterBoundCaught(key, idx, "under"),
		}
	})
}

// plantCounter calls f with each counter key (sorted), its ops and its
// final read, an integer v, until f plants something.
func (h *mutant) plantCounter(space string, f func(key string, ids []int, fin int, v int64) *planted) *planted {
	keys, ops := h.byKey(space)
	for _, key := range keys {
		ids := ops[key]
		fin := h.lastRead(ids, "read")
		if fin < 0 {
			continue
		}
		v, ok := history.Int(h.pairs[fin].Complete.Value)
		if !ok {
			continue
		}
		if p := f(key, ids, fin, v); p != nil {
			return p
		}
	}
	return nil
}

// counterBoundCaught: the counter checker reports key's final read, the op
// with invoke index idx, outside its bounds on the side kind ("under",
// "over").
func counterBoundCaught(key string, idx int64, kind string) func(checker.Result) string {
	return caughtAs("counter", func(cr *checker.CounterResult) string {
		for _, k := range cr.Keys {
			if k.Key == key && k.Final != nil && k.Final.Read.Index == idx && k.Final.Kind == kind {
				return ""
			}
		}
		return fmt.Sprintf("the final read of %s is not reported %s its bounds", key, kind)
	})
}

// phantom is an element no workload writes: their values are positive.
const phantom = int64(-7)

// plantPhantom appends to a key's final read an element never added.
func plantPhantom(h *mutant, space string) *planted {
	target := func(key string, fin int) string {
		return fmt.Sprintf("element %d, never added, in final read #%d of %s", phantom, h.pairs[fin].Invoke.Index, key)
	}
	if space == "list-append" {
		return h.plantList(func(key string, fin int, list []any, _ map[string]int) *planted {
			h.setValue(fin, append(slices.Clone(list), phantom), false)
			return &planted{target: target(key, fin),
				caught: listElementCaught(key, phantom, func(r *checker.ListAppendResult) []checker.ListElement { return r.UnexpectedElements }, "unexpected")}
		})
	}
	keys, ops := h.byKey(space)
	for _, key := range keys {
		fin := h.lastRead(ops[key], "read")
		if fin < 0 {
			continue
		}
		list, ok := h.pairs[fin].Complete.Value.([]any)
		if !ok && h.pairs[fin].Complete.Value != nil {
			continue
		}
		h.setValue(fin, append(slices.Clone(list), phantom), false)
		return &planted{target: target(key, fin),
			caught: caughtAs("set", func(sr *checker.SetResult) string {
				for _, u := range sr.UnexpectedElements {
					if u.Key == key && same(u.Element, phantom) {
						return ""
					}
				}
				return fmt.Sprintf("%d unexpected, not %d of %s", sr.Unexpected, phantom, key)
			})}
	}
	return nil
}

// plantDoubleIncrement raises a counter's final read by an increment
// acknowledged before it began, past every increment that may have applied
// by its end.
func plantDoubleIncrement(h *mutant, space string) *planted {
	return h.plantCounter(space, func(key string, ids []int, fin int, v int64) *planted {
		var upper int64
		acked := -1
		for _, i := range ids {
			d, ok := history.Int(h.pairs[i].Invoke.Value)
			if h.pairs[i].Invoke.F != "incr" || !ok || h.pairs[i].Type() == history.Fail || h.inv(i) > h.ret(fin) {
				continue
			}
			if d > 0 {
				upper += d
			}
			if h.ok(i) && h.ret(i) < h.inv(fin) && d > 0 {
				acked = i
			}
		}
		if acked < 0 {
			return nil
		}
		d, _ := history.Int(h.pairs[acked].Invoke.Value)
		if v+d <= upper {
			return nil // increments of unknown outcome make room for it
		}
		h.setValue(fin, v+d, false)
		idx := h.pairs[fin].Invoke.Index
		return &planted{
			target: fmt.Sprintf("final read #%d of %s returns %d, incr #%d of %d applied twice (at most %d could have been added)", idx, key, v+d, h.pairs[acked].Invoke.Index, d, upper),
			caught: counterBoundCaught(key, idx, "over"),
		}
	})
}

// plantCrossslotAccepted turns a CROSSSLOT probe, refused by Redis, into an
// ok: its keys are in two slots, which no multi-key command may span.
func plantCrossslotAccepted(h *mutant, space string) *planted {
	for i := range h.pairs {
		o := h.pairs[i]
		if o.Invoke.F != "crossslot" || history.SpaceOf(o.Invoke.Key) != space || o.Type() != history.Fail || !strings.Contains(o.Complete.Error, "CROSSSLOT") {
			continue
		}
		done := *o.Complete
		done.Type, done.Error = history.OK, ""
		*o.Complete = done
		idx := o.Invoke.Index
		return &planted{
			target: fmt.Sprintf("crossslot probe #%d answered ok", idx),
			caught: caughtAs("multikey", func(mr *checker.MultikeyResult) string {
				for _, a := range mr.Crossslot.AcceptedOps {
					if a.Index == idx {
						return ""
					}
				}
				return fmt.Sprintf("%d probes accepted, not #%d", mr.Crossslot.Accepted, idx)
			}),
		}
	}
	return nil
}

// lastSample is a copy of the last topology sample whose nodes a mutation
// may change, put back in place of the original's.
func (h *mutant) lastSample() *topology.Sample {
	if len(h.topo) == 0 {
		return nil
	}
	s := &h.topo[len(h.topo)-1]
	s.Nodes = slices.Clone(s.Nodes)
	return s
}

func slotsResult(r checker.Result) (*checker.SlotsResult, string) {
	sr, ok := r.(*checker.SlotsResult)
	switch {
	case !ok:
		return nil, fmt.Sprintf("not a slots result: %T", r)
	case sr.Valid != checker.False:
		return nil, "verdict " + sr.Valid.String()
	case sr.Final == nil:
		return nil, "no final state"
	}
	return sr, ""
}

// plantSlotsUncovered takes 10 slots away from their master in every
// node's view of the last sample.
func plantSlotsUncovered(h *mutant, _ string) *planted {
	s := h.lastSample()
	if s == nil {
		return nil
	}
	var owner string
	var gone topology.SlotRange
	for _, n := range s.Nodes {
		if n.Error != "" || n.Role != "master" {
			continue
		}
		for _, r := range n.Slots {
			if r.End-r.Start >= 9 {
				owner, gone = n.ID, topology.SlotRange{Start: r.Start, End: r.Start + 9}
				break
			}
		}
		if owner != "" {
			break
		}
	}
	if owner == "" {
		return nil
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Error != "" {
			continue
		}
		owners := make(map[string][]topology.SlotRange, len(n.Owners))
		for id, rs := range n.Owners {
			owners[id] = rs
			if id == owner {
				owners[id] = without(rs, gone)
			}
		}
		n.Owners = owners
		if n.ID == owner {
			n.Slots = without(n.Slots, gone)
		}
	}
	return &planted{
		target: fmt.Sprintf("slots %d-%d owned by no master in the last sample", gone.Start, gone.End),
		caught: func(r checker.Result) string {
			sr, why := slotsResult(r)
			if sr == nil {
				return why
			}
			if !slices.Contains(sr.Final.UncoveredSlots, gone) {
				return fmt.Sprintf("final uncovered slots %v, want %d-%d among them", sr.Final.UncoveredSlots, gone.Start, gone.End)
			}
			return ""
		},
	}
}

// without is rs less the slots of cut.
func without(rs []topology.SlotRange, cut topology.SlotRange) []topology.SlotRange {
	var out []topology.SlotRange
	for _, r := range rs {
		if r.End < cut.Start || r.Start > cut.End {
			out = append(out, r)
			continue
		}
		if r.Start < cut.Start {
			out = append(out, topology.SlotRange{Start: r.Start, End: cut.Start - 1})
		}
		if r.End > cut.End {
			out = append(out, topology.SlotRange{Start: cut.End + 1, End: r.End})
		}
	}
	return out
}

// plantSlotsOpen leaves a master's first slot MIGRATING to another master,
// which has it IMPORTING, in the last sample.
func plantSlotsOpen(h *mutant, _ string) *planted {
	s := h.lastSample()
	if s == nil {
		return nil
	}
	src, dst := -1, -1
	for i, n := range s.Nodes {
		if n.Error != "" || n.Role != "master" || n.ID == "" {
			continue
		}
		switch {
		case src < 0 && len(n.Slots) > 0:
			src = i
		case dst < 0:
			dst = i
		}
	}
	if src < 0 || dst < 0 {
		return nil
	}
	a, b := &s.Nodes[src], &s.Nodes[dst]
	slot := a.Slots[0].Start
	a.Migrating = map[int]string{slot: b.ID}
	b.Importing = map[int]string{slot: a.ID}
	want := fmt.Sprintf("%s: slot %d migrating to ", a.Addr, slot)
	return &planted{
		target: fmt.Sprintf("slot %d MIGRATING from %s to %s in the last sample", slot, a.Addr, b.Addr),
		caught: func(r checker.Result) string {
			sr, why := slotsResult(r)
			if sr == nil {
				return why
			}
			for _, o := range sr.Final.OpenSlots {
				if strings.HasPrefix(o, want) {
					return ""
				}
			}
			return fmt.Sprintf("final open slots %v, want %q…", sr.Final.OpenSlots, want)
		},
	}
}
