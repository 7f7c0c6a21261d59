package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The soak's files at the store's top.
const (
	SoakJSON  = "soak.json"
	SoakHTML  = "soak.html"
	SoakJUnit = "soak-junit.xml"
)

// Soak run statuses.
const (
	SoakValid   = "valid"         // judged: every checker valid
	SoakInvalid = "invalid"       // judged: some checker found anomalies
	SoakUnknown = "unknown"       // judged: some checker could not decide
	SoakHarness = "harness-error" // the harness or its environment failed
	SoakCut     = "cut"           // stopped by the soak's end or an interrupt: not judged, not counted
)

// SoakRun is one run of a soak, as soak.json records it.
type SoakRun struct {
	N        int    `json:"n"`
	Scenario string `json:"scenario"`
	Image    string `json:"image"`
	// Server is the --servers entry the run was given (empty: the
	// scenario's own), ServerReported the server as its nodes reported
	// themselves ("Valkey 8.1.1", from the run's server.json).
	Server         string    `json:"server,omitempty"`
	ServerReported string    `json:"server_reported,omitempty"`
	Seed           int64     `json:"seed"`
	Started        time.Time `json:"started"`
	Seconds        float64   `json:"seconds"`
	// Dir is the run dir relative to the store (a link target); empty when
	// the run failed before it had one.
	Dir    string `json:"dir"`
	Status string `json:"status"`
	// Code is the run's exit code (DESIGN.md): 0 expectation met, 1, 2, 3.
	Code int `json:"code"`
	// ExpectsAnomaly: the scenario declares some checker must find anomalies.
	ExpectsAnomaly bool `json:"expects_anomaly"`
	// Detected: it declared anomalies and every declared one was found.
	Detected bool `json:"detected"`
	// Unexpected are checkers that found anomalies the scenario did not
	// expect (data lost by Redis, or a checker bug); Missed are declared
	// anomalies not found this time.
	Unexpected []string `json:"unexpected,omitempty"`
	Missed     []string `json:"missed,omitempty"`
	Failures   []string `json:"failures,omitempty"`
	// Error is the harness error's message (harness-error and cut runs).
	Error     string   `json:"error,omitempty"`
	RecoveryS *float64 `json:"recovery_s,omitempty"`
	OpsPerSec float64  `json:"ops_per_sec"`
	// ClientRecoveryS and RateRatios are the recovery checker's figures of
	// the run's nemesis actions that have them: how soon the clients were
	// served by the node that took a fault's slots over, and the ok-op rate
	// during each fault against the 5 s before it. ClientNeverRecovered
	// counts the actions whose moved slots the clients were never served
	// on.
	ClientRecoveryS []float64 `json:"client_recovery_s,omitempty"`
	RateRatios      []float64 `json:"rate_ratios,omitempty"`
	// MovedS are, for the same actions, the times from each fault's start
	// until the topology showed the slots it moved served by their new
	// owner: the failover times as the cluster showed them.
	MovedS               []float64 `json:"moved_s,omitempty"`
	ClientNeverRecovered int       `json:"client_never_recovered,omitempty"`
	// ProvisionS is how long the run's cluster took from the request to
	// healthy, TeardownS how long its teardown took. OverheadS is the time
	// between this run and the previous one: from the previous run's
	// teardown start to this run's cluster healthy (teardown, the soak's
	// own bookkeeping and provisioning). Each is absent where not measured
	// (the first run, --keep, a run that failed before its cluster was up).
	ProvisionS *float64 `json:"provision_s,omitempty"`
	TeardownS  *float64 `json:"teardown_s,omitempty"`
	OverheadS  *float64 `json:"overhead_s,omitempty"`
	// RSSKB is the soak process's resident set after the run, once the
	// memory the run's judging freed is returned to the system; HeapKB
	// its live Go heap: the two that show a leak.
	RSSKB  int64 `json:"rss_kb"`
	HeapKB int64 `json:"heap_kb"`
	// Goroutines is how many the soak process had after the run: a run
	// that leaves one behind (a monitor, a client pool) makes it grow.
	Goroutines int `json:"goroutines"`
	// HistoryBytes is the size of the run's history.jsonl; HistoryGzBytes
	// that of the history.jsonl.gz that soak --gzip-history made of it
	// (history.jsonl then removed). GzipError says why it could not: the
	// run keeps history.jsonl, and its verdict stands.
	HistoryBytes   int64  `json:"history_bytes,omitempty"`
	HistoryGzBytes int64  `json:"history_gz_bytes,omitempty"`
	GzipError      string `json:"gzip_error,omitempty"`
}

