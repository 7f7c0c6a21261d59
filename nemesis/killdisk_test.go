package nemesis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/local"
)

// eachDiskBackend runs f on a cluster of 3 masters on the backend, skipped (saying why)
// where the disk primitives do not work.
func eachDiskBackend(t *testing.T, what string, f func(t *testing.T, env *Env)) {
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env, _ := newTestEnv(t, backend, what, 3, 0)
			if _, err := env.disk(what); err != nil {
				t.Skipf("skipping: %v", err)
			}
			f(t, env)
		})
	}
}

// writeSlotKeys writes n keys of the slot of tag to its master and returns
// the master's address and how many writes were acknowledged.
func writeSlotKeys(t *testing.T, env *Env, tag string, n int) (string, int) {
	t.Helper()
	ctx := context.Background()
	snap := env.Admin.Snapshot(ctx, env.Addrs())
	master := snap.AddrOf(snap.Owners()[topology.KeySlot(tag)])
	if master == "" {
		t.Fatalf("no master owns the slot of %s", tag)
	}
	val := strings.Repeat("v", 64)
	acked := 0
	for i := range n {
		if _, err := env.Admin.Do(ctx, master, "SET", fmt.Sprintf("%s:%d", tag, i), val); err != nil {
			t.Fatalf("SET %d on %s: %v", i, master, err)
		}
		acked++
	}
	return master, acked
}

func dbsize(t *testing.T, env *Env, addr string) int64 {
	t.Helper()
	v, err := env.Admin.Do(context.Background(), addr, "DBSIZE")
	if err != nil {
		t.Fatalf("DBSIZE on %s: %v", addr, err)
	}
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("DBSIZE on %s: %T %v", addr, v, v)
	}
	return n
}

func role(t *testing.T, env *Env, addr string) string {
	t.Helper()
	v, err := env.Admin.Do(context.Background(), addr, "ROLE")
	if err != nil {
		t.Fatalf("ROLE on %s: %v", addr, err)
	}
	if r, ok := v.([]any); ok && len(r) > 0 {
		return fmt.Sprint(r[0])
	}
	return fmt.Sprint(v)
}

func injectDisk(t *testing.T, env *Env, kind string, params map[string]string, target string) *diskFault {
	t.Helper()
	ctx := context.Background()
	n, err := New(kind, params)
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.Inject(ctx, env, Target(target))
	if err != nil {
		t.Fatalf("inject %s: %v", kind, err)
	}
	t.Cleanup(func() { f.Heal(context.Background()) })
	df := f.(*diskFault)
	select {
	case <-df.Restarted():
	case <-time.After(time.Minute):
		t.Fatalf("%s: the nodes were not restarted within a minute", f)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatalf("heal %s: %v", f, err)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatalf("second heal %s: %v", f, err)
	}
	t.Logf("%s: %v", f, df.Details())
	return df
}

// TestDiskKillWipe: a master killed and wiped comes back, within the node
// timeout, as the same node (same id), master of its slots, with nothing.
func TestDiskKillWipe(t *testing.T) {
	eachDiskBackend(t, "wipe", func(t *testing.T, env *Env) {
		const tag = "{wipe}"
		master, acked := writeSlotKeys(t, env, tag, 500)
		before := dbsize(t, env, master)
		if before < int64(acked) {
			t.Fatalf("dbsize %d before the fault, %d acked", before, acked)
		}
		id, err := env.Admin.DoText(context.Background(), master, "CLUSTER", "MYID")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Backend.(topology.Disk).WipeData(context.Background(), env.Cluster, master); err == nil || !strings.Contains(err.Error(), "kill it first") {
			t.Errorf("WipeData of a running node: %v, want a refusal", err)
		}
		f := injectDisk(t, env, "kill-wipe", nil, fmt.Sprintf("slot-master:%d", topology.KeySlot(tag)))
		if got := f.Nodes(); len(got) != 1 || got[0] != master {
			t.Fatalf("fault touched %v, want %s", got, master)
		}
		files := fmt.Sprint(f.Details()["files"])
		if !strings.Contains(files, "appendonlydir") {
			t.Errorf("files removed: %s, want appendonlydir among them", files)
		}
		if n := dbsize(t, env, master); n != 0 {
			t.Errorf("after kill-wipe %s holds %d keys, want 0 (had %d)", master, n, before)
		}
		if r := role(t, env, master); r != "master" {
			t.Errorf("after kill-wipe %s is %s, want master", master, r)
		}
		if id2, err := env.Admin.DoText(context.Background(), master, "CLUSTER", "MYID"); err != nil || id2 != id {
			t.Errorf("node id after kill-wipe %q (%v), want %q (nodes.conf kept)", id2, err, id)
		}
	})
}

// TestDiskKillLoseAOFTail: a master killed with the tail of its AOF cut
// comes back as master with fewer keys than it acknowledged.
func TestDiskKillLoseAOFTail(t *testing.T) {
	eachDiskBackend(t, "aof", func(t *testing.T, env *Env) {
		const tag = "{aof}"
		master, acked := writeSlotKeys(t, env, tag, 2000)
		f := injectDisk(t, env, "kill-lose-aof-tail", map[string]string{"bytes": "65536"}, fmt.Sprintf("slot-master:%d", topology.KeySlot(tag)))
		cut := f.Details()["truncated"].(map[string]any)[master].(int64)
		if cut != 65536 {
			t.Errorf("truncated %d bytes, want 65536", cut)
		}
		n := dbsize(t, env, master)
		t.Logf("%s acknowledged %d writes, holds %d keys after losing %d bytes of AOF", master, acked, n, cut)
		if n >= int64(acked) {
			t.Errorf("after kill-lose-aof-tail %s holds %d keys, want fewer than the %d acknowledged", master, n, acked)
		}
		if n == 0 {
			t.Errorf("after kill-lose-aof-tail %s holds no keys: only the tail should be gone", master)
		}
		if r := role(t, env, master); r != "master" {
			t.Errorf("after kill-lose-aof-tail %s is %s, want master", master, r)
		}
	})
}

