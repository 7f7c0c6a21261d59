package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology/netfilter"
	"github.com/redis-harness/harness/topology/ssh"
)

// TestAgentWords: the words the ssh backend starts its agent with reach
// the hidden command as they were built (no flag reordering parts them),
// read back the same; bad words exit 3; as root, the probe binds a queue.
func TestAgentWords(t *testing.T) {
	a := ssh.AgentArgs{Dir: ssh.Root + "/c-0123456789", Node: "n3", Base: 32256, Impairment: netfilter.Impairment{Delay: time.Millisecond, Loss: 1}, Probe: true}
	args := append([]string{"harness"}, a.Args()...)
	if got := interspersed(newApp(&bytes.Buffer{}, &bytes.Buffer{}), args); !slices.Equal(got, args) {
		t.Errorf("interspersed changed the agent's words:\n got %q\nwant %q", got, args)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"harness", "agent", "delay-line", "--loss=200"}, &out, &errOut); code != exitHarness || !strings.Contains(errOut.String(), "not a valid impairment") {
		t.Errorf("bad words: exit %d, %q", code, errOut.String())
	}
	if os.Geteuid() != 0 {
		t.Log("not root: the probe, which binds a queue, is not run")
		return
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), args, &out, &errOut); code != exitValid || strings.TrimSpace(out.String()) != "ok" {
		t.Errorf("probe: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
