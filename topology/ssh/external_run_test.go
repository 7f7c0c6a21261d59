package ssh_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/scenarios"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/sshtest"
	"github.com/redis-harness/harness/topology/internal/testcluster"
	"github.com/redis-harness/harness/topology/ssh"
)

// TestExternalRun is a whole run on a cluster the harness did not make
// as far as the run knows: one the ssh backend started, given to the run
// by one address and the hosts file only, with kill, pause and partition
// faults (on replicas, so that the verdict must be valid). The run finds
// every node, says so in its log, injects and heals each fault, is valid,
// and leaves the cluster healthy with every node running.
func TestExternalRun(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: no redis-server on PATH for the hosts to run (Debian's redis-server)")
	}
	testcluster.NeedRoot(t)
	hs := sshtest.Start(t, 6) // a host per node: partitions need it
	hosts := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(hosts, []byte(hs.Inventory()), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := ssh.LoadInventory(hosts)
	if err != nil {
		t.Fatal(err)
	}
	store := topology.Store{Dir: t.TempDir()}
	b, err := ssh.New(store, inv)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := testcluster.Up(t, b, store, topology.Spec{Name: "t-extrun", Masters: 3, Replicas: 1, Config: map[string]string{"cluster-node-timeout": "2000"}}, 2*time.Minute, nil)

	s, err := scenarios.Load("smoke")
	if err != nil {
		t.Fatal(err)
	}
	s.TimeLimit = 20 * time.Second
	s.Seed = 11
	s.Client.Concurrency = 4
	s.Nemesis = nemesis.Spec{Timeline: []nemesis.Action{
		{At: 2 * time.Second, For: 3 * time.Second, Do: "kill", Target: "replica"},
		{At: 7 * time.Second, For: 3 * time.Second, Do: "pause", Target: "replica"},
		{At: 12 * time.Second, For: 3 * time.Second, Do: "partition", Target: "replica"},
	}}
	ctx := context.Background()
	out, err := scenarios.Run(ctx, s, scenarios.Options{Addr: r.C.Nodes[0].Addr, Hosts: hosts, Store: t.TempDir()})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.Code != 0 {
		t.Errorf("run exit code %d, want 0 (dir %s)", out.Code, out.Dir)
	}

	log, err := os.ReadFile(filepath.Join(out.Dir, "harness.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.C.Nodes {
		if !strings.Contains(string(log), `"msg":"external node","addr":"`+n.Addr+`","host":"`+n.Host+`"`) {
			t.Errorf("harness.log says nothing found of node %s", n.Addr)
		}
	}
	injected := map[string]bool{}
	f, err := os.Open(filepath.Join(out.Dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var op struct {
			Process int    `json:"process"`
			F       string `json:"f"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &op) == nil && op.Process == -1 && op.Error == "" {
			injected[op.F] = true
			t.Logf("nemesis: %s", sc.Bytes())
		}
	}
	for _, want := range []string{"kill", "pause", "partition"} {
		if !injected[want] {
			t.Errorf("no %s fault in the history (faults: %v)", want, injected)
		}
	}
	testcluster.Healthy(ctx, t, r.A, r.C.Addrs(), topology.Expect{Masters: 3, Replicas: 1})
}