// SoakCell sums the runs of one scenario on one image and server.
type SoakCell struct {
	Scenario string `json:"scenario"`
	Image    string `json:"image"`
	// Server is the runs' --servers entry; Reported the servers they ran
	// as reported by the nodes (comma-separated when runs differ).
	Server       string `json:"server,omitempty"`
	Reported     string `json:"server_reported,omitempty"`
	Runs         int    `json:"runs"`
	Valid        int    `json:"valid"`
	Invalid      int    `json:"invalid"`
	Unknown      int    `json:"unknown"`
	HarnessError int    `json:"harness_error"`
	Cut          int    `json:"cut"`
	Met          int    `json:"met"`
	Unexpected   int    `json:"unexpected_anomalies"`
	// DetectionRate is runs that found every declared anomaly over judged
	// runs (harness errors and cut runs excluded); nil when the scenario
	// declares no anomaly.
	DetectionRate *float64 `json:"detection_rate,omitempty"`
	Detected      int      `json:"detected"`
	Judged        int      `json:"judged"`
	RecoveryMeanS *float64 `json:"recovery_mean_s,omitempty"`
	RecoveryMaxS  *float64 `json:"recovery_max_s,omitempty"`
	OpsPerSecMean *float64 `json:"ops_per_sec_mean,omitempty"`
	// ClientRecoveryMedianS and ClientRecoveryMaxS are over every action of
	// the judged runs (SoakRun.ClientRecoveryS); ClientNeverRecovered sums
	// the actions without recovery. RateRatioMedian and RateRatioMin are
	// over their rate ratios: the low end is the one that matters.
	ClientRecoveryMedianS *float64 `json:"client_recovery_median_s,omitempty"`
	ClientRecoveryMaxS    *float64 `json:"client_recovery_max_s,omitempty"`
	ClientNeverRecovered  int      `json:"client_never_recovered,omitempty"`
	RateRatioMedian       *float64 `json:"rate_ratio_median,omitempty"`
	RateRatioMin          *float64 `json:"rate_ratio_min,omitempty"`
	// MovedMedianS and MovedMaxS are over SoakRun.MovedS: how long the
	// failovers (or moves) took, server against server.
	MovedMedianS *float64 `json:"moved_median_s,omitempty"`
	MovedMaxS    *float64 `json:"moved_max_s,omitempty"`
	RunIndex     []int    `json:"run_index"` // indexes into Runs
}

// Soak is soak.json: the soak's settings, every run, the sums per scenario
// × image, and the verdict so far.
type Soak struct {
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Finished bool      `json:"finished"`
	// Args are the soak's settings, for display.
	Args       map[string]string `json:"args"`
	RSSStartKB int64             `json:"rss_start_kb"`
	RSSEndKB   int64             `json:"rss_end_kb"`
	// RSSMaxKB is the largest RSS seen after a run; HeapFirstKB and
	// HeapLastKB the live heap after the first and the latest run.
	RSSMaxKB    int64 `json:"rss_max_kb"`
	HeapFirstKB int64 `json:"heap_first_kb"`
	HeapLastKB  int64 `json:"heap_last_kb"`
	// OverheadMeanS and OverheadMaxS sum the runs' overhead_s: the time
	// between runs (teardown + next cluster healthy).
	OverheadMeanS *float64 `json:"overhead_mean_s,omitempty"`
	OverheadMaxS  *float64 `json:"overhead_max_s,omitempty"`
	// Stopped says why the soak ended (or is empty while it runs).
	Stopped string     `json:"stopped,omitempty"`
	Code    int        `json:"code"`
	Verdict string     `json:"verdict"`
	Cells   []SoakCell `json:"cells"`
	Runs    []SoakRun  `json:"runs"`
	// Plan is what made the run list and its seeds; Shard, when the soak
	// made one slice of it (soak --shard I/N); Merge, when this summary
	// was merged from shard stores (soak merge). Older soak.json files
	// have none of them.
	Plan  *SoakPlan  `json:"plan,omitempty"`
	Shard *SoakShard `json:"shard,omitempty"`
	Merge *SoakMerge `json:"merge,omitempty"`
}

