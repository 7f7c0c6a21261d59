package scenarios

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/workloads"
)

// ReplayFile is the replay run dir's comparison with the original run.
const ReplayFile = "replay.json"

// NemesisTolerance is how far a fault's effect time may move between the
// original run and its replay before the fault counts as landing differently.
const NemesisTolerance = 100 * time.Millisecond

// LoadReplay loads a run dir's resolved scenario.yaml for a replay: the
// same seed, cluster, client settings and nemesis timeline.
func LoadReplay(runDir string) (*Scenario, error) {
	path := filepath.Join(runDir, "scenario.yaml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("replay %s: not a run dir (no scenario.yaml): %w", runDir, err)
	}
	s, err := Load(path)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", runDir, err)
	}
	if s.Seed == 0 {
		return nil, fmt.Errorf("replay %s: scenario.yaml records no seed: it is not a resolved run's scenario", runDir)
	}
	if len(s.Nemesis.Faults) > 0 {
		return nil, fmt.Errorf("replay %s: scenario.yaml holds nemesis faults, not a resolved timeline", runDir)
	}
	return s, nil
}

// ReplayReport is replay.json: where the replay's history diverged from the
// original's.
type ReplayReport struct {
	Original string `json:"original"`
	Replay   string `json:"replay"`
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	// Note says how the streams were compared (the common prefix).
	Note string `json:"note"`
	// DeterminismBug is set when a generated op (f, key, invoke value)
	// differs: the same seed must generate the same ops, whatever the replies.
	DeterminismBug bool     `json:"determinism_bug"`
	Ops            OpCounts `json:"ops"`
	// FirstGenerated is the earliest op (by original invoke time) whose
	// generated op differs; FirstResult the earliest whose result differs.
	FirstGenerated *OpDivergence     `json:"first_generated_divergence,omitempty"`
	FirstResult    *OpDivergence     `json:"first_result_divergence,omitempty"`
	Workers        []LineageReport   `json:"workers"`
	Nemesis        NemesisComparison `json:"nemesis"`
}

// OpCounts counts the client ops of both runs and their comparison.
type OpCounts struct {
	Original int `json:"original"`
	Replay   int `json:"replay"`
	// Compared is the ops of every worker's common prefix; Equal those
	// whose generated op and result match, Different the others.
	Compared  int `json:"compared"`
	Equal     int `json:"equal"`
	Different int `json:"different"`
	// GeneratedDifferent counts ops whose generated op differs.
	GeneratedDifferent int `json:"generated_different"`
	// Final reads (after the run) are not compared: their keys depend on
	// how far the run got.
	FinalOriginal int `json:"final_original"`
	FinalReplay   int `json:"final_replay"`
	// FinalGuessed names the runs ("original", "replay") whose run dir
	// has no final.json (written before runs recorded where their final
	// reads begin): their final reads were told apart by a heuristic
	// over the history, which can be wrong.
	FinalGuessed []string `json:"final_guessed,omitempty"`
}

// LineageReport is one worker lane's op stream (its processes in order).
type LineageReport struct {
	Worker         int           `json:"worker"`
	Lane           int           `json:"lane"`
	OriginalOps    int           `json:"original_ops"`
	ReplayOps      int           `json:"replay_ops"`
	Compared       int           `json:"compared"`
	Equal          int           `json:"equal"`
	Different      int           `json:"different"`
	FirstGenerated *OpDivergence `json:"first_generated_divergence,omitempty"`
	FirstResult    *OpDivergence `json:"first_result_divergence,omitempty"`
}

// OpDivergence is one op of a worker's stream as each run recorded it.
type OpDivergence struct {
	Worker int `json:"worker"`
	Lane   int `json:"lane"`
	// Seq is the op's position in the worker lane's stream, from 0.
	Seq      int       `json:"seq"`
	Original *OpRecord `json:"original"`
	Replay   *OpRecord `json:"replay"`
}

// OpRecord is an op's invoke and completion (nil if it never completed).
type OpRecord struct {
	Invoke   history.Op  `json:"invoke"`
	Complete *history.Op `json:"complete,omitempty"`
}

