package reports

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// runDir copies a run directory of testdata into a temp dir, since Write
// writes beside its inputs.
func runDir(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	src := filepath.Join("testdata", name)
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writePage(t *testing.T, dir string) string {
	t.Helper()
	if err := Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// text is the page without tags and with the template's escapes undone, to
// assert on sentences whatever markup and escaping they sit in.
func text(page string) string {
	s := regexp.MustCompile(`(?s)<style>.*?</style>|<[^>]*>`).ReplaceAllString(page, " ")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#39;", "'", "&#34;", `"`, "&quot;", `"`, "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

var allPlots = plotFiles

// TestLostWrite: a master cut off by a partition acknowledges adds that its
// replica, promoted, never had. The page must say what was lost, who
// acknowledged it as what, the fault, the failover and the final read.
func TestLostWrite(t *testing.T) {
	dir := runDir(t, "lost-write")
	page := writePage(t, dir)
	txt := text(page)
	mustContain(t, "the verdict", txt,
		"anomalies found",
		"Expectation met: the scenario expects set invalid",
		"set: invalid. 25 lost",
	)
	mustContain(t, "the run facts", txt,
		"failover-lost-write", "backend local", "Redis 7.0.15", "seed 42",
		"harness run "+filepath.Join(dir, "scenario.yaml")+" --seed 42",
	)
	mustContain(t, "the cluster tables", txt,
		"Before: the first topology sample, at 0.050 s",
		"After: the last topology sample, at 10.050 s",
		"127.0.0.1:7004 dddddddd master 4 0-5460 (5461)",
		"127.0.0.1:7001 aaaaaaaa replica 127.0.0.1:7004 4",
	)
	mustContain(t, "the nemesis timeline", txt,
		"partition master-of-slot 127.0.0.1:7001", "2.001 s 8.001 s 6.000 s",
		"not injected: the local backend cannot kill without root",
		"took effect 1ms after its schedule; its heal took 4ms",
		"recovery 0.550 s from the last heal until the cluster passed the health gate",
	)
	// The first story: the adds 127.0.0.1:7001 acknowledged before the
	// others flagged it, starting with record #38 (element 20).
	mustContain(t, "the explanation", txt,
		"11 elements of {set:0} (slot 3590) were lost: 20, 21,",
		"127.0.0.1:7001 acknowledged their writes (ok) between 2.003 s and 3.003 s: records #38 to #59, by process 0.",
		"127.0.0.1:7001 was master, config epoch 1",
		"Slot 3590 was served by 127.0.0.1:7001 (epoch 1).",
		"In effect then: partition #1",
		"at 3.050 s other nodes flagged 127.0.0.1:7001 failing",
		"at 4.550 s slot 3590 was claimed by 127.0.0.1:7001 (epoch 1) and 127.0.0.1:7004 (epoch 4)",
		"at 8.550 s 127.0.0.1:7001 became replica of 127.0.0.1:7004",
		"A failover: Redis replicates asynchronously",
		"The final read of {set:0}, record #191 by process 1, invoked at 10.000 s and answered (ok) at 10.002 s by 127.0.0.1:7004, returned 64 elements, none of these 11.",
		// The second story: the same master, now flagged failing, still acknowledging.
		"14 elements of {set:0} (slot 3590) were lost",
		"127.0.0.1:7001 was master, config epoch 1, flagged failing by the other nodes",
	)
	mustContain(t, "the lost table", txt, "{set:0} 3590 20 #38, process 0, ok 2.003 s 127.0.0.1:7001 (master, config epoch 1)")
	mustContain(t, "the slots section", txt, "Windows where the cluster was not sound", "3.050 s 8.550 s")
	mustContain(t, "the links", page, `href="history.jsonl"`, `href="results.json"`, `href="harness.log"`, `href="nodes/n1/redis.log"`, `href="topology.jsonl"`)

	for _, p := range allPlots {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", p, err)
		}
		if !strings.Contains(page, `id="plot-`+p+`"`) {
			t.Errorf("the page has no figure for %s", p)
		}
	}
	if n := strings.Count(page, `src="data:image/png;base64,`); n != 2 {
		t.Errorf("%d PNG plots inline, want 2", n)
	}
	if n := strings.Count(page, `src="data:image/svg&#43;xml;base64,`); n != 5 { // "+" as html/template writes it in an attribute
		t.Errorf("%d SVG plots inline, want 5", n)
	}
	if strings.Contains(page, `src="http`) || strings.Contains(page, `href="http`) {
		t.Error("the page reaches for the network")
	}
}

// TestHostileValues: keys, fault names, targets and the scenario's
// description come from the history and the run's files; none may become
// markup.
func TestHostileValues(t *testing.T) {
	dir := runDir(t, "nonlinear")
	page := writePage(t, dir)
	low := strings.ToLower(page)
	for _, bad := range []string{"<script", "<img src=x", "<b>all", "<i>n1"} {
		if strings.Contains(low, bad) {
			i := strings.Index(low, bad)
			t.Errorf("the page holds %q unescaped: …%s…", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	for _, p := range allPlots {
		b, err := os.ReadFile(filepath.Join(dir, p))
		for _, bad := range []string{"<script", "<img", "<b>", "<i>"} {
			if err == nil && strings.Contains(strings.ToLower(string(b)), bad) {
				t.Errorf("%s holds %q unescaped", p, bad)
			}
		}
	}
	txt := text(page)
	mustContain(t, "the page", txt,
		"anomalies found", "Expectation not met:", "linearizable: invalid, expected valid",
		"<img src=x onerror=alert('description')>", // shown as text
		"Key {register:0}<script>alert('key')</script> (slot 3226, register model, 4 ops) is not linearizable",
		"The op that cannot come next, record #5 (read 1), was answered by 127.0.0.1:7004 (replica of 127.0.0.1:7001) at 0.310 s.",
		"127.0.0.1:7004 was a replica then",
		"redis:7.2", "backend docker", "ordered without search",
	)
	mustContain(t, "the page", page, `href="linearizability.html"`)
}

// TestNotChecked: a history alone (a crashed run, or one never judged)
// still gets a page, which says so.
func TestNotChecked(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "lost-write", "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// Cut the last line short, as a run that died mid-write leaves it.
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), append(b, `{"index":999,"time":1`...), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, PlotNodeRoles), []byte("<svg/>"), 0o644) // from an earlier report
	page := writePage(t, dir)
	txt := text(page)
	mustContain(t, "the page", txt, "not checked", "No results.json: the run was never judged", "No topology.jsonl", "ends early", "partition master-of-slot")
	for _, p := range []string{PlotLatencyRaw, PlotThroughput, PlotErrors} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("plot %s: %v", p, err)
		}
	}
	for _, p := range []string{PlotSlotCoverage, PlotNodeRoles} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("plot %s drawn without topology samples", p)
		}
	}
}

