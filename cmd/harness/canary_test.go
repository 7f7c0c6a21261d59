package main

import (
	"strings"
	"testing"
)

// TestCanaryUnavailableAndBadInput: where redis-server is absent the canary
// says so, and exits 0 only when told to skip as the tests do; bad flags
// are exit 3 with one line.
func TestCanaryUnavailableAndBadInput(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server on it
	code, out, stderr := harness(t, t.TempDir(), "canary", "--skip-unavailable")
	if code != exitValid || !strings.Contains(out, "canary: skipped: redis-server is not installed") {
		t.Errorf("--skip-unavailable without redis-server: exit %d %q %q", code, out, stderr)
	}
	code, _, stderr = harness(t, t.TempDir(), "canary")
	if code != exitHarness || !strings.Contains(stderr, "redis-server is not installed") {
		t.Errorf("without redis-server: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{{"canary", "--backend", "auto"}, {"canary", "--time-limit", "0s"}, {"canary", "extra"}} {
		if code, _, stderr := harness(t, t.TempDir(), args...); code != exitHarness || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
}
