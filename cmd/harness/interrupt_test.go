package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stoppedServers lists the redis-servers running under dir that are
// stopped (SIGSTOP: state T in /proc/<pid>/stat).
func stoppedServers(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		cwd, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(cwd, dir) {
			continue
		}
		stat, err := os.ReadFile(strings.TrimSuffix(p, "cwd") + "stat")
		if err != nil {
			continue
		}
		// pid (comm) state …: the state follows the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'T' {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/cwd")+" in "+cwd)
		}
	}
	return out
}

// TestInterruptDuringPauseHealsFirst reproduces Ctrl-C during pause-master
// on a real local cluster (the context main's signal.NotifyContext
// cancels on SIGINT and SIGTERM, cancelled while the master is paused):
// after the run no node is stopped, the heal is in history.jsonl, the run
// dir says why it stopped, and harness check judges it unknown,
// interrupted — not invalid. The time from the signal to the node's
// resumption is logged, not asserted.
func TestInterruptDuringPauseHealsFirst(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	store, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"harness", "--state-dir", t.TempDir(), "run", "pause-master", "--backend", "local", "--store", store, "--keep", "--time-limit", "40s"}, &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	// Wait for the pause to be in effect (due 5 s in), as a stopped process.
	deadline := time.Now().Add(2 * time.Minute)
	var stopped []string
	for len(stopped) == 0 {
		select {
		case r := <-done:
			t.Fatalf("the run ended before the pause: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no node was paused within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
		stopped = stoppedServers(store)
	}
	time.Sleep(500 * time.Millisecond) // the clients are blocked on it by now
	signal := time.Now()
	cancel()
	for len(stoppedServers(store)) > 0 && time.Since(signal) < time.Minute {
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("paused node %v resumed %s after the signal", stopped, time.Since(signal).Round(time.Millisecond))
	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the run did not return within 3 minutes of the signal")
	}
	t.Logf("the run returned %s after the signal", time.Since(signal).Round(time.Millisecond))
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	// The cluster was kept: take it down after the checks.
	clusters, _ := filepath.Glob(filepath.Join(dir, "state", "clusters", "*"))
	for _, c := range clusters {
		t.Cleanup(func() { harness(t, filepath.Join(dir, "state"), "cluster", "down", "--name", filepath.Base(c)) })
	}
	if r.code != exitHarness || !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("run: exit %d, stderr %q; want %d, interrupted", r.code, r.stderr, exitHarness)
	}
	if left := stoppedServers(store); len(left) > 0 {
		t.Errorf("nodes still stopped after the run: %v", left)
	}
	hist, err := os.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	injected, healed := false, false
	for _, line := range strings.Split(string(hist), "\n") {
		if !strings.Contains(line, `"process":-1`) {
			continue
		}
		var op struct {
			F     string         `json:"f"`
			Error string         `json:"error"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &op); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if op.F == "pause" && op.Error == "" {
			if op.Value["heal"] == true {
				healed = true
			} else {
				injected = true
			}
		}
	}
	if !injected || !healed {
		t.Errorf("history.jsonl: pause in effect %v, healed %v; want both recorded", injected, healed)
	}
	var it struct {
		Reason string `json:"reason"`
		Healed bool   `json:"healed"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "interrupted.json")); err != nil || json.Unmarshal(b, &it) != nil || !it.Healed || !strings.Contains(it.Reason, "signal") {
		t.Errorf("interrupted.json: %+v, %v", it, err)
	}
	code, out, stderr := harness(t, t.TempDir(), "check", dir)
	if code != exitUnknown || !strings.Contains(out, "unknown, interrupted") {
		t.Errorf("check of the interrupted run: exit %d, want %d (unknown, interrupted)\n%s\n%s", code, exitUnknown, out, stderr)
	}
	var res struct {
		Valid       any    `json:"valid"`
		Interrupted bool   `json:"interrupted"`
		Reason      string `json:"interrupted_reason"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "results.json")); err != nil || json.Unmarshal(b, &res) != nil || res.Valid != "unknown" || !res.Interrupted || res.Reason == "" {
		t.Errorf("results.json: %+v, %v", res, err)
	}
}

// TestFailedInjectIsAHarnessError: a fault that cannot act during the run
// (a failover on a cluster without replicas) ends the run with exit 3 and
// one line naming the action, never a verdict; check then says unknown,
// interrupted.
func TestFailedInjectIsAHarnessError(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	store := t.TempDir()
	file := filepath.Join(t.TempDir(), "failover-no-replica.yaml")
	os.WriteFile(file, []byte(`name: failover-no-replica
cluster: {masters: 3, replicas: 0}
time_limit: 20s
client: {workloads: [{name: register}]}
nemesis:
  timeline:
    - {at: 2s, do: failover, target: primary}
`), 0o644)
	code, out, stderr := harness(t, t.TempDir(), "run", file, "--backend", "local", "--store", store)
	want := "nemesis action 1 (failover primary at 2s (mode=default timeout=30s)) failed: "
	if code != exitHarness || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Fatalf("run: exit %d, want %d and one line with %q\n%s\n%s", code, exitHarness, want, out, stderr)
	}
	if strings.Contains(out, ": valid") {
		t.Errorf("a run whose fault never happened was reported valid:\n%s", out)
	}
	dir, _ := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if code, out, _ := harness(t, t.TempDir(), "check", dir); code != exitUnknown || !strings.Contains(out, "failover primary at 2s") {
		t.Errorf("check: exit %d, want %d naming the action\n%s", code, exitUnknown, out)
	}
}

// TestBadTargetRefusedBeforeAnything: a fault target no node will have, by
// flag or in a scenario file, is refused at once with exit 3 naming the
// action, before a run dir or a cluster is made.
func TestBadTargetRefusedBeforeAnything(t *testing.T) {
	file := filepath.Join(t.TempDir(), "n99.yaml")
	os.WriteFile(file, []byte(`name: n99
time_limit: 20s
client: {workloads: [{name: register}]}
nemesis:
  timeline:
    - {at: 2s, for: 2s, do: pause, target: n99}
`), 0o644)
	for _, args := range [][]string{
		{"run", "smoke", "--nemesis", "pause@n99", "--time-limit", "30s"},
		{"run", "smoke", "--nemesis", "partition@nosuchtarget", "--time-limit", "30s"},
		{"run", file},
	} {
		store := t.TempDir()
		code, out, stderr := harness(t, t.TempDir(), append(args, "--backend", "local", "--store", store)...)
		if code != exitHarness || !strings.Contains(stderr, "nemesis action 1") || !strings.Contains(stderr, "no node") {
			t.Errorf("%v: exit %d, want %d naming the action and the node\n%s\n%s", args, code, exitHarness, out, stderr)
		}
		if entries, _ := os.ReadDir(store); len(entries) > 0 {
			t.Errorf("%v: the refused run left %v in the store", args, entries)
		}
	}
}

// TestAddrWithoutClusterLeavesNoRunDir: --addr where no cluster answers (a
// closed port; a Redis without cluster mode) exits 3 and makes no run dir,
// so latest still points at the last real run.
func TestAddrWithoutClusterLeavesNoRunDir(t *testing.T) {
	addrs := []string{"127.0.0.1:1"}
	if path, err := exec.LookPath("redis-server"); err == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		srv := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for i := 0; i < 200; i++ {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		addrs = append(addrs, addr)
	} else {
		t.Log("redis-server not installed: the non-cluster Redis case is not tried")
	}
	for _, addr := range addrs {
		store := t.TempDir()
		code, _, stderr := harness(t, t.TempDir(), "run", "smoke", "--addr", addr, "--store", store)
		if code != exitHarness || !strings.Contains(stderr, "--addr "+addr) {
			t.Errorf("--addr %s: exit %d %q", addr, code, stderr)
		}
		if entries, _ := os.ReadDir(store); len(entries) > 0 {
			t.Errorf("--addr %s: left %v in the store", addr, entries)
		}
	}
}
