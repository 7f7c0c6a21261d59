package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis/go-redis/v9"
)

// harness runs the CLI in-process with a private state dir.
func harness(t *testing.T, state string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"harness", "--state-dir", state}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExits3WithOneClearLine(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "up", "--name", "x", "--masters", "2"}, "--masters 2"},
		{[]string{"cluster", "up", "--name", "x", "--replicas", "4"}, "--replicas 4"},
		{[]string{"cluster", "up", "--name", "bad name!"}, "cluster name"},
		{[]string{"cluster", "up", "--name", "x", "--config", "novalue"}, "--config \"novalue\""},
		{[]string{"cluster", "up", "--name", "x", "--config", "port=7000"}, "sets port itself"},
		{[]string{"cluster", "up", "--name", "x", "--backend", "vm"}, "--backend \"vm\""},
		{[]string{"cluster", "up", "--name", "x", "--masters", "three"}, "invalid value"},
		{[]string{"cluster", "up"}, "name"},
		{[]string{"cluster", "up", "--bogus"}, "bogus"},
		{[]string{"cluster", "down", "--name", "nosuch"}, "no such cluster"},
		{[]string{"cluster", "status"}, "--name NAME"},
		{[]string{"cluster", "status", "--name", "a", "--addr", "b:1"}, "not both"},
		{[]string{"cluster", "check", "--addr", "nocolon"}, "HOST:PORT"},
		{[]string{"cluster", "check", "--addr", "127.0.0.1:1"}, "127.0.0.1:1"},
		{[]string{"cluster", "failover", "--addr", "127.0.0.1:1", "--node", "x", "--mode", "gentle"}, "--mode \"gentle\""},
		{[]string{"cluster", "reshard", "--addr", "127.0.0.1:1", "--from", "a", "--to", "b", "--slots", "0"}, "--slots 0"},
		{[]string{"nosuchcommand"}, "nosuchcommand"},
		{[]string{"run", "smoke", "--backend", "vm"}, "--backend \"vm\""},
		{[]string{"run", "nosuch"}, "no scenario \"nosuch\""},
		{[]string{"run", "smoke", "--time-limit", "-1s"}, "--time-limit"},
		{[]string{"run", "smoke", "--workload", "bogus"}, "--workload \"bogus\""},
		{[]string{"check"}, "RUN_DIR"},
		{[]string{"check", "/nonexistent"}, "no history.jsonl"},
		{[]string{"scenarios", "show", "nosuch"}, "nosuch"},
		{[]string{"cluster", "up", "--name", "x", "--server", "redis-9.9"}, "not a known build"},
		{[]string{"cluster", "up", "--name", "x", "--server", "valkey-8.1.1"}, "harness servers fetch valkey-8.1.1"},
		{[]string{"cluster", "up", "--name", "x", "--server", "valkey-8.1.1", "--image", "img:1"}, "give one"},
		{[]string{"servers", "fetch"}, "name the builds"},
		{[]string{"servers", "fetch", "redis-9.9"}, "not a known build"},
		{[]string{"image", "build", "--server", "valkey-8.0.1"}, "harness servers fetch valkey-8.0.1"},
		{[]string{"run", "smoke", "--server", "redis-9.9"}, "not a known build"},
		{[]string{"soak", "--servers", "redis-9.9"}, "not a known build"},
	} {
		code, _, stderr := harness(t, state, tc.args...)
		if code != exitHarness {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, exitHarness, stderr)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, stderr, tc.want)
		}
	}
}

func TestListEmpty(t *testing.T) {
	code, out, _ := harness(t, t.TempDir(), "cluster", "list", "--json")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("exit %d out %q", code, out)
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("not JSON: %v: %q", err, out)
	}
}

