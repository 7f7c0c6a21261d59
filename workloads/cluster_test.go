package workloads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/local"
)

// The integration tests share one local 3×1 cluster, made on first use and
// removed when the tests end.
var shared struct {
	once  sync.Once
	skip  string
	err   error
	dir   string
	local *local.Backend
	c     *topology.Cluster
	admin *topology.Admin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.local.Down(ctx, shared.c); err != nil {
			fmt.Fprintln(os.Stderr, "down:", err)
			code = 1
		}
		cancel()
	}
	if shared.admin != nil {
		shared.admin.Close()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// localCluster returns the shared cluster's admin and node addresses,
// bringing it up on first use. It skips, saying why, only where
// redis-server is absent.
func localCluster(t testing.TB) (*topology.Admin, []string) {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "workloads-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		l, err := local.NewHost(topology.Store{Dir: dir})
		if err != nil {
			shared.skip = fmt.Sprintf("skipping: %v", err)
			return
		}
		shared.local = l
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := l.Up(ctx, topology.Spec{Name: "t-workloads", Masters: 3, Replicas: 1, Config: map[string]string{"cluster-node-timeout": "2000"}})
		if err != nil {
			shared.err = fmt.Errorf("up: %w", err)
			return
		}
		shared.c = c
		shared.admin = topology.NewAdmin()
		plan, err := topology.PlanCreate(c.Nodes, 3, 1)
		if err == nil {
			_, err = shared.admin.Create(ctx, plan, 30*time.Second)
		}
		if err != nil {
			shared.err = fmt.Errorf("create: %w", err)
		}
	})
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.admin, shared.c.Addrs()
}

