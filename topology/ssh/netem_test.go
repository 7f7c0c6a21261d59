package ssh

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/netfilter"
)

// TestMain lets this test binary, uploaded to the hosts as the backend's
// agent (it is the running executable), serve `agent delay-line` as the
// harness binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == agentWords[0] && os.Args[2] == agentWords[1] {
		a, err := ParseAgentArgs(os.Args[3:])
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			err = ServeDelayLine(ctx, a, os.Stdin, os.Stdout)
			stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAgentArgs: the words the backend builds read back the same, also
// from a process list line; malformed ones are refused.
func TestAgentArgs(t *testing.T) {
	a := AgentArgs{Dir: Root + "/t-x-0a1b2c3d4e", Node: "n2", Base: 21064, Impairment: netfilter.Impairment{Delay: 80 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 2.5}}
	got, err := ParseAgentArgs(a.Args()[2:])
	if err != nil || got != a {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, a)
	}
	line := "4242\t" + AgentPrefix + "0123456789abcdef\t" + strings.Join(a.Args(), "\t") + "\t\n" +
		"17\t/usr/bin/sudo\t-n\t" + AgentPrefix + "0123456789abcdef\t" + strings.Join(a.Args(), "\t") + "\n" +
		"18\t" + AgentPrefix + "x\tagent\tdelay-line\t--bogus\n"
	ps := parseAgentProcs(line)
	if len(ps) != 1 || ps[0].PID != 4242 || ps[0].AgentArgs != a {
		t.Errorf("parseAgentProcs: %+v", ps)
	}
	for _, bad := range [][]string{{"--loss=101"}, {"--base=70000"}, {"--delay=-1s"}, {"extra"}, {"--nope=1"}} {
		if _, err := ParseAgentArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// agentsOf lists the agents of c running on this machine (the hosts are
// this machine).
func agentsOf(t *testing.T, b *Backend, c *topology.Cluster) []agentProc {
	t.Helper()
	ps, err := b.pool.agentProcs(context.Background(), b.Inv.Hosts[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []agentProc
	for _, p := range ps {
		if p.Dir == RemoteDir(c) {
			out = append(out, p)
		}
	}
	return out
}

// removeAgentBinary removes, when the test ends, the agent binary it
// uploaded (this test binary): each build has its own.
func removeAgentBinary(t *testing.T, b *Backend) {
	_, hash, err := b.agents.self()
	if err != nil {
		t.Fatal(err)
	}
	path := AgentPrefix + hash
	if _, err := os.Stat(path); err == nil {
		return // there before: not this test's
	}
	t.Cleanup(func() { os.Remove(path) })
}

// assertNoQueueRule fails when iptables still hands packets to a queue for
// one of c's nodes.
func assertNoQueueRule(t *testing.T, c *topology.Cluster) {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "5", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S: %v: %s", err, out)
	}
	for _, n := range c.Nodes {
		m, _ := nodeMatch(n)
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, m+" -j NFQUEUE") {
				t.Errorf("a queue rule for %s is left: %s", n.Name, l)
			}
		}
	}
}

// TestSSHNetem runs the shared netem scenario on the ssh backend: the
// harness's delay line, run on the node's host as an agent, delays that
// node only; after clear and heal no agent and no queue rule is left.
func TestSSHNetem(t *testing.T) {
	testcluster.NeedRoot(t)
	b, _ := sshBackend(t, 3)
	removeAgentBinary(t, b)
	if err := b.CanFault(topology.AbilityNetem); err != nil {
		t.Fatalf("CanFault(netem) on hosts that are this machine: %v", err)
	}
	r := sshRig(t, b, "netem", 3, 0)
	testcluster.Netem(t, r)
	if left := agentsOf(t, b, r.C); len(left) > 0 {
		t.Errorf("agents still run after HealNetwork: %+v", left)
	}
	if left := b.agents.take(""); len(left) > 0 {
		t.Errorf("the backend still holds %d agents", len(left))
	}
	assertNoQueueRule(t, r.C)
}

// TestSSHNetemAgentEnds: an agent whose harness is gone (its SSH
// connection closed, as when the harness is killed) ends by itself; one
// left by another harness is found and stopped by cleanup, and by
// HealNetwork.
func TestSSHNetemAgentEnds(t *testing.T) {
	testcluster.NeedRoot(t)
	b, _ := sshBackend(t, 3)
	removeAgentBinary(t, b)
	ctx := context.Background()
	c, err := b.Up(ctx, topology.Spec{Name: fmt.Sprintf("t-agent-%d", os.Getpid()), Masters: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Down(context.Background(), c) })
	if err := b.Netem(ctx, c, "n1", topology.NetemSpec{Delay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := agentsOf(t, b, c); len(got) != 1 || got[0].Node != "n1" {
		t.Fatalf("agents after netem on n1: %+v", got)
	}
	b.pool.close() // the harness's connections die
	waitAgents(t, b, c, 0, "after its SSH connection closed")
	b.agents.take("")

	// Two more, as a killed harness would leave them (its connections
	// kept open here, so only cleanup ends them).
	for _, n := range []string{"n2", "n3"} {
		if err := b.Netem(ctx, c, n, topology.NetemSpec{Delay: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	b.agents.take("") // forgotten: only their processes know them
	dry, err := Cleanup(ctx, b.Inv, b.Store, c.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]bool{}
	for _, p := range dry.Processes {
		if _, what, _ := strings.Cut(p, ": "); strings.Contains(what, "delay line agent") {
			agents[what] = true
		}
	}
	if len(agents) != 2 {
		t.Errorf("cleanup --dry-run found agents %v, want 2", agents)
	}
	waitAgents(t, b, c, 2, "after a dry run")
	if err := b.HealNetwork(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitAgents(t, b, c, 0, "after HealNetwork")
	assertNoQueueRule(t, c)

	if err := b.Netem(ctx, c, "n2", topology.NetemSpec{Loss: 50}); err != nil {
		t.Fatal(err)
	}
	b.agents.take("")
	if _, err := Cleanup(ctx, b.Inv, b.Store, c.Name, false); err != nil {
		t.Fatal(err)
	}
	waitAgents(t, b, c, 0, "after cleanup")
	b.Store.Remove(c.Name)
	assertNothingLeft(t, b, c)
}

// waitAgents waits (bounded) until want agents of c run.
func waitAgents(t *testing.T, b *Backend, c *topology.Cluster, want int, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := agentsOf(t, b, c)
		if len(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d agents of %s run %s, want %d: %+v", len(got), c.Name, when, want, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
