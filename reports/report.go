package reports

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"secs": secs,
	"dur":  func(from, to int64) float64 { return secs(to - from) },
}).Parse(pageHTML))

// maxFaultRows caps the nemesis timeline's table.
const maxFaultRows = 200

// page is everything index.html shows. Every string in it is data the
// template escapes; only the plots' data URIs are marked safe.
type page struct {
	Title       string
	Scenario    string
	Description string
	Run         string
	Started     string

	Verdict      string
	VerdictClass string
	Expectation  string
	ExpectFails  []string
	Anomalies    []string

	Facts    []fact
	Replay   string
	Warnings []string

	Before, After *clusterTable

	Faults        []*fault
	FaultsOmitted int
	NemesisFacts  []fact
	NoNemesis     string

	Sections []section
	Figures  []figure
	Links    []link
	Other    []fact

	ScenarioYAML string
}

// clusterTable is one topology sample as a table of nodes.
type clusterTable struct {
	Title string
	Rows  [][]string
	Note  string
}

// Write (re)generates dir's report from what is on disk: history.jsonl
// (or history.jsonl.gz), topology.jsonl, results.json and scenario.yaml.
// It writes index.html, self-contained (styles and plots inline, no
// network), and the plots as files beside it. A run without results.json
// (never checked) gets a page that says so. Only I/O and unreadable inputs
// are errors.
func Write(dir string) error {
	return WriteFrom(dir, nil)
}

// Loaded is a history already in memory: its records in file order and
// what the reader said about a cut last line.
type Loaded struct {
	Ops []history.Op
	// File is the history file's name the records came from
	// (history.jsonl or history.jsonl.gz; empty: history.jsonl): the
	// page links to it.
	File      string
	Truncated string
}

// WriteFrom is Write with the history given instead of read again from
// history.jsonl (nil: read it), for a caller that has just checked it: a
// minute of a busy run is a million records, and parsing them twice was a
// fifth of the judging.
func WriteFrom(dir string, loaded *Loaded) error {
	res, err := readResults(dir)
	if err != nil {
		return err
	}
	scen, scenText, scenErr := readScenario(dir)

	keys, slots := wanted(res)
	h, err := scanHistory(dir, keys, loaded)
	if err != nil {
		return err
	}
	t, err := scanTopology(dir, slots)
	if err != nil {
		return err
	}
	end := h.end
	if t.Last != nil {
		end = max(end, t.Last.Time)
	}
	faults := buildFaults(h.nemesis, end)
	figs := drawPlots(plotInput{h: h, t: t, faults: faults, end: secs(end)})
	drawn := map[string]bool{}
	for _, f := range figs {
		if f.Data == nil {
			continue
		}
		drawn[f.File] = true
		if err := writeFileAtomic(filepath.Join(dir, f.File), f.Data); err != nil {
			return fmt.Errorf("write plot: %w", err)
		}
	}
	for _, name := range plotFiles {
		if !drawn[name] {
			// A plot of an earlier report that has no data now would
			// contradict the page.
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove a stale plot: %w", err)
			}
		}
	}

	p := &page{Sections: nil, Figures: figs, ScenarioYAML: cut(scenText, maxRaw)}
	p.fill(dir, res, scen, h, t)
	if scenErr != nil {
		p.Warnings = append(p.Warnings, scenErr.Error())
	}
	attachRecovery(faults, res.Checkers[history.CheckRecovery])
	p.nemesis(h, faults, res.Nemesis)
	ex := &explainer{dir: dir, h: h, t: t, faults: faults}
	for _, name := range orderedCheckers(res.Checkers) {
		p.Sections = append(p.Sections, ex.section(name, res.Checkers[name], res.Expected))
	}
	if !res.Checked {
		// No results.json: the history's own counts stand in for the stats.
		s := section{Name: "stats", Verdict: "not checked", VerdictClass: "unknown"}
		s.Facts = []fact{{"ops", num(h.completed + h.unfinished)}, {"ok", num(h.counts[outOK])}, {"fail", num(h.counts[outFail])}, {"info", num(h.counts[outInfo])}, {"never completed", num(h.unfinished)}}
		p.Sections = append(p.Sections, s)
	}
	var otherKeys []string
	for k := range res.Other {
		otherKeys = append(otherKeys, k)
	}
	sort.Strings(otherKeys)
	for _, k := range otherKeys {
		p.Other = append(p.Other, fact{Label: k, Value: rawJSON(res.Other[k])})
	}
	for _, f := range figs {
		if f.Err != "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %s", f.File, f.Err))
		}
	}
	p.Links = runLinks(dir, figs)

	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		return fmt.Errorf("render %s: %w", IndexFile, err)
	}
	return writeFileAtomic(filepath.Join(dir, IndexFile), buf.Bytes())
}

