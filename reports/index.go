package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// storeRun is one row of the store's index.
type storeRun struct {
	Scenario, Run string
	Started       string
	at            time.Time
	Verdict       string
	Class         string
	Expectation   string
	Ops           string
	Href          string
}

// WriteIndex writes store/index.html: every run under
// store/<scenario>/<run>/ with its scenario, start time, verdict and a
// link to its report, newest first. The latest links are skipped, so each
// run is listed once.
func WriteIndex(store string) error {
	scenarios, err := os.ReadDir(store)
	if err != nil {
		return fmt.Errorf("store index: %w", err)
	}
	var runs []storeRun
	for _, s := range scenarios {
		if !s.IsDir() || strings.HasPrefix(s.Name(), ".") { // latest is a symlink: not a dir entry
			continue
		}
		entries, err := os.ReadDir(filepath.Join(store, s.Name()))
		if err != nil {
			return fmt.Errorf("store index: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(store, s.Name(), e.Name())
			if !isRunDir(dir) {
				continue
			}
			runs = append(runs, indexRow(dir, s.Name(), e.Name()))
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if !runs[i].at.Equal(runs[j].at) {
			return runs[i].at.After(runs[j].at)
		}
		if runs[i].Run != runs[j].Run {
			return runs[i].Run > runs[j].Run
		}
		return runs[i].Scenario < runs[j].Scenario
	})
	var buf bytes.Buffer
	if err := indexTmpl.Execute(&buf, struct {
		Store string
		Runs  []storeRun
	}{Store: filepath.Base(resolve(store)), Runs: runs}); err != nil {
		return fmt.Errorf("render the store index: %w", err)
	}
	return writeFileAtomic(filepath.Join(store, IndexFile), buf.Bytes())
}

func isRunDir(dir string) bool {
	if _, err := history.Locate(dir); err == nil {
		return true
	}
	for _, f := range []string{ResultsFile, ScenarioFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

func indexRow(dir, scenario, run string) storeRun {
	r := storeRun{Scenario: scenario, Run: run, Verdict: "not checked", Class: "unknown"}
	if stamp, _, ok := strings.Cut(run, "-"); ok {
		if at, err := time.Parse("20060102T150405", stamp); err == nil {
			r.at = at
		}
	}
	if r.at.IsZero() {
		if st, err := os.Stat(dir); err == nil {
			r.at = st.ModTime().UTC()
		}
	}
	if !r.at.IsZero() {
		r.Started = r.at.Format("2006-01-02 15:04:05 UTC")
	}
	r.Href = path.Join(scenario, run) + "/"
	if _, err := os.Stat(filepath.Join(dir, IndexFile)); err == nil {
		r.Href = path.Join(scenario, run, IndexFile)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		return r
	}
	res := checker.Results{Valid: checker.Unknown}
	var stats struct {
		Ops int `json:"ops"`
	}
	if json.Unmarshal(b, &res) != nil || !isNull(res.Stats) && json.Unmarshal(res.Stats, &stats) != nil {
		r.Verdict = "unreadable results.json"
		return r
	}
	switch res.Valid {
	case checker.True:
		r.Verdict, r.Class = "valid", "ok"
	case checker.False:
		r.Verdict, r.Class = "anomalies found", "bad"
	default:
		r.Verdict, r.Class = "unknown", "unknown"
	}
	if e := res.Expected; e != nil {
		switch {
		case e.Met && len(e.Checkers) > 0:
			r.Expectation, r.Class = "as expected", "ok"
		case e.Met:
			r.Expectation = "met"
		default:
			r.Expectation = "not met"
			if r.Class == "ok" {
				r.Class = "bad"
			}
		}
	}
	if !isNull(res.Stats) {
		r.Ops = fmt.Sprint(stats.Ops)
	}
	return r
}

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Runs in {{.Store}}</title>
<style>
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #1d2127; }
main { max-width: 1100px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 22px; }
table { border-collapse: collapse; font-size: 14px; width: 100%; }
th, td { border-bottom: 1px solid #d9dde3; padding: 5px 10px; text-align: left; }
th { background: #f6f7f9; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 13px; font-weight: 600; }
.ok { background: #e8f5ec; color: #1e7b34; } .bad { background: #fdecea; color: #b3261e; } .unknown { background: #fff4dc; color: #8a5a00; }
.muted { color: #5f6773; }
</style>
</head>
<body>
<main>
<h1>Runs in {{.Store}}</h1>
<p class="muted">{{len .Runs}} runs, newest first.</p>
<table>
<tr><th>started</th><th>scenario</th><th>run</th><th>verdict</th><th>expectation</th><th>ops</th></tr>
{{range .Runs}}<tr><td>{{.Started}}</td><td>{{.Scenario}}</td><td><a href="{{.Href}}">{{.Run}}</a></td><td><span class="badge {{.Class}}">{{.Verdict}}</span></td><td>{{.Expectation}}</td><td>{{.Ops}}</td></tr>
{{else}}<tr><td colspan="6" class="muted">No runs yet.</td></tr>
{{end}}</table>
</main>
</body>
</html>
`))