// NemesisComparison compares the nemesis's actions in both runs.
type NemesisComparison struct {
	ToleranceMS float64            `json:"tolerance_ms"`
	Actions     []ActionComparison `json:"actions"`
	// FirstDifferent is the first action (in timeline order) that landed
	// differently.
	FirstDifferent *ActionComparison `json:"first_different,omitempty"`
	// ScheduleReproduced: every action is in both runs, was started in
	// both within the tolerance of its offset, and touched the same nodes.
	// The schedule is the harness's doing; when a fault then takes effect
	// (a failover ends once every node agrees) is Redis's, so effect times
	// may differ while the schedule is the same. False when a run predates
	// the start times (started_ns) in its history.
	ScheduleReproduced bool `json:"schedule_reproduced"`
	// StartSkewMaxMS is the largest distance between an action's start
	// and its offset, over both runs.
	StartSkewMaxMS float64 `json:"start_skew_max_ms"`
}

// ActionComparison is one timeline action in both runs.
type ActionComparison struct {
	Action   int           `json:"action"`
	Do       string        `json:"do"`
	Original *ActionLanded `json:"original,omitempty"`
	Replay   *ActionLanded `json:"replay,omitempty"`
	// Same is false when the nodes differ, the effect times differ by more
	// than the tolerance, only one run has an error, or only one run has it.
	Same bool `json:"same"`
	// Why says what differs.
	Why string `json:"why,omitempty"`
}

// ActionLanded is where and when an action took effect in one run.
type ActionLanded struct {
	// Nodes are the addresses the fault touched; Ordinals the nodes'
	// positions in the cluster (addresses differ between runs).
	Nodes       []string `json:"nodes"`
	Ordinals    []string `json:"ordinals"`
	Fault       string   `json:"fault,omitempty"`
	ScheduledNS int64    `json:"scheduled_ns"`
	StartedNS   int64    `json:"started_ns,omitempty"`
	EffectNS    int64    `json:"effect_ns"`
	LatencyNS   int64    `json:"latency_ns,omitempty"`
	Error       string   `json:"error,omitempty"`
	HealedNS    int64    `json:"healed_ns,omitempty"`
	HealError   string   `json:"heal_error,omitempty"`
}

// CompareRuns compares the original run dir's history with the replay's.
// It streams each history (twice: summaries, then the few records it
// reports), keeping two hashes per op.
func CompareRuns(original, replay string) (*ReplayReport, error) {
	s, err := Load(filepath.Join(original, "scenario.yaml"))
	if err != nil {
		return nil, err
	}
	shape := shapeOf(s)
	rep := &ReplayReport{Original: original, Replay: replay, Scenario: s.Name, Seed: s.Seed,
		Note: "both runs ran for the same time limit, so their op streams differ in length: each worker lane's common prefix is compared; final reads are not compared. With several workers, results diverge from the scheduling of concurrent ops alone: the first result divergence is where to look, not proof of a bug"}
	a, err := summarize(original, shape, nodeOrdinals(filepath.Join(original, "topology.jsonl")))
	if err != nil {
		return nil, fmt.Errorf("original: %w", err)
	}
	b, err := summarize(replay, shape, nodeOrdinals(filepath.Join(replay, "topology.jsonl")))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	compareSummaries(rep, a, b, shape)
	for _, g := range []struct {
		name string
		rs   *runSummary
	}{{"original", a}, {"replay", b}} {
		if g.rs.guessed {
			rep.Ops.FinalGuessed = append(rep.Ops.FinalGuessed, g.name)
		}
	}
	// The records of the first divergences.
	want := map[pos]bool{}
	for _, w := range rep.Workers {
		for _, d := range []*OpDivergence{w.FirstGenerated, w.FirstResult} {
			if d != nil {
				want[pos{w.Worker*shape.Lanes + w.Lane, d.Seq}] = true
			}
		}
	}
	if len(want) > 0 {
		ra, err := fetch(original, shape, want, a.boundary)
		if err != nil {
			return nil, fmt.Errorf("original: %w", err)
		}
		rb, err := fetch(replay, shape, want, b.boundary)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		for i := range rep.Workers {
			w := &rep.Workers[i]
			for _, d := range []*OpDivergence{w.FirstGenerated, w.FirstResult} {
				if d != nil {
					p := pos{w.Worker*shape.Lanes + w.Lane, d.Seq}
					d.Original, d.Replay = ra[p], rb[p]
				}
			}
		}
	}
	earliest := func(get func(*LineageReport) *OpDivergence) *OpDivergence {
		var best *OpDivergence
		for i := range rep.Workers {
			d := get(&rep.Workers[i])
			if d == nil {
				continue
			}
			if best == nil || invokeTime(d) < invokeTime(best) {
				best = d
			}
		}
		return best
	}
	rep.FirstGenerated = earliest(func(l *LineageReport) *OpDivergence { return l.FirstGenerated })
	rep.FirstResult = earliest(func(l *LineageReport) *OpDivergence { return l.FirstResult })
	rep.DeterminismBug = rep.FirstGenerated != nil
	rep.Nemesis = compareNemesis(a, b)
	return rep, nil
}

