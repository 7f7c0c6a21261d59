package scenarios

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/reports"
)

// compressors runs fn with the system's gzip (skipped without one) and with
// no gzip on PATH (in-process).
func compressors(t *testing.T, fn func(t *testing.T, via string)) {
	t.Run("system gzip", func(t *testing.T) {
		if _, err := exec.LookPath("gzip"); err != nil {
			t.Skip("skipping: no gzip on PATH (apt-get install gzip)")
		}
		fn(t, "gzip -1")
	})
	t.Run("in-process", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		fn(t, "in-process")
	})
}

// gunzipFile is the plain bytes of the gzip file at path.
func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertWhole: dir's history is in exactly the one file it should be, with
// want's bytes, and no temporary is left.
func assertWhole(t *testing.T, dir string, want []byte, gzipped bool) {
	t.Helper()
	plain := filepath.Join(dir, history.File)
	gz := filepath.Join(dir, history.GzipFile)
	_, plainErr := os.Stat(plain)
	_, gzErr := os.Stat(gz)
	switch {
	case gzipped && (plainErr == nil || gzErr != nil):
		t.Errorf("%s: want only %s: %v / %v", dir, history.GzipFile, plainErr, gzErr)
	case gzipped:
		if got := gunzipFile(t, gz); !bytes.Equal(got, want) {
			t.Errorf("%s: gzipped history of %d bytes, want %d", dir, len(got), len(want))
		}
	case plainErr != nil || gzErr == nil:
		t.Errorf("%s: want only %s: %v / %v", dir, history.File, plainErr, gzErr)
	default:
		if got, err := os.ReadFile(plain); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: history.jsonl of %d bytes (%v), want %d", dir, len(got), err, len(want))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, gzipTemp)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: the temporary is left: %v", dir, err)
	}
}

func TestGzipHistory(t *testing.T) {
	compressors(t, func(t *testing.T, via string) {
		dir := t.TempDir()
		data := fakeHistory(50)
		if err := os.WriteFile(filepath.Join(dir, history.File), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A temporary left by a compression that was killed.
		if err := os.WriteFile(filepath.Join(dir, gzipTemp), []byte("half a gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := GzipHistory(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, history.GzipFile))
		if err != nil {
			t.Fatal(err)
		}
		if res.Via != via || res.Plain != int64(len(data)) || res.Gz != st.Size() || res.Gz >= res.Plain/4 {
			t.Errorf("result %+v, want via %s, %d bytes → %d", res, via, len(data), st.Size())
		}
		assertWhole(t, dir, data, true)
	})
}

// TestGzipHistoryInterrupted: a compression stopped by its context keeps
// history.jsonl whole and leaves no gzip file, not even a temporary.
func TestGzipHistoryInterrupted(t *testing.T) {
	compressors(t, func(t *testing.T, via string) {
		dir := t.TempDir()
		data := fakeHistory(50)
		if err := os.WriteFile(filepath.Join(dir, history.File), data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := GzipHistory(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "history.jsonl kept") {
			t.Errorf("error %v", err)
		}
		assertWhole(t, dir, data, false)
	})
}

func readSoakJSON(t *testing.T, store string) reports.Soak {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, reports.SoakJSON))
	if err != nil {
		t.Fatal(err)
	}
	var s reports.Soak
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSoakGzipHistory: with GzipHistory every run dir ends with only a
// history.jsonl.gz of the same bytes, and soak.json has both sizes; a
// history that cannot be compressed is kept, its error recorded and said,
// and its run's verdict stands.
func TestSoakGzipHistory(t *testing.T) {
	compressors(t, func(t *testing.T, via string) {
		store := t.TempDir()
		f := &fakeRuns{kind: func(n int, _ *Scenario) string {
			switch n {
			case 2:
				return "badhistory"
			case 3:
				return "anomaly"
			}
			return "valid"
		}}
		var progress strings.Builder
		sum, err := Soak(context.Background(), SoakOptions{
			Scenarios: []*Scenario{scen("a", nil)}, Count: 4, GzipHistory: true,
			Run: Options{Store: store}, RunFunc: f.run, Progress: &progress,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(progress.String())
		if sum.Code != 1 || len(sum.Runs) != 4 {
			t.Fatalf("code %d, %d runs", sum.Code, len(sum.Runs))
		}
		s := readSoakJSON(t, store)
		for i, r := range s.Runs {
			n := i + 1
			if n == 2 {
				if r.GzipError == "" || r.HistoryGzBytes != 0 || r.HistoryBytes == 0 || r.Status != reports.SoakValid || r.Code != 0 {
					t.Errorf("run 2 (history not compressible): %+v", r)
				}
				if !strings.Contains(progress.String(), "soak:   run 2: gzip history") || !strings.Contains(progress.String(), "its verdict stands") {
					t.Errorf("the progress does not say run 2's history was not compressed:\n%s", progress.String())
				}
				continue
			}
			dir := filepath.Join(store, filepath.FromSlash(r.Dir))
			want := fakeHistory(n)
			assertWhole(t, dir, want, true)
			st, err := os.Stat(filepath.Join(dir, history.GzipFile))
			if err != nil {
				t.Fatal(err)
			}
			if r.HistoryBytes != int64(len(want)) || r.HistoryGzBytes != st.Size() || r.GzipError != "" {
				t.Errorf("run %d: history %d → %d bytes, error %q; want %d → %d", n, r.HistoryBytes, r.HistoryGzBytes, r.GzipError, len(want), st.Size())
			}
			if !strings.Contains(progress.String(), fmt.Sprintf("soak:   run %d: history gzipped (%s)", n, via)) {
				t.Errorf("the progress does not say run %d's history was gzipped by %s:\n%s", n, via, progress.String())
			}
		}
		if s.Runs[2].Status != reports.SoakInvalid {
			t.Errorf("run 3: %+v", s.Runs[2])
		}
	})
}

// TestSoakGzipHistoryInterrupted: whenever the soak is interrupted, every
// run's history is whole in one file, and no temporary is left.
func TestSoakGzipHistoryInterrupted(t *testing.T) {
	compressors(t, func(t *testing.T, via string) {
		store := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &fakeRuns{kind: func(n int, _ *Scenario) string {
			if n == 3 {
				cancel()
			}
			return "valid"
		}}
		sum, err := Soak(ctx, SoakOptions{
			Scenarios: []*Scenario{scen("a", nil)}, Count: 5, GzipHistory: true,
			Run: Options{Store: store}, RunFunc: f.run,
		})
		if !IsHarnessError(err) || len(sum.Runs) != 3 || sum.Stopped != "interrupted" {
			t.Fatalf("err %v, %d runs, stopped %q", err, len(sum.Runs), sum.Stopped)
		}
		s := readSoakJSON(t, store)
		for i, r := range s.Runs {
			gzipped := r.HistoryGzBytes > 0
			if !gzipped && i < 2 && r.GzipError == "" {
				t.Errorf("run %d: neither compressed nor an error: %+v", i+1, r)
			}
			assertWhole(t, filepath.Join(store, filepath.FromSlash(r.Dir)), fakeHistory(i+1), gzipped)
		}
	})
}
