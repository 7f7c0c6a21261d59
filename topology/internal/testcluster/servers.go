package testcluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
)

// MatrixServers are the fetched builds the integration tests run on
// besides the host's redis-server.
var MatrixServers = []string{"redis-8.0.2", "valkey-8.1.1"}

// Server returns the named build from the default state dir, fetching
// it there first when it is missing (.ci/run fetches them beforehand, so
// that tests find them cached). It skips, saying why, when the build
// cannot be had here.
func Server(t *testing.T, name string) topology.Server {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping on %s in -short mode", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sv := topology.Servers{Dir: topology.ServersDir(topology.DefaultStateDir())}
	s, err := sv.Fetch(ctx, name, topology.FetchOptions{})
	if err != nil {
		t.Skipf("skipping on %s: the build cannot be fetched here: %v", name, err)
	}
	return s
}

// CLICheck runs the build's own `<kind>-cli --cluster check` and wants it
// to agree with the harness: every slot covered, nothing open.
func CLICheck(t *testing.T, s topology.Server, addr string) {
	t.Helper()
	cmd, err := s.CLICommand("--cluster", "check", addr)
	if err != nil {
		t.Logf("not cross-checking with the CLI: %v", err)
		return
	}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil || !strings.Contains(text, "[OK] All 16384 slots covered.") ||
		strings.Contains(text, "[ERR]") || strings.Contains(text, "[WARNING]") {
		t.Errorf("%s-cli --cluster check %s: %v\n%s", s.Kind, addr, err, text)
	}
}
