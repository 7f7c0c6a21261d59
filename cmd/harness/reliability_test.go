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
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
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

// TestConcurrencyMessagesAgree: --concurrency out of range, at either end,
// is refused with one message that states the whole range.
func TestConcurrencyMessagesAgree(t *testing.T) {
	for _, n := range []string{"0", "-1", "10001", "100000"} {
		code, _, stderr := harness(t, t.TempDir(), "run", "smoke", "--concurrency", n, "--store", t.TempDir())
		if want := "--concurrency " + n + ": want 1 to 10000 workers"; code != exitHarness || !strings.Contains(stderr, want) {
			t.Errorf("--concurrency %s: exit %d %q, want %q", n, code, stderr, want)
		}
	}
	for _, n := range []string{"0", "-3"} {
		code, _, stderr := harness(t, t.TempDir(), "run", "smoke", "--ops-per-key", n, "--store", t.TempDir())
		if code != exitHarness || !strings.Contains(stderr, "--ops-per-key "+n+": want at least 1") {
			t.Errorf("--ops-per-key %s: exit %d %q", n, code, stderr)
		}
	}
	// The top of the range passes the flag checks: the run is then refused
	// for its fault target, before anything starts.
	code, _, stderr := harness(t, t.TempDir(), "run", "smoke", "--concurrency", "10000", "--ops-per-key", "10000", "--nemesis", "pause@n99", "--time-limit", "30s", "--store", t.TempDir())
	if code != exitHarness || strings.Contains(stderr, "concurrency") || !strings.Contains(stderr, `no node "n99"`) {
		t.Errorf("--concurrency 10000: exit %d %q", code, stderr)
	}
}

// TestStatusByNameWhenNoNodeAnswers: cluster status --name of a cluster
// none of whose nodes answers exits 3, as --addr to it does.
func TestStatusByNameWhenNoNodeAnswers(t *testing.T) {
	state := t.TempDir()
	c := &topology.Cluster{Name: "gone", Backend: "local", Spec: topology.Spec{Name: "gone", Masters: 3}}
	for i := 1; i <= 3; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", i), Host: "127.0.0.1"})
	}
	if err := (topology.Store{Dir: state}).Save(c); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"cluster", "status", "--name", "gone"}, {"cluster", "status", "--name", "gone", "--json"}, {"cluster", "status", "--addr", "127.0.0.1:1"}} {
		code, _, stderr := harness(t, state, args...)
		if code != exitHarness || stderr == "" {
			t.Errorf("%v: exit %d %q, want %d", args, code, stderr, exitHarness)
		}
	}
}

// notifyWriter is a progress writer that closes seen once a line with
// want has been written.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// started reports whether a run's local cluster under store has every
// node started: the backend records their pids once they all answer.
func started(store string) bool {
	recs, _ := filepath.Glob(filepath.Join(store, "*", "*", "state", "clusters", "*", "cluster.json"))
	for _, r := range recs {
		var c topology.Cluster
		if b, err := os.ReadFile(r); err != nil || json.Unmarshal(b, &c) != nil || len(c.Nodes) == 0 {
			continue
		}
		all := true
		for _, n := range c.Nodes {
			all = all && n.PID > 0
		}
		if all {
			return true
		}
	}
	return false
}

// TestInterruptDuringProvisioning: a signal while the cluster is being
// made (its nodes starting; the cluster forming and waiting for health)
// says interrupted, not that the cluster never became healthy, and leaves
// no server behind.
func TestInterruptDuringProvisioning(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	for _, phase := range []string{"starting", "forming"} {
		t.Run(phase, func(t *testing.T) {
			store, err := filepath.Abs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &notifyWriter{want: "backend: local", seen: make(chan struct{})}
			var errb bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"harness", "--state-dir", t.TempDir(), "run", "smoke", "--backend", "local", "--store", store}, out, &errb)
			}()
			select {
			case <-out.seen:
			case code := <-done:
				t.Fatalf("the run ended before provisioning: exit %d\n%s\n%s", code, out.String(), errb.String())
			}
			if phase == "forming" {
				// Every node started (the record names their pids): the
				// cluster is being formed now.
				for deadline := time.Now().Add(time.Minute); !started(store) && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
			}
			cancel()
			code := <-done
			stderr := errb.String()
			t.Logf("%s", stderr)
			if code != exitHarness || !strings.Contains(stderr, "interrupted") || strings.Contains(stderr, "never became healthy") || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant 3, interrupted, in at most two lines", code, stderr)
			}
			assertNoServers(t, store)
		})
	}
}