// TestLocalClusterLifecycle drives the CLI end to end on the local backend:
// up (JSON contract), check, status, an external view by --addr, down.
func TestLocalClusterLifecycle(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	state := t.TempDir()
	code, out, stderr := harness(t, state, "cluster", "up", "--name", "cli", "--backend", "local", "--config", "cluster-node-timeout=2000", "--json")
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, stderr)
	}
	t.Cleanup(func() { harness(t, state, "cluster", "down", "--name", "cli") })
	if !strings.HasPrefix(stderr, "backend: local") {
		t.Errorf("first line should name the backend: %q", stderr)
	}
	var st struct {
		Name    string `json:"name"`
		Backend string `json:"backend"`
		Healthy bool   `json:"healthy"`
		Nodes   []struct {
			ID       string   `json:"id"`
			Addr     string   `json:"addr"`
			Role     string   `json:"role"`
			MasterID string   `json:"master_id"`
			Slots    [][2]int `json:"slots"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("up --json: %v\n%s", err, out)
	}
	if st.Name != "cli" || st.Backend != "local" || !st.Healthy || len(st.Nodes) != 6 {
		t.Fatalf("up --json: %+v", st)
	}
	masters, slots := 0, 0
	for _, n := range st.Nodes {
		switch n.Role {
		case "master":
			masters++
			for _, r := range n.Slots {
				slots += r[1] - r[0] + 1
			}
		case "replica":
			if n.MasterID == "" {
				t.Errorf("replica %s without master_id", n.Addr)
			}
		default:
			t.Errorf("node %s role %q", n.Addr, n.Role)
		}
	}
	if masters != 3 || slots != 16384 {
		t.Errorf("%d masters own %d slots", masters, slots)
	}
	if code, out, stderr := harness(t, state, "cluster", "check", "--name", "cli"); code != 0 || !strings.Contains(out, "[OK]") {
		t.Errorf("check: exit %d %q %q", code, out, stderr)
	}
	if code, out, _ := harness(t, state, "cluster", "check", "--addr", st.Nodes[0].Addr, "--json"); code != 0 || !strings.Contains(out, `"healthy": true`) {
		t.Errorf("check --addr: exit %d %q", code, out)
	}
	if code, out, _ := harness(t, state, "cluster", "status", "--name", "cli"); code != 0 || !strings.Contains(out, "cluster_state:ok") || strings.Count(out, "replica") < 3 {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if code, out, _ := harness(t, state, "cluster", "list"); code != 0 || !strings.Contains(out, "cli") {
		t.Errorf("list: exit %d %q", code, out)
	}
	// Expecting more replicas than there are is a problem check reports (exit 1).
	if code, out, _ := harness(t, state, "cluster", "check", "--name", "cli", "--replicas", "2"); code != exitInvalid || !strings.Contains(out, "1 of 2 replicas") {
		t.Errorf("check --replicas 2: exit %d %q", code, out)
	}
	// The operations, through the CLI, each verified by check and status.
	var masters3, replicas3 []string
	for _, n := range st.Nodes {
		if n.Role == "master" {
			masters3 = append(masters3, n.ID)
		} else {
			replicas3 = append(replicas3, n.ID)
		}
	}
	mustRun := func(want string, args ...string) string {
		t.Helper()
		code, out, stderr := harness(t, state, args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("%v: exit %d, want %q in\n%s%s", args, code, want, out, stderr)
		}
		return out
	}
	healthy := func() {
		t.Helper()
		mustRun("[OK]", "cluster", "check", "--name", "cli")
	}
	mustRun("moved 10 slots", "cluster", "reshard", "--name", "cli", "--from", masters3[0], "--to", masters3[1], "--slots", "10")
	healthy()
	mustRun("moved 5 slots", "cluster", "reshard", "--addr", st.Nodes[0].Addr, "--from", masters3[1], "--to", masters3[2], "--slots", "5")
	healthy()
	mustRun(">>>", "cluster", "rebalance", "--name", "cli", "--threshold", "0.1")
	healthy()
	mustRun("nothing to fix", "cluster", "fix", "--name", "cli")
	mustRun("is master in every node's view", "cluster", "failover", "--name", "cli", "--node", replicas3[0], "--mode", "takeover")
	healthy()
	out = mustRun(`"id"`, "cluster", "add-node", "--name", "cli", "--replica-of", masters3[2][:10], "--json")
	var added struct{ ID, Addr string }
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.ID == "" {
		t.Fatalf("add-node --json: %v %q", err, out)
	}
	if code, _, stderr := harness(t, state, "cluster", "remove-node", "--name", "cli", "--node", masters3[2]); code != exitHarness || !strings.Contains(stderr, "move them first") {
		t.Errorf("remove-node of a master with slots: exit %d %q", code, stderr)
	}
	mustRun("stopped and its data removed", "cluster", "remove-node", "--name", "cli", "--node", added.ID)
	healthy()
	if code, out, stderr := harness(t, state, "cluster", "down", "--name", "cli"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("down: exit %d %q %q", code, out, stderr)
	}
	// Not by pinging the addresses: other tests on this machine may take
	// them as soon as they are free.
	assertNoServers(t, state)
}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

// TestThirdPartyClientsAgree brings up a cluster on each backend and has
// redis-cli --cluster check, redis-cli -c and redis-benchmark --cluster use
// it; down must leave no process, container or network behind.
func TestThirdPartyClientsAgree(t *testing.T) {
	cliPath, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("skipping: redis-cli not installed (apt-get install redis-tools)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "docker" {
				if err := docker.Available(context.Background()); err != nil {
					t.Skipf("skipping: %v", err)
				}
			}
			state := t.TempDir()
			name := "tp-" + backend
			code, out, stderr := harness(t, state, "cluster", "up", "--name", name, "--backend", backend, "--json")
			if code != 0 {
				t.Fatalf("up: exit %d\n%s", code, stderr)
			}
			t.Cleanup(func() { harness(t, state, "cluster", "down", "--name", name) })
			var st topology.Status
			if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Healthy {
				t.Fatalf("up --json: %v %s", err, out)
			}
			host, port, _ := strings.Cut(st.Nodes[0].Addr, ":")
			run := func(args ...string) string {
				t.Helper()
				b, err := exec.Command(cliPath, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("redis-cli %v: %v\n%s", args, err, b)
				}
				return string(b)
			}
			if out := run("--cluster", "check", st.Nodes[0].Addr); !strings.Contains(out, "[OK] All 16384 slots covered.") || strings.Contains(out, "[WARNING]") {
				t.Errorf("redis-cli --cluster check:\n%s", out)
			}
			for i := 0; i < 20; i++ {
				k := "tp:" + strings.Repeat("x", i)
				run("-c", "-h", host, "-p", port, "set", k, k)
				if got := strings.TrimSpace(run("-c", "-h", host, "-p", port, "get", k)); got != k {
					t.Errorf("redis-cli -c get %s = %q", k, got)
				}
			}
			if bench, err := exec.LookPath("redis-benchmark"); err == nil {
				b, err := exec.Command(bench, "--cluster", "-h", host, "-p", port, "-t", "set,get", "-n", "2000", "-c", "4", "-q").CombinedOutput()
				if err != nil || !strings.Contains(string(b), "requests per second") {
					t.Errorf("redis-benchmark --cluster: %v\n%s", err, b)
				}
			}
			if code, _, stderr := harness(t, state, "cluster", "down", "--name", name); code != 0 {
				t.Fatalf("down: exit %d %s", code, stderr)
			}
			assertNoServers(t, state)
			if backend == "docker" {
				out, _ := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=io.redis-harness.cluster="+name).Output()
				nets, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "label=io.redis-harness.cluster="+name).Output()
				if len(strings.TrimSpace(string(out)+string(nets))) > 0 {
					t.Errorf("down left containers %q / networks %q", out, nets)
				}
			}
		})
	}
}

// TestRunSmokeAndCheck runs the smoke scenario for real on the local
// backend, then re-judges the run dir and a foreign copy of its history.
func TestRunSmokeAndCheck(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	store := t.TempDir()
	code, out, stderr := harness(t, t.TempDir(), "run", "smoke", "--backend", "local", "--time-limit", "4s", "--store", store, "--seed", "42")
	if code != 0 || !strings.Contains(out, "smoke: valid") {
		t.Fatalf("run smoke: exit %d\n%s\n%s", code, out, stderr)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(dir), "20") || !strings.HasSuffix(dir, "-42") || filepath.Base(filepath.Dir(dir)) != "smoke" {
		t.Errorf("run dir %s: want store/smoke/<UTC time>-42", dir)
	}
	for _, f := range []string{"history.jsonl", "topology.jsonl", "scenario.yaml", "results.json", "junit.xml", "harness.log", "nodes/n1/redis.log"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("run dir lacks %s: %v", f, err)
		}
	}
	var res struct {
		Valid    any                        `json:"valid"`
		Checkers map[string]json.RawMessage `json:"checkers"`
		Stats    struct {
			Ops       int     `json:"ops"`
			OpsPerSec float64 `json:"ops_per_sec"`
		} `json:"stats"`
		Expected struct {
			Met bool `json:"met"`
		} `json:"expected"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Valid != true || res.Stats.Ops < 1000 || res.Stats.OpsPerSec <= 0 || !res.Expected.Met {
		t.Errorf("results.json: valid %v, %d ops, %.0f ops/s, met %v", res.Valid, res.Stats.Ops, res.Stats.OpsPerSec, res.Expected.Met)
	}
	for _, c := range []string{"linearizable", "set", "multikey", "slots", "recovery", "stats"} {
		if _, ok := res.Checkers[c]; !ok {
			t.Errorf("results.json lacks checker %s", c)
		}
	}
	if code, out, stderr := harness(t, t.TempDir(), "check", dir); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("check: exit %d %s %s", code, out, stderr)
	}
	// A foreign history: only history.jsonl, judged as one workload.
	foreign := t.TempDir()
	hist, _ := os.ReadFile(filepath.Join(dir, "history.jsonl"))
	var lines []string
	for _, l := range strings.Split(string(hist), "\n") {
		if strings.Contains(l, `"{register:`) {
			lines = append(lines, l)
		}
	}
	os.WriteFile(filepath.Join(foreign, "history.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	if code, _, stderr := harness(t, t.TempDir(), "check", foreign); code != exitHarness || !strings.Contains(stderr, "--workload") {
		t.Errorf("check without scenario.yaml or --workload: exit %d %q", code, stderr)
	}
	if code, out, stderr := harness(t, t.TempDir(), "check", foreign, "--workload", "register"); code != 0 || !strings.Contains(out, "linearizable   valid") {
		t.Errorf("check --workload register: exit %d %s %s", code, out, stderr)
	}
	// A stale read appended by hand must be caught.
	stale := `{"index":999999,"time":999999999999,"process":777,"type":"invoke","f":"write","key":"{register:0}","value":123456}
{"index":1000000,"time":999999999999,"process":777,"type":"ok","f":"write","key":"{register:0}","value":123456}
{"index":1000001,"time":1000000000000,"process":778,"type":"invoke","f":"read","key":"{register:0}","value":null}
{"index":1000002,"time":1000000000001,"process":778,"type":"ok","f":"read","key":"{register:0}","value":999999}
`
	f, _ := os.OpenFile(filepath.Join(foreign, "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(stale)
	f.Close()
	if code, out, _ := harness(t, t.TempDir(), "check", foreign, "--workload", "register"); code != exitInvalid || !strings.Contains(out, "linearizable   invalid") {
		t.Errorf("check of a stale read: exit %d %s", code, out)
	}
}

// TestRunPartitionMasterFindsLostWrites: the harness must catch Redis's
// documented lost writes when a master is cut off from the cluster while
// clients still reach it, and record the fault in the history.
func TestRunPartitionMasterFindsLostWrites(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: partitions on the local backend need root (iptables)")
	}
	store := t.TempDir()
	code, out, stderr := harness(t, t.TempDir(), "run", "partition-master", "--backend", "local", "--time-limit", "14s", "--store", store)
	if code != 0 || !strings.Contains(out, "as the scenario expects") {
		t.Fatalf("run partition-master: exit %d\n%s\n%s", code, out, stderr)
	}
	dir, _ := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	var res struct {
		Checkers struct {
			Set struct {
				Lost int `json:"lost"`
			} `json:"set"`
		} `json:"checkers"`
		Nemesis struct {
			Actions []struct {
				Error string `json:"error"`
			} `json:"actions"`
			Healthy bool `json:"healthy"`
		} `json:"nemesis"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Checkers.Set.Lost == 0 || len(res.Nemesis.Actions) != 1 || res.Nemesis.Actions[0].Error != "" || !res.Nemesis.Healthy {
		t.Errorf("results.json: %s", b)
	}
	hist, _ := os.ReadFile(filepath.Join(dir, "history.jsonl"))
	if n := strings.Count(string(hist), `"process":-1,"type":"info","f":"partition"`); n != 2 {
		t.Errorf("%d nemesis records for the partition, want 2 (in effect, healed)", n)
	}
	// This run's chain only: other tests on the machine may hold chains of their own now.
	var name string
	if _, rest, ok := strings.Cut(out, "cluster partition-master-"); ok {
		name = "partition-master-" + strings.Fields(rest)[0]
		name = strings.TrimSuffix(name, ":")
	}
	chain := topology.ChainName(&topology.Cluster{Name: name, Dir: filepath.Join(dir, "state", "clusters", name)})
	if out, _ := exec.Command("iptables", "-S").Output(); name == "" || strings.Contains(string(out), chain) {
		t.Errorf("iptables chain %s (cluster %q) left behind:\n%s", chain, name, out)
	}
}

// assertNoServers fails if a redis-server still runs with its working
// directory under dir (a local node the harness should have stopped).
func assertNoServers(t *testing.T, dir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		cwd, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(cwd, dir) {
			continue
		}
		if exe, _ := os.Readlink(strings.TrimSuffix(p, "cwd") + "exe"); strings.Contains(exe, "redis") {
			t.Errorf("a redis-server still runs in %s (%s) after down", cwd, p)
		}
	}
}