func invokeTime(d *OpDivergence) int64 {
	if d.Original != nil {
		return d.Original.Invoke.Time
	}
	if d.Replay != nil {
		return d.Replay.Invoke.Time
	}
	return math.MaxInt64
}

// WriteReplay writes rep as dir/replay.json.
func WriteReplay(dir string, rep *ReplayReport) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReplayFile), append(b, '\n'), 0o644)
}

// Summary is a few lines for the terminal.
func (r *ReplayReport) Summary() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "replay of %s (seed %d) → %s\n", r.Original, r.Seed, filepath.Join(r.Replay, ReplayFile))
	fmt.Fprintf(&sb, "  ops: original %d, replay %d; common prefix per worker: %d compared, %d equal, %d different (final reads not compared)\n",
		r.Ops.Original, r.Ops.Replay, r.Ops.Compared, r.Ops.Equal, r.Ops.Different)
	if len(r.Ops.FinalGuessed) > 0 {
		fmt.Fprintf(&sb, "  final reads of the %s: GUESSED from the history (no %s in the run dir: written before runs recorded it)\n",
			strings.Join(r.Ops.FinalGuessed, " and "), finalFile)
	}
	if r.DeterminismBug {
		d := r.FirstGenerated
		fmt.Fprintf(&sb, "  HARNESS DETERMINISM BUG: %d generated ops differ; first: worker %d lane %d op %d: original %s, replay %s\n",
			r.Ops.GeneratedDifferent, d.Worker, d.Lane, d.Seq, recStr(d.Original), recStr(d.Replay))
	} else {
		sb.WriteString("  generated ops: identical over the common prefix (the op streams replayed deterministically)\n")
	}
	if d := r.FirstResult; d != nil {
		fmt.Fprintf(&sb, "  first result divergence: worker %d lane %d op %d:\n    original %s\n    replay   %s\n",
			d.Worker, d.Lane, d.Seq, recStr(d.Original), recStr(d.Replay))
	} else {
		sb.WriteString("  results: no divergence over the common prefix\n")
	}
	n := r.Nemesis
	switch {
	case len(n.Actions) == 0:
		sb.WriteString("  nemesis: no actions in either run\n")
	case n.FirstDifferent == nil:
		fmt.Fprintf(&sb, "  nemesis: all %d actions landed on the same nodes within %.0f ms\n", len(n.Actions), n.ToleranceMS)
	default:
		fmt.Fprintf(&sb, "  nemesis: action %d (%s) landed differently: %s\n", n.FirstDifferent.Action+1, n.FirstDifferent.Do, n.FirstDifferent.Why)
	}
	if n.ScheduleReproduced {
		fmt.Fprintf(&sb, "  nemesis schedule: reproduced: every action started within %.1f ms of its offset in both runs, on the same nodes (when each then took effect is Redis's doing)\n", n.StartSkewMaxMS)
	} else if len(n.Actions) > 0 {
		sb.WriteString("  nemesis schedule: not reproduced exactly (see the actions in " + ReplayFile + ")\n")
	}
	return sb.String()
}

func recStr(r *OpRecord) string {
	if r == nil {
		return "(none)"
	}
	s := r.Invoke.String()
	if r.Complete != nil {
		s += " → " + r.Complete.String()
	} else {
		s += " → (no completion)"
	}
	return s
}

// shape is what maps a process to its worker lane: the run's process
// numbering, as workloads.Run numbers them.
type shape struct {
	workloads.Processes
	timeLimit int64 // for guessFinal only
}

func shapeOf(s *Scenario) shape {
	return shape{Processes: workloads.ProcessesOf(s.Client), timeLimit: int64(s.TimeLimit)}
}

// lineage is worker*Lanes+lane; k is the process's incarnation.
func (sh shape) lineage(p int) (lin, k int) {
	w, l, k := sh.Lineage(p)
	return w*sh.Lanes + l, k
}

type pos struct{ lin, seq int }

// opSum is an op reduced to hashes of its generated part and its result.
type opSum struct {
	gen, res uint64
	rec      int64 // the invoke's record number, to cut the final reads off
	done     bool
}