func TestWriteIsRepeatable(t *testing.T) {
	dir := runDir(t, "lost-write")
	a := writePage(t, dir)
	b := writePage(t, dir)
	if a != b {
		t.Error("two reports of one run differ")
	}
}

// TestWriteFromLoaded: the page from a history already in memory is the
// page from history.jsonl, byte for byte.
func TestWriteFromLoaded(t *testing.T) {
	dir := runDir(t, "lost-write")
	fromDisk := writePage(t, dir)
	ops, rr, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatal("the test run has no history")
	}
	if err := WriteFrom(dir, &Loaded{Ops: ops, Truncated: rr.Truncated}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != fromDisk {
		t.Error("the page from loaded records differs from the page from history.jsonl")
	}
	// And the records are really used: without the client ops, the page
	// no longer shows the lost adds.
	var nemesisOnly []history.Op
	for _, o := range ops {
		if !o.IsClient() {
			nemesisOnly = append(nemesisOnly, o)
		}
	}
	if err := WriteFrom(dir, &Loaded{Ops: nemesisOnly}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, IndexFile)); string(b) == fromDisk {
		t.Error("WriteFrom ignored the records it was given")
	}
}

func TestWriteIndex(t *testing.T) {
	store := t.TempDir()
	mk := func(scenario, run string, from string) {
		dir := filepath.Join(store, scenario, run)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"history.jsonl", "results.json"} {
			if from == "" {
				continue
			}
			b, err := os.ReadFile(filepath.Join("testdata", from, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if from == "" {
			os.WriteFile(filepath.Join(dir, "history.jsonl"), nil, 0o644)
		}
	}
	mk("failover", "20260101T100000-1", "lost-write")
	mk("nonlinear", "20260102T100000-2", "nonlinear")
	mk("smoke", "20251231T235959-3", "")
	os.WriteFile(filepath.Join(store, "failover", "20260101T100000-1", IndexFile), []byte("x"), 0o644)
	os.Symlink("20260101T100000-1", filepath.Join(store, "failover", "latest"))
	os.Symlink(filepath.Join("failover", "20260101T100000-1"), filepath.Join(store, "latest"))
	os.MkdirAll(filepath.Join(store, "empty", "not-a-run"), 0o755)

	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	txt := text(page)
	mustContain(t, "the index", txt,
		"3 runs, newest first",
		"2026-01-02 10:00:00 UTC nonlinear 20260102T100000-2 anomalies found not met 4",
		"2026-01-01 10:00:00 UTC failover 20260101T100000-1 anomalies found as expected 95",
		"2025-12-31 23:59:59 UTC smoke 20251231T235959-3 not checked",
	)
	mustContain(t, "the index", page, `href="failover/20260101T100000-1/index.html"`, `href="nonlinear/20260102T100000-2/"`)
	if i, j := strings.Index(txt, "20260102T100000-2"), strings.Index(txt, "20260101T100000-1"); i > j {
		t.Error("runs are not newest first")
	}
	if strings.Count(page, "20260101T100000-1</a>") != 1 {
		t.Error("a run reached through latest is listed twice")
	}
}

// gzipHistory replaces dir's history.jsonl with history.jsonl.gz, as a
// soak with --gzip-history leaves it.
func gzipHistory(t *testing.T, dir string) {
	t.Helper()
	plain := filepath.Join(dir, history.File)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, history.GzipFile), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(plain); err != nil {
		t.Fatal(err)
	}
}

// TestWriteGzipped: a run dir with history.jsonl.gz gets the page of the
// same run with history.jsonl, but for the link to the history; the store
// index lists a run that has nothing else; a gzip stream cut short is an
// error that says so.
func TestWriteGzipped(t *testing.T) {
	plainDir := runDir(t, "lost-write")
	gzDir := runDir(t, "lost-write")
	gzipHistory(t, gzDir)
	plain := writePage(t, plainDir)
	gz := writePage(t, gzDir)
	mustContain(t, "the gzipped run's page", gz, `href="history.jsonl.gz"`)
	if strings.Contains(gz, `href="history.jsonl"`) {
		t.Error("the gzipped run's page links to a history.jsonl it does not have")
	}
	norm := strings.NewReplacer(resolve(gzDir), resolve(plainDir), "history.jsonl.gz", "history.jsonl", ", gzipped", "").Replace(gz)
	if norm != plain {
		t.Error("the gzipped run's page differs from the plain one's beyond the history's link")
	}
	for _, p := range allPlots {
		a, errA := os.ReadFile(filepath.Join(plainDir, p))
		b, errB := os.ReadFile(filepath.Join(gzDir, p))
		if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
			t.Errorf("plot %s differs (%v, %v)", p, errA, errB)
		}
	}

	// A history whose last line was cut (the run died), then gzipped:
	// the page warns about that line, naming the gzipped file.
	cut := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "lost-write", history.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cut, history.File), append(b, `{"index":99999,"time":1,"pro`...), 0o644); err != nil {
		t.Fatal(err)
	}
	gzipHistory(t, cut)
	mustContain(t, "the page of a gzipped cut history", text(writePage(t, cut)), "history.jsonl.gz: line")

	// The store index lists a run dir that holds only its gzipped history.
	store := t.TempDir()
	run := filepath.Join(store, "smoke", "20260101T000000-1")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(cut, history.GzipFile), filepath.Join(run, history.GzipFile)); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(store, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the index", text(string(idx)), "1 runs, newest first", "smoke 20260101T000000-1 not checked")

	// A gzip stream cut short.
	full, err := os.ReadFile(filepath.Join(gzDir, history.GzipFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gzDir, history.GzipFile), full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(gzDir); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("Write of a cut gzip stream: %v", err)
	}
}