// SoakPlan is what makes a soak's run list and its seeds. Shard stores
// merge only when their plans (and settings) are equal.
type SoakPlan struct {
	Scenarios []string `json:"scenarios"`
	Images    []string `json:"images,omitempty"`
	Servers   []string `json:"servers,omitempty"`
	// Count is the runs per scenario × image × server (0: Duration bounds).
	Count    int    `json:"count,omitempty"`
	Duration string `json:"duration,omitempty"`
	// SeedBase gives each position of the run list its seed (0: each run
	// picked its own).
	SeedBase int64 `json:"seed_base,omitempty"`
	// Settings are the other settings that shape each run (time limit,
	// nemesis, backend…), as the CLI names them; not where the runs are
	// stored or how the soak reports.
	Settings map[string]string `json:"settings,omitempty"`
}

// SoakShard says which slice of the run list a soak made: the positions
// p (0-based) with p mod Of = Index-1.
type SoakShard struct {
	Index int `json:"index"`
	Of    int `json:"of"`
}

// SoakCode is the soak's exit code from its runs: 1 when any run found an
// unexpected anomaly or missed an expected one (an expectation not met on
// a judged run: the verdict about Redis wins over a flaky environment);
// else 3 when any run failed for harness reasons; else 2 when any was
// unknown; else 0. Cut runs do not count.
func SoakCode(runs []SoakRun) int {
	has := map[int]bool{}
	for _, r := range runs {
		if r.Status == SoakCut {
			continue
		}
		has[r.Code] = true
	}
	switch {
	case has[1]:
		return 1
	case has[3]:
		return 3
	case has[2]:
		return 2
	}
	return 0
}

// Summarize recomputes the cells, the code and the verdict from the runs.
func (s *Soak) Summarize() {
	s.countCells()
	for j := range s.Cells {
		s.Cells[j].measure(s.Runs)
	}
	sort.SliceStable(s.Cells, func(i, j int) bool {
		if s.Cells[i].Scenario != s.Cells[j].Scenario {
			return s.Cells[i].Scenario < s.Cells[j].Scenario
		}
		if s.Cells[i].Image != s.Cells[j].Image {
			return s.Cells[i].Image < s.Cells[j].Image
		}
		return s.Cells[i].Server < s.Cells[j].Server
	})
	s.measureProcess()
	s.Code = SoakCode(s.Runs)
	s.Verdict = map[int]string{
		0: "every run met its expectation",
		1: "anomalies: some run's verdict contradicts its scenario's expectation",
		2: "unknown: some run's result could not be decided",
		3: "the harness or its environment failed on some runs",
	}[s.Code]
	if len(s.Runs) == 0 {
		s.Verdict = "no runs yet"
	}
	s.Merge.judge(s)
}