// wanted are the keys whose final reads, and the slots whose owners, the
// explanations need.
func wanted(res *results) (map[string]bool, map[int]bool) {
	keys, slots := map[string]bool{}, map[int]bool{}
	if raw, ok := res.Checkers["set"]; ok {
		var r checker.SetResult
		if json.Unmarshal(raw, &r) == nil {
			for _, el := range r.LostElements {
				slots[history.KeySlot(el.Key)] = true
				keys[el.Key] = true
			}
		}
	}
	if raw, ok := res.Checkers["list-append"]; ok {
		var r checker.ListAppendResult
		if json.Unmarshal(raw, &r) == nil {
			for _, el := range r.LostElements {
				slots[history.KeySlot(el.Key)] = true
				keys[el.Key] = true
			}
		}
	}
	return keys, slots
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// scenarioView is the part of scenario.yaml the page shows, each field read
// as its text and every other field ignored: the report shows what the file
// says, whatever version of the harness wrote it. What actually ran (the
// backend --backend auto chose, the image) is server.json's, not this.
type scenarioView struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Backend     string `yaml:"backend"`
	TimeLimit   string `yaml:"time_limit"`
	Seed        string `yaml:"seed"`
	Cluster     struct {
		Masters  string `yaml:"masters"`
		Replicas string `yaml:"replicas"`
		Image    string `yaml:"image"`
	} `yaml:"cluster"`
	Client struct {
		Workloads []struct {
			Name string `yaml:"name"`
		} `yaml:"workloads"`
	} `yaml:"client"`
}

// readScenario reads dir's scenario.yaml for display; a missing file is an
// empty view, one that does not parse is what could be read, with the
// error as a warning.
func readScenario(dir string) (scenarioView, string, error) {
	var v scenarioView
	b, err := os.ReadFile(filepath.Join(dir, ScenarioFile))
	if errors.Is(err, fs.ErrNotExist) {
		return v, "", nil
	}
	if err != nil {
		return v, "", fmt.Errorf("read scenario: %w", err)
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return v, string(b), fmt.Errorf("%s does not parse: %v", ScenarioFile, err)
	}
	return v, string(b), nil
}

func (p *page) fill(dir string, res *results, scen scenarioView, h *histScan, t *topoScan) {
	p.header(dir, scen)
	p.verdict(dir, res)
	p.facts(dir, res, scen, h)
	p.fileWarnings(h, t)
	// The cluster before and after.
	if t.First != nil {
		p.Before = clusterOf(t.First, "Before: the first topology sample, at "+ts(t.First.Time))
		if t.Last != nil && t.Last != t.First {
			p.After = clusterOf(t.Last, "After: the last topology sample, at "+ts(t.Last.Time))
		}
	}
}

// header names the run: its scenario, its dir's name, when it started.
func (p *page) header(dir string, scen scenarioView) {
	p.Run = filepath.Base(resolve(dir))
	p.Scenario = scen.Name
	if p.Scenario == "" {
		p.Scenario = filepath.Base(filepath.Dir(resolve(dir)))
	}
	p.Description = scen.Description
	p.Title = fmt.Sprintf("%s · %s", p.Scenario, p.Run)
	if stamp, _, ok := strings.Cut(p.Run, "-"); ok {
		if at, err := time.Parse("20060102T150405", stamp); err == nil {
			p.Started = at.Format("2006-01-02 15:04:05 UTC")
		}
	}
}