type runSummary struct {
	lines    map[int][]opSum
	boundary int64 // record number where the final reads begin
	final    int
	// guessed is set when the run dir has no final.json: boundary is
	// then guessFinal's.
	guessed bool
	actions map[int]*ActionLanded
	doOf    map[int]string
}

// guessFinal is the fallback for run dirs written before final.json
// recorded where the final reads begin: it guesses the boundary from the
// history alone, as the first client invoke with nothing outstanding,
// every later process above every earlier one, and itself past the time
// limit or not its lane's current process. A history can fool it (final
// reads before the time limit on a lane's unused current process), which
// is why runs record the boundary.
type guessFinal struct {
	maxProc int
	stack   []struct {
		rec     int64
		maxProc int
	}
}

func (f *guessFinal) invoke(rec int64, p int, outstanding int, plausibleRunOp bool) {
	for len(f.stack) > 0 && f.stack[len(f.stack)-1].maxProc >= p {
		f.stack = f.stack[:len(f.stack)-1]
	}
	if outstanding == 0 && !plausibleRunOp && p > f.maxProc {
		f.stack = append(f.stack, struct {
			rec     int64
			maxProc int
		}{rec, f.maxProc})
	}
	f.maxProc = max(f.maxProc, p)
}

func (f *guessFinal) boundary() int64 {
	if len(f.stack) == 0 {
		return math.MaxInt64
	}
	return f.stack[0].rec
}

// tracker assigns each client record its worker lane and position.
type tracker struct {
	sh   shape
	seq  map[int]int // lineage → ops so far
	inc  map[int]int // lineage → infos so far
	open map[int]pos // process → its outstanding op
}

func newTracker(sh shape) *tracker {
	return &tracker{sh: sh, seq: map[int]int{}, inc: map[int]int{}, open: map[int]pos{}}
}

func (t *tracker) invoke(p int) pos {
	lin, _ := t.sh.lineage(p)
	ps := pos{lin, t.seq[lin]}
	t.seq[lin]++
	t.open[p] = ps
	return ps
}