// countCells groups the runs into cells (scenario × image × server, in the
// order they first ran) and counts each cell's outcomes.
func (s *Soak) countCells() {
	s.Cells = nil
	at := map[[3]string]int{}
	for i, r := range s.Runs {
		k := [3]string{r.Scenario, r.Image, r.Server}
		j, ok := at[k]
		if !ok {
			j = len(s.Cells)
			at[k] = j
			s.Cells = append(s.Cells, SoakCell{Scenario: r.Scenario, Image: r.Image, Server: r.Server})
		}
		c := &s.Cells[j]
		c.RunIndex = append(c.RunIndex, i)
		if r.ServerReported != "" && !strings.Contains(", "+c.Reported+", ", ", "+r.ServerReported+", ") {
			c.Reported = strings.TrimPrefix(c.Reported+", "+r.ServerReported, ", ")
		}
		c.Runs++
		switch r.Status {
		case SoakValid:
			c.Valid++
		case SoakInvalid:
			c.Invalid++
		case SoakUnknown:
			c.Unknown++
		case SoakHarness:
			c.HarnessError++
		case SoakCut:
			c.Cut++
		}
		if r.Status != SoakHarness && r.Status != SoakCut {
			c.Judged++
			if r.Code == 0 {
				c.Met++
			}
			if len(r.Unexpected) > 0 {
				c.Unexpected++
			}
			if r.Detected {
				c.Detected++
			}
		}
	}
}

// measure sums up the judged runs of c: recovery, throughput, client
// recovery, ok rates during faults, slot moves, and the detection rate.
func (c *SoakCell) measure(runs []SoakRun) {
	var rec, ops, client, rates, moved []float64
	expects := false
	for _, i := range c.RunIndex {
		r := runs[i]
		expects = expects || r.ExpectsAnomaly
		if r.Status == SoakHarness || r.Status == SoakCut {
			continue
		}
		if r.RecoveryS != nil {
			rec = append(rec, *r.RecoveryS)
		}
		ops = append(ops, r.OpsPerSec)
		client = append(client, r.ClientRecoveryS...)
		rates = append(rates, r.RateRatios...)
		moved = append(moved, r.MovedS...)
		c.ClientNeverRecovered += r.ClientNeverRecovered
	}
	if len(moved) > 0 {
		c.MovedMedianS, c.MovedMaxS = ptr(median(moved)), ptr(maxOf(moved))
	}
	if len(client) > 0 {
		c.ClientRecoveryMedianS, c.ClientRecoveryMaxS = ptr(median(client)), ptr(maxOf(client))
	}
	if len(rates) > 0 {
		c.RateRatioMedian, c.RateRatioMin = ptr(median(rates)), ptr(slices.Min(rates))
	}
	if expects && c.Judged > 0 {
		c.DetectionRate = ptr(float64(c.Detected) / float64(c.Judged))
	}
	if len(rec) > 0 {
		c.RecoveryMeanS, c.RecoveryMaxS = ptr(mean(rec)), ptr(maxOf(rec))
	}
	if len(ops) > 0 {
		c.OpsPerSecMean = ptr(mean(ops))
	}
}

// measureProcess sums up what the soak cost between and beside its runs:
// the overhead between runs, the resident set, the heap after each run.
func (s *Soak) measureProcess() {
	var over []float64
	s.RSSMaxKB, s.HeapFirstKB, s.HeapLastKB = 0, 0, 0
	for _, r := range s.Runs {
		if r.OverheadS != nil {
			over = append(over, *r.OverheadS)
		}
		s.RSSMaxKB = max(s.RSSMaxKB, r.RSSKB)
		if r.HeapKB > 0 {
			if s.HeapFirstKB == 0 {
				s.HeapFirstKB = r.HeapKB
			}
			s.HeapLastKB = r.HeapKB
		}
	}
	s.OverheadMeanS, s.OverheadMaxS = nil, nil
	if len(over) > 0 {
		s.OverheadMeanS, s.OverheadMaxS = ptr(mean(over)), ptr(maxOf(over))
	}
}

func ptr(f float64) *float64 { return &f }

func mean(x []float64) float64 {
	t := 0.0
	for _, v := range x {
		t += v
	}
	return t / float64(len(x))
}