// verdict is the run's verdict, whether the scenario's expectation was
// met, and one line per checker that was not valid.
func (p *page) verdict(dir string, res *results) {
	switch {
	case !res.Checked:
		p.Verdict, p.VerdictClass = "not checked", "unknown"
		p.Warnings = append(p.Warnings, fmt.Sprintf("No %s: the run was never judged (harness check %s judges it).", ResultsFile, dir))
	case res.Valid == checker.True:
		p.Verdict, p.VerdictClass = "valid", "ok"
	case res.Valid == checker.False:
		p.Verdict, p.VerdictClass = "anomalies found", "bad"
	default:
		p.Verdict, p.VerdictClass = "unknown", "unknown"
	}
	if res.Why != "" {
		p.Verdict, p.VerdictClass = "unknown: interrupted", "unknown"
		p.Warnings = append(p.Warnings, "The run was interrupted ("+res.Why+"): every checker below judged the history so far, without the final reads or the converged view, so none of their verdicts is the run's.")
	}
	if e := res.Expected; e != nil {
		var declared []string
		for name, want := range e.Checkers {
			declared = append(declared, fmt.Sprintf("%s %s", name, map[bool]string{true: "valid", false: "invalid"}[want]))
		}
		sort.Strings(declared)
		switch {
		case e.Met && len(declared) > 0:
			p.Expectation = "Expectation met: the scenario expects " + strings.Join(declared, ", ") + " (every other checker valid)."
			p.VerdictClass = "ok"
		case e.Met:
			p.Expectation = "Expectation met: every checker valid."
		default:
			p.Expectation = "Expectation not met:"
			p.ExpectFails = e.Failures
			if p.VerdictClass == "ok" {
				p.VerdictClass = "bad"
			}
		}
	}
	for _, name := range orderedCheckers(res.Checkers) {
		if v, reason := verdictOf(res.Checkers[name]); v != checker.True {
			w, _ := verdictWord(v)
			p.Anomalies = append(p.Anomalies, strings.TrimSuffix(fmt.Sprintf("%s: %s. %s", name, w, cut(reason, 300)), " "))
		}
	}
}

// facts are the run's facts: what ran, its shape, seed, duration and ops,
// and the command that replays it.
func (p *page) facts(dir string, res *results, scen scenarioView, h *histScan) {
	backend, image, server := ran(dir, res, scen)
	duration := "unknown"
	if res.StatsResult != nil && res.StatsResult.SpanS > 0 {
		duration = fmt.Sprintf("%.3f s of client ops", res.StatsResult.SpanS)
	} else if h.last > h.first {
		duration = fmt.Sprintf("%.3f s of client ops", secs(h.last-h.first))
	}
	if scen.TimeLimit != "" {
		duration += " (time limit " + scen.TimeLimit + ")"
	}
	shape := ""
	if scen.Cluster.Masters != "" {
		shape = fmt.Sprintf("%s masters × %s replicas", scen.Cluster.Masters, nonEmpty(scen.Cluster.Replicas, "0"))
	}
	var wls []string
	for _, w := range scen.Client.Workloads {
		wls = append(wls, w.Name)
	}
	ops := fmt.Sprintf("%d ops: %d ok, %d fail, %d info", h.completed+h.unfinished, h.counts[outOK], h.counts[outFail], h.counts[outInfo])
	if h.unfinished > 0 {
		ops += fmt.Sprintf(" (%d never completed)", h.unfinished)
	}
	if res.StatsResult != nil && res.StatsResult.OpsPerSec > 0 {
		ops += fmt.Sprintf("; %.0f ops/s", res.StatsResult.OpsPerSec)
	}
	p.Facts = []fact{{"scenario", p.Scenario}, {"started", nonEmpty(p.Started, "unknown")}, {"backend", backend}, {"image", image}, {"server", nonEmpty(server, "not recorded")}, {"cluster", nonEmpty(shape, "unknown")},
		{"workloads", nonEmpty(strings.Join(wls, ", "), "unknown")}, {"seed", nonEmpty(scen.Seed, "unknown")}, {"duration", duration}, {"history", ops}}
	p.Replay = fmt.Sprintf("harness run %s", shellQuote(filepath.Join(resolve(dir), ScenarioFile)))
	if scen.Seed != "" {
		p.Replay += " --seed " + scen.Seed
	}
}