// TestDiskAOFManifest: on files alone, TruncateAOF cuts only the newest
// incremental file the manifest names, and WipeData keeps nodes.conf.
func TestDiskAOFManifest(t *testing.T) {
	dir := t.TempDir()
	aof := filepath.Join(dir, "appendonlydir")
	if err := os.MkdirAll(aof, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type h\nfile appendonly.aof.4.incr.aof seq 4 type i\nfile appendonly.aof.5.incr.aof seq 5 type i\n"
	for name, body := range map[string]string{
		"appendonly.aof.manifest":   manifest,
		"appendonly.aof.4.incr.aof": strings.Repeat("a", 100),
		"appendonly.aof.5.incr.aof": strings.Repeat("b", 100),
	} {
		if err := os.WriteFile(filepath.Join(aof, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"nodes.conf", "dump.rdb"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	l, err := local.NewHost(topology.Store{Dir: t.TempDir()})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	c := &topology.Cluster{Name: "disk-unit", Dir: t.TempDir(), Nodes: []topology.Node{{Name: "n1", Addr: "127.0.0.1:1", Host: "127.0.0.1", Dir: dir}}}
	ctx := context.Background()
	rep, err := l.TruncateAOF(ctx, c, "n1", 30)
	if err != nil || rep.Truncated != 30 || strings.Join(rep.Files, ",") != "appendonlydir/appendonly.aof.5.incr.aof" {
		t.Fatalf("TruncateAOF = %+v, %v; want 30 bytes cut off appendonlydir/appendonly.aof.5.incr.aof", rep, err)
	}
	if st, _ := os.Stat(filepath.Join(aof, "appendonly.aof.5.incr.aof")); st.Size() != 70 {
		t.Errorf("newest incr file is %d bytes, want 70", st.Size())
	}
	if st, _ := os.Stat(filepath.Join(aof, "appendonly.aof.4.incr.aof")); st.Size() != 100 {
		t.Errorf("older incr file is %d bytes, want 100 untouched", st.Size())
	}
	if rep, err := l.TruncateAOF(ctx, c, "n1", 1000); err != nil || rep.Truncated != 70 {
		t.Errorf("TruncateAOF past the start = %d, %v; want 70", rep.Truncated, err)
	}
	rep, err = l.WipeData(ctx, c, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Files, ",") != "appendonlydir,dump.rdb" {
		t.Errorf("wiped %v, want appendonlydir and dump.rdb", rep.Files)
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes.conf")); err != nil {
		t.Errorf("nodes.conf gone after WipeData: %v", err)
	}
	for _, gone := range []string{"appendonlydir", "dump.rdb"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s still there after WipeData", gone)
		}
	}
}

// fakeDisk is a backend whose disk primitive fails on one node: the inject
// runs on every node at once, and that one node's error must survive the
// others' successes.
type fakeDisk struct {
	fakeBackend
	topology.Lifecycle
	failOn    string
	mu        sync.Mutex
	restarted []string
}

func (f *fakeDisk) Kill(context.Context, *topology.Cluster, string) error { return nil }
func (f *fakeDisk) Restart(_ context.Context, _ *topology.Cluster, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarted = append(f.restarted, node)
	return nil
}
func (f *fakeDisk) TruncateAOF(_ context.Context, _ *topology.Cluster, node string, bytes int64) (topology.DiskReport, error) {
	if node == f.failOn {
		return topology.DiskReport{}, fmt.Errorf("no AOF file for %s", node)
	}
	return topology.DiskReport{Files: []string{"appendonly.aof.1.incr.aof"}, Truncated: bytes}, nil
}
func (f *fakeDisk) WipeData(context.Context, *topology.Cluster, string) (topology.DiskReport, error) {
	return topology.DiskReport{}, nil
}

func TestDiskInjectKeepsEveryNodesError(t *testing.T) {
	c := &topology.Cluster{Name: "fake"}
	for i := 1; i <= 3; i++ {
		c.Nodes = append(c.Nodes, topology.Node{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i)})
	}
	for try := range 20 {
		b := &fakeDisk{failOn: "n2"}
		env := &Env{Cluster: c, Backend: b}
		d := diskNemesis{name: "kill-lose-aof-tail", bytes: 10, down: time.Second}
		f, err := d.Inject(context.Background(), env, Target("all"))
		if err == nil {
			f.Heal(context.Background())
			t.Fatalf("try %d: the inject succeeded though n2's truncation failed", try)
		}
		if !strings.Contains(err.Error(), "no AOF file for n2") {
			t.Fatalf("try %d: error %q does not name n2's failure", try, err)
		}
		if len(b.restarted) != 3 {
			t.Fatalf("try %d: restarted %v after the failed inject, want every node", try, b.restarted)
		}
	}
}