// runRecorded runs cfg for d and then its final reads, and returns the
// history as read back from history.jsonl.
func runRecorded(t *testing.T, cfg Config, d time.Duration) ([]history.Op, Summary) {
	t.Helper()
	_, addrs := localCluster(t)
	path := filepath.Join(t.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := history.NewWriter(f, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), d)
	var progress [3]int64
	cfg.Progress = func(ok, fail, info int64) { progress = [3]int64{ok, fail, info} }
	sum, err := Run(ctx, cfg, addrs, w)
	cancel()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if progress != [3]int64{sum.OK, sum.Fail, sum.Info} {
		t.Errorf("last progress %v, want the summary's %d/%d/%d", progress, sum.OK, sum.Fail, sum.Info)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := Final(fctx, cfg, addrs, w, sum.Used); err != nil {
		t.Errorf("final: %v", err)
	}
	fcancel()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ops, res, err := history.ReadFile(path)
	if err != nil || res.Truncated != "" {
		t.Fatalf("read back: %v %s", err, res.Truncated)
	}
	return ops, sum
}

// TestWorkloadsOnACluster runs each workload for about 2 s at concurrency 4
// on a healthy cluster, then its final reads, and checks the history.
func TestWorkloadsOnACluster(t *testing.T) {
	localCluster(t)
	specs := []Spec{
		{Name: "register"}, {Name: "kv"}, {Name: "set"}, {Name: "counter"}, {Name: "list-append"},
		{Name: "multikey", Mix: map[string]int{"mset": 5, "mget": 5, "crossslot": 1}},
		{Name: "pipeline", Pipeline: 5}, {Name: "pipeline", Of: "kv", Pipeline: 8},
	}
	for _, s := range specs {
		s := s.WithDefaults()
		t.Run(s.space(), func(t *testing.T) {
			cfg := Config{Workloads: []Spec{s}, Concurrency: 4, OpsPerKey: 400, Keys: 2, Seed: 1}
			ops, sum := runRecorded(t, cfg, 2*time.Second)
			checkHistory(t, s, cfg.WithDefaults(), ops, sum)
		})
	}
}

func checkHistory(t *testing.T, s Spec, cfg Config, ops []history.Op, sum Summary) {
	t.Helper()
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	space := s.space()
	var run, final []history.Operation
	for _, p := range pairs {
		if p.Invoke.Process >= sum.Used.NextProcess {
			final = append(final, p)
		} else {
			run = append(run, p)
		}
	}
	if int64(len(run)) != sum.Ops() || sum.Ops() < 100 {
		t.Fatalf("%d ops in the history, %d in the summary: want the same, and at least 100 in 2 s", len(run), sum.Ops())
	}
	t.Logf("%s: %d ops (%d ok, %d fail, %d info), %d tags, %d final reads", space, sum.Ops(), sum.OK, sum.Fail, sum.Info, len(sum.Used.Tags[space]), len(final))
	perTag := map[string]int{}
	written := map[string]bool{}
	procs := map[int]bool{}
	for _, p := range run {
		inv, c := p.Invoke, p.Complete
		procs[inv.Process] = true
		if !strings.HasPrefix(inv.Key, "{"+space+":") && !(inv.F == "crossslot" && strings.HasPrefix(inv.Key, "{multikey:-")) {
			t.Fatalf("%v: key without the {%s:<n>} tag", inv, space)
		}
		if c.Node == "" {
			t.Errorf("%v: no node recorded", c)
		}
		if c.Time < inv.Time {
			t.Errorf("%v completes before its invoke %v", c, inv)
		}
		switch {
		case c.Type == history.OK:
		case c.Type == history.Fail && inv.F == "cas" && c.Error == "cas-mismatch":
		case c.Type == history.Fail && inv.F == "crossslot" && strings.HasPrefix(c.Error, "CROSSSLOT"):
		default:
			t.Errorf("%v: unexpected on a healthy cluster", c)
		}
		if inv.F == "crossslot" {
			if c.Type != history.Fail {
				t.Errorf("%v: a CROSSSLOT probe must fail", c)
			}
			continue
		}
		perTag[topology.HashTag(inv.Key)]++
		for _, v := range writtenValues(*inv) {
			if written[v] {
				t.Errorf("%v: value %s written before", inv, v)
			}
			written[v] = true
		}
	}
	for tg, n := range perTag {
		if n > cfg.OpsPerKey {
			t.Errorf("tag %s: %d ops, more than ops_per_key %d", tg, n, cfg.OpsPerKey)
		}
	}
	if len(procs) < cfg.Concurrency {
		t.Errorf("%d processes, want at least one per worker (%d)", len(procs), cfg.Concurrency)
	}
	// Final: one read (or more, for list-append) per used tag, all ok.
	readTags := map[string]bool{}
	for _, p := range final {
		if p.Complete.Type != history.OK {
			t.Errorf("final %v: not ok", p.Complete)
		}
		readTags["{"+topology.HashTag(p.Invoke.Key)+"}"] = true
	}
	for _, tg := range sum.Used.Tags[space] {
		if !readTags[tg] {
			t.Errorf("no final read of %s", tg)
		}
	}
	if len(readTags) != len(sum.Used.Tags[space]) || len(readTags) < len(perTag) {
		t.Errorf("final read %d tags; %d used, %d in the history", len(readTags), len(sum.Used.Tags[space]), len(perTag))
	}
	checkSemantics(t, s, run, final)
}

// checkSemantics checks, per workload, what a healthy cluster guarantees.
func checkSemantics(t *testing.T, s Spec, run, final []history.Operation) {
	t.Helper()
	okWrites := map[string][]any{} // key → values acknowledged
	tried := map[string]bool{}     // "key=value" of every attempted write
	finalOf := map[string]any{}
	for _, p := range final {
		finalOf[p.Invoke.Key] = p.Complete.Value
	}
	note := func(key string, v any, ok bool) {
		tried[key+"="+toText(v)] = true
		if ok {
			okWrites[key] = append(okWrites[key], v)
		}
	}
	for _, p := range run {
		inv, c := p.Invoke, p.Complete
		ok := c.Type == history.OK
		switch inv.F {
		case "write", "put", "append", "add":
			note(inv.Key, inv.Value, ok)
		case "cas":
			note(inv.Key, inv.Value.([]any)[1], ok)
		case "mset":
			for k, v := range inv.Value.(map[string]any) {
				note(k, v, ok)
			}
		case "txn":
			for _, m := range inv.Value.([]any) {
				if m := m.([]any); m[0] == "append" {
					note(m[1].(string), m[2], ok)
				}
			}
		}
	}
	known := func(key string, v any) bool { return v == nil || tried[key+"="+toText(v)] }
	for _, p := range append(slices.Clone(run), final...) {
		inv, c := p.Invoke, p.Complete
		if c.Type != history.OK {
			continue
		}
		switch {
		case inv.F == "read" && (s.Of == "register" || s.Name == "register"):
			if !known(inv.Key, c.Value) {
				t.Errorf("%v: read a value nobody wrote", c)
			}
		case inv.F == "get":
			if c.Value != nil {
				for _, tok := range strings.SplitAfter(c.Value.(string), ";") {
					if tok != "" && !known(inv.Key, tok) {
						t.Errorf("%v: read %q, which nobody wrote", c, tok)
					}
				}
			}
		case inv.F == "mget":
			vals := map[string]bool{}
			m := c.Value.(map[string]any)
			for k, v := range m {
				if !known(k, v) {
					t.Errorf("%v: %s read a value nobody wrote", c, k)
				}
				vals[toText(v)] = true
			}
			if len(m) != len(multikeyKeys) || len(vals) != 1 {
				t.Errorf("%v: an MGET of one tag saw different values: MSET is atomic", c)
			}
		}
	}
	switch s.Name {
	case "set", "list-append":
		for key, vs := range okWrites {
			got, _ := finalOf[key].([]any)
			for _, v := range vs {
				if !slices.Contains(got, v) {
					t.Errorf("%s: acknowledged %v missing from the final read", key, v)
				}
			}
			seen := map[any]bool{}
			for _, v := range got {
				if seen[v] || !known(key, v) {
					t.Errorf("%s: final read has %v twice or unwritten", key, v)
				}
				seen[v] = true
			}
		}
	case "counter":
		sums := map[string]int64{}
		for _, p := range run {
			if p.Invoke.F == "incr" && p.Complete.Type == history.OK {
				sums[p.Invoke.Key] += p.Invoke.Value.(int64)
			}
		}
		for key, want := range sums {
			if got, _ := history.Int(finalOf[key]); got != want {
				t.Errorf("%s: final %v, want the sum of acknowledged increments %d", key, finalOf[key], want)
			}
		}
	}
}

// TestRedirectsFollowedAndRecorded moves a key's slot away from under a
// client that has cached the slot map: its next op gets MOVED, follows it,
// and records the hop and the new node. Then it moves the slot back, and
// an op during that migration, at the step where the key has already left
// the source, gets ASK.
func TestRedirectsFollowedAndRecorded(t *testing.T) {
	admin, addrs := localCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{Concurrency: 1}.WithDefaults()
	cl := newClient(cfg, addrs)
	defer cl.close()
	key := tag("register", 1_000_001)
	write := func(v int64) *call {
		return &call{f: "write", key: key, value: v, mutates: true, cmds: [][]any{{"set", key, itoa(v)}}}
	}
	first := cl.do(ctx, write(1))
	if first.typ != history.OK || first.redirects != 0 {
		t.Fatalf("first write: %+v", first)
	}
	slot := topology.KeySlot(key)
	snap := admin.Snapshot(ctx, addrs)
	from := snap.Owners()[slot]
	to := otherMaster(snap, from)
	if src, _ := snap.Node(from); src.Addr != first.node {
		t.Fatalf("the first write was served by %s; slot %d belongs to %s", first.node, slot, src.Addr)
	}
	if _, err := admin.MigrateSlot(ctx, addrs, slot, from, to.ID, topology.ReshardOptions{}); err != nil {
		t.Fatal(err)
	}
	moved := cl.do(ctx, write(2))
	if moved.typ != history.OK || moved.redirects != 1 || moved.node != to.Addr {
		t.Errorf("write after the slot moved: %s redirects %d node %s (%s), want ok after 1 redirect at %s", moved.typ, moved.redirects, moved.node, moved.err, to.Addr)
	}
	read := cl.do(ctx, registerRead(key))
	// go-redis reloads its slot map in the background after a MOVED: the
	// next op may still take the old route.
	if read.typ != history.OK || read.value != int64(2) || read.redirects > 1 || read.node != to.Addr {
		t.Errorf("read after the move: %+v", read)
	}

	// Back, with an op at the step after the keys moved: the source answers ASK.
	var asked result
	hook := func(ctx context.Context, s int, step topology.Step) error {
		if step == topology.SetNodeTarget {
			asked = cl.do(ctx, registerRead(key))
		}
		return nil
	}
	if _, err := admin.MigrateSlot(ctx, addrs, slot, to.ID, from, topology.ReshardOptions{Hook: hook}); err != nil {
		t.Fatal(err)
	}
	src, _ := snap.Node(from)
	if asked.typ != history.OK || asked.value != int64(2) || asked.redirects < 1 || asked.node != src.Addr {
		t.Errorf("read mid-migration: %s %v redirects %d node %s (%s), want 2 after an ASK, at %s", asked.typ, asked.value, asked.redirects, asked.node, asked.err, src.Addr)
	}
}

// TestCrossSlotProbeRecordedFail: the probe through Run is recorded as fail
// with Redis's CROSSSLOT error.
func TestCrossSlotProbeRecordedFail(t *testing.T) {
	cfg := Config{Workloads: []Spec{{Name: "multikey", Mix: map[string]int{"crossslot": 1}}}, Concurrency: 2, Seed: 3}
	ops, sum := runRecorded(t, cfg, 300*time.Millisecond)
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pairs {
		if p.Invoke.F != "crossslot" {
			continue
		}
		n++
		if p.Complete.Type != history.Fail || !strings.HasPrefix(p.Complete.Error, "CROSSSLOT ") || p.Complete.Node == "" {
			t.Fatalf("probe %v → %v: want fail with CROSSSLOT and the node", p.Invoke, p.Complete)
		}
	}
	if n == 0 || int64(n) != sum.Fail {
		t.Errorf("%d probes, %d fails", n, sum.Fail)
	}
}

// TestTxnRedirect: a MULTI/EXEC whose slot moved is redirected as a whole.
func TestTxnRedirect(t *testing.T) {
	admin, addrs := localCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(Config{Concurrency: 1}.WithDefaults(), addrs)
	defer cl.close()
	tg := tag("list-append", 1_000_002)
	txn := func(e int64) *call {
		return listTxn(tg+":a", []any{[]any{"append", tg + ":a", e}, []any{"r", tg + ":b", nil}})
	}
	if r := cl.do(ctx, txn(1)); r.typ != history.OK || r.redirects != 0 {
		t.Fatalf("first txn: %+v", r)
	}
	slot := topology.KeySlot(tg)
	snap := admin.Snapshot(ctx, addrs)
	from := snap.Owners()[slot]
	to := otherMaster(snap, from)
	if _, err := admin.MigrateSlot(ctx, addrs, slot, from, to.ID, topology.ReshardOptions{}); err != nil {
		t.Fatal(err)
	}
	defer admin.MigrateSlot(context.Background(), addrs, slot, to.ID, from, topology.ReshardOptions{})
	r := cl.do(ctx, txn(2))
	if r.typ != history.OK || r.redirects != 1 || r.node != to.Addr {
		t.Errorf("txn after the slot moved: %s redirects %d node %s (%s), want ok after 1 redirect at %s", r.typ, r.redirects, r.node, r.err, to.Addr)
	}
	want := []any{[]any{"append", tg + ":a", int64(2)}, []any{"r", tg + ":b", []any{}}}
	if toText(r.value) != toText(want) {
		t.Errorf("txn value %s, want %s", toText(r.value), toText(want))
	}
}

// otherMaster is a slot-owning master other than the one with id from.
func otherMaster(snap *topology.Snapshot, from string) topology.NodeInfo {
	for _, n := range snap.Members() {
		if n.IsMaster() && n.ID != from && len(n.Slots) > 0 {
			return n
		}
	}
	return topology.NodeInfo{}
}