// ran is what the run ran: the backend and image its server.json records
// (results.json's "server"; the dir's own file for a run never judged),
// else, in run dirs written before they were recorded, what scenario.yaml
// asked for; and the server as the nodes reported themselves.
func ran(dir string, res *results, scen scenarioView) (backend, image, server string) {
	rec, ok := checker.ServerRecord{}, false
	if res.Server != nil {
		rec, ok = *res.Server, true
	} else {
		rec, ok = checker.ReadServer(dir)
	}
	backend, image = nonEmpty(scen.Backend, "unknown"), scen.Cluster.Image
	if ok && rec.Backend != "" {
		backend, image = rec.Backend, rec.Image
	}
	if image == "" {
		switch backend {
		case "local":
			image = "none (local backend: the server runs as processes)"
		case "docker":
			image = "the harness's node image (default)"
		default:
			image = "default"
		}
	}
	if ok && rec.Label != "" {
		server = rec.Label
		if rec.Name != "" && rec.Name != rec.Server+"-"+rec.Version {
			server += " (" + rec.Name + ")"
		}
		if rec.Source != "" {
			server += " · " + rec.Source
		}
	} else if v := redisVersions(dir); v != "" {
		image += " · " + v
	}
	return backend, image, server
}

// fileWarnings say what the history and topology readers tolerated.
func (p *page) fileWarnings(h *histScan, t *topoScan) {
	if h.truncated != "" {
		p.Warnings = append(p.Warnings, h.file+": "+h.truncated)
	}
	if h.orphans > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %d completions have no invocation and were left out of the plots.", h.file, h.orphans))
	}
	if t.Missing {
		p.Warnings = append(p.Warnings, "No topology.jsonl: the cluster's shape, slot coverage and roles over time are unknown.")
	}
	if t.Warning != "" {
		p.Warnings = append(p.Warnings, t.Warning)
	}
}

// resolve follows store/latest and the like to the run directory itself,
// so that the replay command and the run's name stay true later.
func resolve(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Clean(r)
	}
	return filepath.Clean(dir)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redisVersions reads the versions the node logs announce at start.
func redisVersions(dir string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "redis.log"))
	sort.Strings(logs)
	seen := map[string]bool{}
	var out []string
	for _, l := range logs {
		if len(out) > 0 && len(seen) > 0 && len(logs) > 8 {
			break // the first few logs tell it
		}
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
		for sc.Scan() {
			line := sc.Text()
			kind, after, ok := "Redis", "", false
			if _, after, ok = strings.Cut(line, "Redis version="); !ok {
				kind = "Valkey"
				_, after, ok = strings.Cut(line, "Valkey version=")
			}
			if ok {
				v, _, _ := strings.Cut(after, ",")
				v = kind + " " + v
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
				break
			}
		}
		f.Close()
	}
	return strings.Join(out, ", ")
}

// clusterOf tabulates a sample: masters by their first slot, each followed
// by its replicas, then the nodes that did not answer.
func clusterOf(s *history.Sample, title string) *clusterTable {
	ct := &clusterTable{Title: title}
	addrOf := map[string]string{}
	for _, n := range s.Nodes {
		if n.Error == "" && n.ID != "" {
			addrOf[n.ID] = n.Addr
		}
	}
	nodes := append([]history.SampleNode(nil), s.Nodes...)
	firstSlot := func(n history.SampleNode) int {
		if len(n.Slots) == 0 {
			return history.NumSlots
		}
		return n.Slots[0].Start
	}
	group := func(n history.SampleNode) (int, string) {
		switch {
		case n.Error != "":
			return 3, n.Addr
		case normRole(n.Role) == "master":
			return 0, n.ID
		case normRole(n.Role) == "replica":
			return 0, n.MasterID
		}
		return 2, n.Addr
	}
	masterSlot := map[string]int{}
	for _, n := range nodes {
		if normRole(n.Role) == "master" && n.Error == "" {
			masterSlot[n.ID] = firstSlot(n)
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		gi, ki := group(nodes[i])
		gj, kj := group(nodes[j])
		if gi != gj {
			return gi < gj
		}
		if gi == 0 {
			si, iok := masterSlot[ki]
			sj, jok := masterSlot[kj]
			if !iok {
				si = history.NumSlots + 1
			}
			if !jok {
				sj = history.NumSlots + 1
			}
			if si != sj {
				return si < sj
			}
			if ki != kj {
				return ki < kj
			}
			// The master before its replicas.
			mi, mj := normRole(nodes[i].Role) == "master", normRole(nodes[j].Role) == "master"
			if mi != mj {
				return mi
			}
		}
		return naturalLess(nodes[i].Addr, nodes[j].Addr)
	})
	for _, n := range nodes {
		if n.Error != "" {
			ct.Rows = append(ct.Rows, []string{n.Addr, "", "", "", "", "", "", "", "", cut(n.Error, 200)})
			continue
		}
		var rs []string
		for _, r := range n.Slots {
			rs = append(rs, r.String())
		}
		slots := strings.Join(rs, " ")
		if len(rs) > 0 {
			slots = fmt.Sprintf("%s (%d)", cut(slots, 300), history.CountSlots(n.Slots))
		}
		master := ""
		if normRole(n.Role) == "replica" {
			master = nameOf(n.MasterID, addrOf)
		}
		var failed []string
		for _, id := range n.Failed {
			failed = append(failed, nameOf(id, addrOf))
		}
		id := n.ID
		if len(id) > 8 {
			id = id[:8]
		}
		var open []string
		for slot, to := range n.Migrating {
			open = append(open, fmt.Sprintf("%d→%s", slot, nameOf(to, addrOf)))
		}
		for slot, from := range n.Importing {
			open = append(open, fmt.Sprintf("%d←%s", slot, nameOf(from, addrOf)))
		}
		sort.Strings(open)
		if len(open) > 0 {
			slots += " open: " + cut(strings.Join(open, " "), 200)
		}
		ct.Rows = append(ct.Rows, []string{n.Addr, id, normRole(n.Role), master, fmt.Sprint(n.Epoch), slots, n.State, n.LinkStatus, strings.Join(failed, ", "), ""})
	}
	return ct
}