func (t *tracker) complete(op history.Op) (pos, bool) {
	ps, ok := t.open[op.Process]
	if !ok {
		return pos{}, false
	}
	delete(t.open, op.Process)
	if op.Type == history.Info {
		t.inc[ps.lin]++
	}
	return ps, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// summarize streams run dir dir's history (plain or gzipped) into hashes.
func summarize(dir string, sh shape, ord ordinals) (*runSummary, error) {
	src, err := history.Open(dir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	rs := &runSummary{lines: map[int][]opSum{}, actions: map[int]*ActionLanded{}, doOf: map[int]string{}}
	fr, recorded, err := readFinal(dir)
	if err != nil {
		return nil, err
	}
	rs.guessed = !recorded
	rs.boundary = math.MaxInt64
	t := newTracker(sh)
	fd := &guessFinal{maxProc: -1}
	var n int64
	_, err = history.Read(src, func(op history.Op) error {
		n++
		if !op.IsClient() {
			rs.nemesis(op, ord)
			return nil
		}
		if recorded && op.Process >= fr.FirstProcess {
			// A final read's: the first one's invoke is the boundary.
			if op.Type == history.Invoke {
				rs.boundary = min(rs.boundary, n)
				rs.final++
			}
			return nil
		}
		if op.Type == history.Invoke {
			if !recorded {
				lin, k := sh.lineage(op.Process)
				plausible := k == t.inc[lin] && op.Time < sh.timeLimit
				fd.invoke(n, op.Process, len(t.open), plausible)
			}
			ps := t.invoke(op.Process)
			rs.lines[ps.lin] = append(rs.lines[ps.lin], opSum{gen: genHash(op), rec: n})
			return nil
		}
		if ps, ok := t.complete(op); ok {
			s := &rs.lines[ps.lin][ps.seq]
			s.res, s.done = resHash(op, ord), true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	if !recorded {
		rs.boundary = fd.boundary()
	}
	// The clients' ops all precede the final reads (Final runs after Run
	// returns): with the boundary recorded this cuts nothing.
	for lin, ops := range rs.lines {
		i := sort.Search(len(ops), func(i int) bool { return ops[i].rec >= rs.boundary })
		rs.final += len(ops) - i
		rs.lines[lin] = ops[:i]
	}
	return rs, nil
}

func (rs *runSummary) nemesis(op history.Op, ord ordinals) {
	v, ok := op.Value.(map[string]any)
	if !ok {
		return
	}
	i64, ok := history.Int(v["action"])
	if !ok {
		return
	}
	i := int(i64)
	rs.doOf[i] = op.F
	a := rs.actions[i]
	if heal, _ := v["heal"].(bool); heal {
		if a != nil {
			a.HealedNS, a.HealError = op.Time, op.Error
		}
		return
	}
	a = &ActionLanded{EffectNS: op.Time, Error: op.Error, Nodes: []string{}, Ordinals: []string{}}
	a.ScheduledNS, _ = history.Int(v["scheduled_ns"])
	a.StartedNS, _ = history.Int(v["started_ns"])
	a.LatencyNS, _ = history.Int(v["latency_ns"])
	a.Fault, _ = v["fault"].(string)
	if nodes, ok := v["nodes"].([]any); ok {
		for _, x := range nodes {
			if s, ok := x.(string); ok {
				a.Nodes = append(a.Nodes, s)
				a.Ordinals = append(a.Ordinals, ordinal(ord, s))
			}
		}
	}
	slices.Sort(a.Ordinals)
	rs.actions[i] = a
}

func ordinal(ord ordinals, addr string) string {
	if o, ok := ord.of[addr]; ok {
		return o
	}
	return addr
}

func compareSummaries(rep *ReplayReport, a, b *runSummary, sh shape) {
	lins := map[int]bool{}
	for l := range a.lines {
		lins[l] = true
	}
	for l := range b.lines {
		lins[l] = true
	}
	rep.Ops.FinalOriginal, rep.Ops.FinalReplay = a.final, b.final
	for _, lin := range slices.Sorted(maps.Keys(lins)) {
		oa, ob := a.lines[lin], b.lines[lin]
		lr := LineageReport{Worker: lin / sh.Lanes, Lane: lin % sh.Lanes, OriginalOps: len(oa), ReplayOps: len(ob)}
		rep.Ops.Original += len(oa)
		rep.Ops.Replay += len(ob)
		n := min(len(oa), len(ob))
		for i := 0; i < n; i++ {
			lr.Compared++
			x, y := oa[i], ob[i]
			if x.gen != y.gen {
				rep.Ops.GeneratedDifferent++
				if lr.FirstGenerated == nil {
					lr.FirstGenerated = &OpDivergence{Worker: lr.Worker, Lane: lr.Lane, Seq: i}
				}
			}
			if x.gen == y.gen && x.res == y.res && x.done == y.done {
				lr.Equal++
				continue
			}
			lr.Different++
			if lr.FirstResult == nil && x.gen == y.gen {
				lr.FirstResult = &OpDivergence{Worker: lr.Worker, Lane: lr.Lane, Seq: i}
			}
		}
		rep.Ops.Compared += lr.Compared
		rep.Ops.Equal += lr.Equal
		rep.Ops.Different += lr.Different
		rep.Workers = append(rep.Workers, lr)
	}
}

func compareNemesis(ra, rb *runSummary) NemesisComparison {
	a, b := ra.actions, rb.actions
	nc := NemesisComparison{ToleranceMS: float64(NemesisTolerance) / 1e6, Actions: []ActionComparison{}}
	idx := map[int]bool{}
	for i := range a {
		idx[i] = true
	}
	for i := range b {
		idx[i] = true
	}
	for _, i := range slices.Sorted(maps.Keys(idx)) {
		x, y := a[i], b[i]
		ac := ActionComparison{Action: i, Original: x, Replay: y, Same: true}
		ac.Do = cmpOr(ra.doOf[i], rb.doOf[i])
		var why []string
		switch {
		case x == nil:
			why = append(why, "not in the original run")
		case y == nil:
			why = append(why, "not in the replay (it ended first?)")
		default:
			if (x.Error == "") != (y.Error == "") {
				why = append(why, fmt.Sprintf("error in one run only: original %q, replay %q", x.Error, y.Error))
			}
			if !slices.Equal(x.Ordinals, y.Ordinals) {
				why = append(why, fmt.Sprintf("different nodes: original %v (%v), replay %v (%v)", x.Ordinals, x.Nodes, y.Ordinals, y.Nodes))
			}
			if x.Error == "" && y.Error == "" {
				if d := time.Duration(x.EffectNS - y.EffectNS).Abs(); d > NemesisTolerance {
					why = append(why, fmt.Sprintf("effect time off by %s (original %s, replay %s)", d.Round(time.Millisecond),
						time.Duration(x.EffectNS).Round(time.Millisecond), time.Duration(y.EffectNS).Round(time.Millisecond)))
				}
			}
		}
		if len(why) > 0 {
			ac.Same, ac.Why = false, strings.Join(why, "; ")
		}
		nc.Actions = append(nc.Actions, ac)
	}
	for i := range nc.Actions {
		if !nc.Actions[i].Same {
			nc.FirstDifferent = &nc.Actions[i]
			break
		}
	}
	nc.ScheduleReproduced = len(nc.Actions) > 0
	var skew time.Duration
	for _, ac := range nc.Actions {
		x, y := ac.Original, ac.Replay
		if x == nil || y == nil || x.StartedNS == 0 || y.StartedNS == 0 || !slices.Equal(x.Ordinals, y.Ordinals) {
			nc.ScheduleReproduced = false
			continue
		}
		skew = max(skew, time.Duration(x.StartedNS-x.ScheduledNS).Abs(), time.Duration(y.StartedNS-y.ScheduledNS).Abs())
	}
	nc.StartSkewMaxMS = float64(skew) / 1e6
	if skew > NemesisTolerance {
		nc.ScheduleReproduced = false
	}
	return nc
}

// fetch streams run dir dir's history again for the records at the wanted
// positions.
func fetch(dir string, sh shape, want map[pos]bool, boundary int64) (map[pos]*OpRecord, error) {
	src, err := history.Open(dir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	out := map[pos]*OpRecord{}
	t := newTracker(sh)
	var n int64
	errDone := errors.New("done")
	_, err = history.Read(src, func(op history.Op) error {
		n++
		if !op.IsClient() {
			return nil
		}
		if n >= boundary {
			return errDone
		}
		if op.Type == history.Invoke {
			if ps := t.invoke(op.Process); want[ps] {
				out[ps] = &OpRecord{Invoke: op}
			}
			return nil
		}
		if ps, ok := t.complete(op); ok && want[ps] {
			if r := out[ps]; r != nil {
				c := op
				r.Complete = &c
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	return out, nil
}

func genHash(op history.Op) uint64 {
	h := fnv.New64a()
	v, _ := json.Marshal(op.Value)
	fmt.Fprintf(h, "%s\x00%s\x00%s", op.F, op.Key, v)
	return h.Sum64()
}

func resHash(op history.Op, ord ordinals) uint64 {
	h := fnv.New64a()
	v, _ := json.Marshal(op.Value)
	fmt.Fprintf(h, "%s\x00%s\x00%s", op.Type, v, normalizeAddrs(op.Error, ord))
	return h.Sum64()
}

// ordinals numbers the cluster's nodes, whose addresses differ between runs.
type ordinals struct {
	of  map[string]string
	rep *strings.Replacer // address → ordinal in error strings
}

// normalizeAddrs replaces node addresses with their ordinals, so that
// "MOVED 12 127.0.100.3:6379" compares equal between runs.
func normalizeAddrs(s string, ord ordinals) string {
	if s == "" || ord.rep == nil || !strings.Contains(s, ":") {
		return s
	}
	return ord.rep.Replace(s)
}

// nodeOrdinals numbers the cluster's nodes by their first appearance in
// topology.jsonl (the order the run knows them in): "n0", "n1", …
func nodeOrdinals(path string) ordinals {
	ord := ordinals{of: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return ord
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var smp struct {
			Nodes []struct {
				Addr string `json:"addr"`
			} `json:"nodes"`
		}
		if err := dec.Decode(&smp); err != nil {
			break
		}
		for _, nd := range smp.Nodes {
			if _, ok := ord.of[nd.Addr]; !ok && nd.Addr != "" {
				ord.of[nd.Addr] = fmt.Sprintf("n%d", len(ord.of))
			}
		}
	}
	addrs := slices.Collect(maps.Keys(ord.of))
	// Longest first: 127.0.100.1:6379 must not match inside 127.0.100.11:6379.
	sort.Slice(addrs, func(i, j int) bool {
		return len(addrs[i]) > len(addrs[j]) || len(addrs[i]) == len(addrs[j]) && addrs[i] < addrs[j]
	})
	var pairs []string
	for _, a := range addrs {
		pairs = append(pairs, a, ord.of[a])
	}
	if len(pairs) > 0 {
		ord.rep = strings.NewReplacer(pairs...)
	}
	return ord
}
