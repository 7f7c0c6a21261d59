package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyRun copies a run dir of reports' testdata into a temp dir; with
// gzipped, its history.jsonl becomes history.jsonl.gz, as soak
// --gzip-history leaves it.
func copyRun(t *testing.T, name string, gzipped bool) string {
	t.Helper()
	src := filepath.Join("..", "..", "reports", "testdata", name)
	dst := filepath.Join(t.TempDir(), name)
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
		if gzipped && rel == "history.jsonl" {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			if err := zw.Close(); err != nil {
				return err
			}
			to, b = to+".gz", buf.Bytes()
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestCheckAndReportGzipped: check and report take a run dir whose history
// was gzipped as they take the plain one.
func TestCheckAndReportGzipped(t *testing.T) {
	plain := copyRun(t, "lost-write", false)
	gz := copyRun(t, "lost-write", true)
	if _, err := os.Stat(filepath.Join(gz, "history.jsonl")); err == nil {
		t.Fatal("the gzipped copy has a history.jsonl")
	}
	codeP, outP, errP := harness(t, t.TempDir(), "check", plain)
	codeG, outG, errG := harness(t, t.TempDir(), "check", gz)
	if codeP != exitValid || !strings.Contains(outP, "set            invalid") {
		t.Fatalf("check of the plain run: exit %d\n%s\n%s", codeP, outP, errP)
	}
	if codeG != codeP || strings.ReplaceAll(outG, gz, plain) != outP {
		t.Errorf("check of the gzipped run: exit %d\n%s\n%s\nwant exit %d\n%s", codeG, outG, errG, codeP, outP)
	}
	// check writes the page from the records it has just loaded.
	if page, err := os.ReadFile(filepath.Join(gz, "index.html")); err != nil || !strings.Contains(string(page), `href="history.jsonl.gz"`) {
		t.Errorf("after check, the gzipped run's page does not link to history.jsonl.gz (%v)", err)
	}
	for _, dir := range []string{plain, gz} {
		code, out, stderr := harness(t, t.TempDir(), "report", dir)
		if code != 0 || !strings.Contains(out, filepath.Join(dir, "index.html")) {
			t.Errorf("report %s: exit %d\n%s\n%s", dir, code, out, stderr)
		}
	}
	page, err := os.ReadFile(filepath.Join(gz, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `href="history.jsonl.gz"`) {
		t.Error("the gzipped run's page does not link to history.jsonl.gz")
	}

	// A gzip stream cut short: exit 3, and the one line says so.
	b, err := os.ReadFile(filepath.Join(gz, "history.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gz, "history.jsonl.gz"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "report"} {
		if code, _, stderr := harness(t, t.TempDir(), cmd, gz); code != exitHarness || !strings.Contains(stderr, "history.jsonl.gz") || !strings.Contains(stderr, "cut short") {
			t.Errorf("%s of a cut gzip stream: exit %d %q", cmd, code, stderr)
		}
	}
	// Neither file: the usage error names both.
	if code, _, stderr := harness(t, t.TempDir(), "report", t.TempDir()); code != exitHarness || !strings.Contains(stderr, "no history.jsonl (or history.jsonl.gz)") {
		t.Errorf("report of an empty dir: exit %d %q", code, stderr)
	}
}

// TestCheckMemoryFlag: --check-memory (or HARNESS_CHECK_MEMORY) sets the
// linearizability search's memory ceiling in results.json; a size that is
// no size is exit 3 with a line saying so.
func TestCheckMemoryFlag(t *testing.T) {
	dir := copyRun(t, "nonlinear", false)
	// The fixture's fault has no heal record, which makes the run read as
	// killed mid-fault (interrupted); a finished run heals it.
	f, err := os.OpenFile(filepath.Join(dir, "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(`{"index":9,"time":950000000,"process":-1,"type":"info","f":"heal","value":{"action":0,"heal":true}}` + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := harness(t, t.TempDir(), "check", dir, "--check-memory", "768MiB")
	if code != exitInvalid {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"memory_ceiling": 805306368`) || !strings.Contains(string(b), `"witness": [`) {
		t.Errorf("results.json lacks the ceiling of 768MiB or a witness:\n%s", b)
	}
	t.Setenv("HARNESS_CHECK_MEMORY", "lots")
	code, _, errOut = harness(t, t.TempDir(), "check", dir)
	if code != exitHarness || !strings.Contains(errOut, "--check-memory") {
		t.Errorf("HARNESS_CHECK_MEMORY=lots: exit %d: %s", code, errOut)
	}
}