func (p *page) nemesis(h *histScan, faults []*fault, nr *checker.NemesisReport) {
	if nr != nil {
		for _, f := range faults {
			if f.Action >= 0 && f.Action < int64(len(nr.Actions)) && nr.Actions[f.Action].Action.Do == f.F {
				f.HealTook = time.Duration(nr.Actions[f.Action].HealTook).Round(100 * time.Microsecond)
			}
		}
		health := "the cluster passed the health gate"
		if !nr.Healthy {
			health = "the cluster never passed the health gate"
		}
		p.NemesisFacts = []fact{{"actions", num(len(nr.Actions))}, {"recovery", fmt.Sprintf("%.3f s from the last heal until %s", nr.RecoveryS, health)},
			{"slowest to take effect", fmt.Sprintf("%.1f ms after its schedule", nr.MaxLatencyMS)}}
	}
	if len(faults) == 0 {
		p.NoNemesis = "The nemesis recorded no faults in this run (no process -1 records in the history)."
		return
	}
	p.Faults = faults
	if len(faults) > maxFaultRows {
		p.Faults = faults[:maxFaultRows]
		p.FaultsOmitted = len(faults) - maxFaultRows
	}
	if h.nemesisDropped > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d nemesis records past the first %d were left out.", h.nemesisDropped, maxNemesis))
	}
}

// runLinks are the run's files that exist, for the page's last section.
func runLinks(dir string, figs []figure) []link {
	var out []link
	add := func(name, what string) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			out = append(out, link{Href: name, Text: name + " — " + what})
		}
	}
	if path, err := history.Locate(dir); err == nil {
		what := "every op, one JSON object a line"
		if filepath.Base(path) == history.GzipFile {
			what += ", gzipped"
		}
		add(filepath.Base(path), what)
	}
	add(ResultsFile, "the verdicts and their evidence")
	add(JUnitFile, "one testcase per checker, for CI")
	add(checker.TopologyFile, "slot and role samples of every node")
	add(ScenarioFile, "the resolved scenario: rerunning it replays the run")
	add(checker.VisualizationFile, "porcupine's visualization of the keys not linearizable")
	add(HarnessLog, "the harness's own log")
	for _, f := range figs {
		if f.Data != nil {
			add(f.File, f.Title)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "redis.log"))
	sort.Slice(logs, func(i, j int) bool { return naturalLess(logs[i], logs[j]) })
	for i, l := range logs {
		if i == 64 {
			out = append(out, link{Text: fmt.Sprintf("%d more node logs under nodes/", len(logs)-64)})
			break
		}
		rel, err := filepath.Rel(dir, l)
		if err != nil {
			continue
		}
		out = append(out, link{Href: filepath.ToSlash(rel), Text: filepath.ToSlash(rel) + " — the server log of " + filepath.Base(filepath.Dir(l))})
	}
	return out
}