// median is the middle value of x (the mean of the two middle ones when
// there are an even number), x left as it was.
func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func maxOf(x []float64) float64 {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// WriteSoak summarizes s and writes soak.json, soak.html and soak-junit.xml
// at the store's top, each atomically (a reader never sees half a file).
func WriteSoak(store string, s *Soak) error {
	s.Summarize()
	s.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("soak.json: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(store, SoakJSON), append(b, '\n')); err != nil {
		return fmt.Errorf("soak.json: %w", err)
	}
	h, err := RenderSoakHTML(s)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(store, SoakHTML), h); err != nil {
		return fmt.Errorf("soak.html: %w", err)
	}
	j, err := SoakJUnitXML(s)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(store, SoakJUnit), j); err != nil {
		return fmt.Errorf("soak-junit.xml: %w", err)
	}
	return nil
}

type xmlSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Suites   []xmlSuite `xml:"testsuite"`
}

// SoakJUnitXML is soak-junit.xml: one testsuite per scenario, one testcase
// per run. A run whose expectation did not hold is a failure, a harness
// error a JUnit error, a cut run skipped.
func SoakJUnitXML(s *Soak) ([]byte, error) {
	x := xmlSuites{Name: "harness soak"}
	at := map[string]int{}
	for _, r := range s.Runs {
		i, ok := at[r.Scenario]
		if !ok {
			i = len(x.Suites)
			at[r.Scenario] = i
			x.Suites = append(x.Suites, xmlSuite{Name: r.Scenario})
		}
		su := &x.Suites[i]
		name := fmt.Sprintf("run %d seed %d", r.N, r.Seed)
		if r.Image != "" {
			name += " image " + r.Image
		}
		if r.Server != "" {
			name += " server " + r.Server
		}
		c := xmlCase{Name: name, Classname: "harness.soak." + r.Scenario, Time: fmt.Sprintf("%.3f", r.Seconds), SystemOut: r.Dir}
		switch {
		case r.Status == SoakCut:
			c.Skipped = &xmlFailure{Message: "cut: " + r.Error}
			su.Skipped++
		case r.Status == SoakHarness:
			c.Error = &xmlFailure{Message: "harness error", Text: r.Error}
			su.Errors++
		case r.Code != 0:
			msg := "expectation not met"
			if r.Status == SoakUnknown && len(r.Unexpected) == 0 && len(r.Missed) == 0 {
				msg = "result unknown"
			}
			c.Failure = &xmlFailure{Message: msg, Text: strings.Join(r.Failures, "\n")}
			su.Failures++
		}
		su.Tests++
		su.Cases = append(su.Cases, c)
	}
	for i := range x.Suites {
		su := &x.Suites[i]
		t := 0.0
		for _, c := range su.Cases {
			var f float64
			fmt.Sscan(c.Time, &f)
			t += f
		}
		su.Time = fmt.Sprintf("%.3f", t)
		x.Tests += su.Tests
		x.Failures += su.Failures
		x.Errors += su.Errors
		x.Skipped += su.Skipped
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("soak junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// soakView is what soak.html shows.
type soakView struct {
	*Soak
	Class      string
	Anomalies  []SoakRun
	Harness    []SoakRun
	Unknowns   []SoakRun
	RunsByCell [][]SoakRun
}

// RenderSoakHTML renders soak.html. Every name comes from files users
// write (scenario names, images, error texts): html/template escapes them.
func RenderSoakHTML(s *Soak) ([]byte, error) {
	v := soakView{Soak: s, Class: map[int]string{0: "ok", 1: "bad", 2: "unknown", 3: "unknown"}[s.Code]}
	for _, r := range s.Runs {
		switch {
		case r.Status == SoakHarness:
			v.Harness = append(v.Harness, r)
		case r.Status == SoakCut:
		case r.Code == 1:
			v.Anomalies = append(v.Anomalies, r)
		case r.Code == 2:
			v.Unknowns = append(v.Unknowns, r)
		}
	}
	for _, c := range s.Cells {
		var rs []SoakRun
		for _, i := range c.RunIndex {
			rs = append(rs, s.Runs[i])
		}
		v.RunsByCell = append(v.RunsByCell, rs)
	}
	var buf bytes.Buffer
	if err := soakTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render soak.html: %w", err)
	}
	return buf.Bytes(), nil
}

func runHref(r SoakRun) string {
	if r.Dir == "" {
		return ""
	}
	return filepath.ToSlash(filepath.Join(r.Dir, IndexFile))
}

var soakTmpl = template.Must(template.New("soak").Funcs(template.FuncMap{
	"pct": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f%%", *f*100)
	},
	"secs": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f s", *f)
	},
	"secs3": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%.3f s", *f)
	},
	"num": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f", *f)
	},
	"href":  runHref,
	"image": func(s string) string { return map[bool]string{true: "(scenario's)", false: s}[s == ""] },
	"server": func(name, reported string) string {
		switch {
		case name == "" && reported == "":
			return "(scenario's)"
		case name == "":
			return reported
		case reported == "":
			return name
		}
		return name + " (" + reported + ")"
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"join": func(x []string) string { return strings.Join(x, ", ") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Soak: {{.Verdict}}</title>
<style>
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #1d2127; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 14px; width: 100%; margin-bottom: 12px; }
th, td { border-bottom: 1px solid #d9dde3; padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #f6f7f9; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 13px; font-weight: 600; }
.ok { background: #e8f5ec; color: #1e7b34; } .bad { background: #fdecea; color: #b3261e; } .unknown { background: #fff4dc; color: #8a5a00; }
.muted { color: #5f6773; } code { font-size: 13px; }
</style>
</head>
<body>
<main>
<h1>Soak <span class="badge {{.Class}}">exit {{.Code}}: {{.Verdict}}</span></h1>
<p class="muted">Started {{when .Started}}, updated {{when .Updated}}{{if .Finished}}, finished{{else}}, still running{{end}}{{if .Stopped}} ({{.Stopped}}){{end}}. {{len .Runs}} runs. RSS {{.RSSStartKB}} kB at start, {{.RSSEndKB}} kB now, {{.RSSMaxKB}} kB at most after a run; live heap {{.HeapFirstKB}} kB after the first run, {{.HeapLastKB}} kB after the latest. Between runs (teardown + next cluster healthy): {{secs .OverheadMeanS}} mean, {{secs .OverheadMaxS}} at most.{{if not .Merge}} <a href="index.html">All runs</a>.{{end}}</p>
<p class="muted">{{range $k, $v := .Args}}<code>{{$k}}={{$v}}</code> {{end}}</p>
{{with .Shard}}<p class="muted">Shard {{.Index}} of {{.Of}}: the runs at positions {{.Index}}, {{.Index}}+{{.Of}}, {{.Index}}+2×{{.Of}}… of the soak's run list (numbered as the unsharded soak numbers them). <code>harness soak merge</code> joins the shards' stores into one summary.</p>{{end}}
{{with .Merge}}<h2>Shards</h2>
<p class="muted">Merged from {{len .Shards}} of {{.Of}} shards (RSS figures above: the largest of the shards').</p>
<table><tr><th>shard</th><th>store</th><th>runs</th><th>exit</th><th>finished</th><th>stopped</th></tr>
{{range .Shards}}<tr><td>{{.Index}}/{{$.Merge.Of}}</td><td><a href="{{.Store}}/soak.html">{{.Store}}</a></td><td>{{.Runs}}</td><td>{{.Code}}</td><td>{{.Finished}}</td><td>{{.Stopped}}</td></tr>
{{end}}{{range .Missing}}<tr><td>{{.}}/{{$.Merge.Of}}</td><td class="bad" colspan="5">missing: no store of this shard was given</td></tr>
{{end}}</table>{{end}}

<h2>Triage</h2>
<h3>Redis lost data or broke a guarantee (anomalies)</h3>
{{if .Anomalies}}<table><tr><th>run</th><th>scenario</th><th>image</th><th>unexpected anomalies</th><th>expected, not found</th><th>why</th></tr>
{{range .Anomalies}}<tr><td>{{with href .}}<a href="{{.}}">{{end}}#{{.N}}{{if .Dir}}</a>{{end}}</td><td>{{.Scenario}}</td><td>{{image .Image}}</td><td>{{join .Unexpected}}</td><td>{{join .Missed}}</td><td>{{join .Failures}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}
<h3>The harness or the environment failed</h3>
{{if .Harness}}<table><tr><th>run</th><th>scenario</th><th>image</th><th>error</th></tr>
{{range .Harness}}<tr><td>{{with href .}}<a href="{{.}}">{{end}}#{{.N}}{{if .Dir}}</a>{{end}}</td><td>{{.Scenario}}</td><td>{{image .Image}}</td><td><code>{{.Error}}</code></td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}
{{if .Unknowns}}<h3>Undecided (unknown)</h3><table><tr><th>run</th><th>scenario</th><th>image</th><th>why</th></tr>
{{range .Unknowns}}<tr><td>{{with href .}}<a href="{{.}}">{{end}}#{{.N}}{{if .Dir}}</a>{{end}}</td><td>{{.Scenario}}</td><td>{{image .Image}}</td><td>{{join .Failures}}</td></tr>
{{end}}</table>{{end}}

<h2>Per scenario × image × server</h2>
<table>
<tr><th>scenario</th><th>image</th><th>server</th><th>runs</th><th>valid</th><th>invalid</th><th>unknown</th><th>harness error</th><th>cut</th><th>expectation met</th><th>detection rate</th><th>recovery mean / max</th><th>client recovery median / max</th><th>ok rate during faults median / min</th><th>slots moved after median / max</th><th>ops/s mean</th></tr>
{{range .Cells}}<tr><td>{{.Scenario}}</td><td>{{image .Image}}</td><td>{{server .Server .Reported}}</td><td>{{.Runs}}</td><td>{{.Valid}}</td><td>{{.Invalid}}</td><td>{{.Unknown}}</td><td>{{.HarnessError}}</td><td>{{.Cut}}</td><td>{{.Met}}/{{.Judged}}</td><td>{{pct .DetectionRate}}{{if .DetectionRate}} ({{.Detected}}/{{.Judged}}){{end}}</td><td>{{secs .RecoveryMeanS}} / {{secs .RecoveryMaxS}}</td><td>{{secs3 .ClientRecoveryMedianS}} / {{secs3 .ClientRecoveryMaxS}}{{with .ClientNeverRecovered}}; never: {{.}}{{end}}</td><td>{{pct .RateRatioMedian}} / {{pct .RateRatioMin}}</td><td>{{secs3 .MovedMedianS}} / {{secs3 .MovedMaxS}}</td><td>{{num .OpsPerSecMean}}</td></tr>
{{else}}<tr><td colspan="15" class="muted">No runs yet.</td></tr>
{{end}}</table>

<h2>Runs</h2>
{{range $i, $c := .Cells}}<h3>{{$c.Scenario}} on {{image $c.Image}}{{if or $c.Server $c.Reported}}, server {{server $c.Server $c.Reported}}{{end}}</h3>
<table><tr><th>#</th><th>started</th><th>seconds</th><th>status</th><th>exit</th><th>seed</th><th>cluster up / teardown</th><th>since last run</th><th>RSS / heap / goroutines</th><th>run dir</th></tr>
{{range index $.RunsByCell $i}}{{$r := .}}<tr><td>{{.N}}</td><td>{{when .Started}}</td><td>{{printf "%.1f" .Seconds}}</td><td>{{.Status}}</td><td>{{.Code}}</td><td>{{.Seed}}</td><td>{{secs .ProvisionS}} / {{secs .TeardownS}}</td><td>{{secs .OverheadS}}</td><td>{{.RSSKB}} / {{.HeapKB}} kB / {{.Goroutines}}</td><td>{{with href $r}}<a href="{{.}}">{{$r.Dir}}</a>{{else}}—{{end}}</td></tr>
{{end}}</table>
{{end}}
</main>
</body>
</html>
`))