// TestBackendThatRan: a run asked for --backend auto; the page names the
// backend and image that ran, from results.json's "server" (server.json
// for a run never judged), not scenario.yaml's "auto".
func TestBackendThatRan(t *testing.T) {
	dir := runDir(t, "lost-write")
	yml, err := os.ReadFile(filepath.Join(dir, ScenarioFile))
	if err != nil {
		t.Fatal(err)
	}
	yml = bytes.Replace(yml, []byte("backend: local"), []byte("backend: auto"), 1)
	if err := os.WriteFile(filepath.Join(dir, ScenarioFile), yml, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := `{"backend":"docker","image":"redis-harness-node:7.0.15","server":"redis","version":"7.0.15","label":"Redis 7.0.15"}`
	res, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	res = bytes.Replace(res, []byte(`"valid":`), []byte(`"server": `+rec+`, "valid":`), 1)
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), res, 0o644); err != nil {
		t.Fatal(err)
	}
	txt := text(writePage(t, dir))
	mustContain(t, "the page", txt, "backend docker", "image redis-harness-node:7.0.15", "server Redis 7.0.15")
	if strings.Contains(txt, "backend auto") {
		t.Error(`the page says "backend auto", not the backend that ran`)
	}

	// Never judged: the dir's server.json says it.
	os.Remove(filepath.Join(dir, ResultsFile))
	if err := os.WriteFile(filepath.Join(dir, checker.ServerFile), []byte(strings.Replace(rec, "docker", "local", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the page of a run never judged", text(writePage(t, dir)), "backend local")
}
