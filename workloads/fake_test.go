package workloads

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// fakeNode is a one-node "cluster" on a loopback socket that owns every
// slot and answers the test's commands as told: a real go-redis client
// against a real socket, so that the errors it returns are the ones a real
// run sees, and the node can count how often a command arrived.
type fakeNode struct {
	ln    net.Listener
	addr  string
	reply func(args []string) string // raw RESP to send; "" hangs; "close" closes the connection

	mu   sync.Mutex
	seen map[string]int // command name → times received
}

func newFakeNode(t *testing.T, reply func(args []string) string) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{ln: ln, addr: ln.Addr().String(), reply: reply, seen: map[string]int{}}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	return f
}

func (f *fakeNode) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[name]
}

func (f *fakeNode) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		name := strings.ToLower(args[0])
		var out string
		switch {
		case name == "cluster" && len(args) > 1 && strings.EqualFold(args[1], "slots"):
			host, port, _ := net.SplitHostPort(f.addr)
			out = fmt.Sprintf("*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$%d\r\n%s\r\n:%s\r\n$40\r\n%s\r\n", len(host), host, port, strings.Repeat("a", 40))
		case name == "command":
			out = "*0\r\n"
		case name == "hello":
			out = "-ERR unknown command 'HELLO'\r\n"
		default:
			f.mu.Lock()
			f.seen[name]++
			f.mu.Unlock()
			out = f.reply(args)
		}
		switch out {
		case "":
			io.Copy(io.Discard, r) // hang: read on, never answer
			return
		case "close":
			return
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

func fakeConfig(retry RetryPolicy) Config {
	return Config{Concurrency: 1, OpTimeout: 300 * time.Millisecond, Retry: retry}.WithDefaults()
}

// TestOutcomesFromRealReplies sends a write (SET) and a read (GET) to a node
// that answers each way a cluster may, and checks the recorded outcome and
// how often the command reached the node: go-redis must never send a
// command again behind the history's back.
func TestOutcomesFromRealReplies(t *testing.T) {
	noRetry := RetryPolicy{MaxRetries: -1}
	cases := []struct {
		name      string
		reply     string // to SET and GET
		retry     RetryPolicy
		write     history.Type
		read      history.Type
		kind      string
		sets      int // SETs the node received
		redirects int
	}{
		{name: "ok", reply: "+OK\r\n", retry: noRetry, write: history.OK, read: history.OK, sets: 1},
		{name: "CLUSTERDOWN", reply: "-CLUSTERDOWN The cluster is down\r\n", retry: noRetry, write: history.Fail, read: history.Fail, kind: KindClusterDown, sets: 1},
		{name: "CLUSTERDOWN retried", reply: "-CLUSTERDOWN The cluster is down\r\n", retry: RetryPolicy{MaxRetries: 2, MinBackoff: time.Millisecond}, write: history.Fail, read: history.Fail, kind: KindClusterDown, sets: 3},
		{name: "TRYAGAIN", reply: "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", retry: noRetry, write: history.Fail, read: history.Fail, kind: KindTryAgain, sets: 1},
		{name: "LOADING", reply: "-LOADING Redis is loading the dataset in memory\r\n", retry: noRetry, write: history.Fail, read: history.Fail, kind: KindLoading, sets: 1},
		{name: "MASTERDOWN", reply: "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n", retry: noRetry, write: history.Fail, read: history.Fail, kind: KindMasterDown, sets: 1},
		{name: "ERR", reply: "-ERR something odd\r\n", retry: noRetry, write: history.Info, read: history.Fail, kind: KindRedis, sets: 1},
		// go-redis retries EOF and timeouts by default: it must not here.
		{name: "EOF", reply: "close", retry: noRetry, write: history.Info, read: history.Fail, kind: KindEOF, sets: 1},
		{name: "EOF default policy", reply: "close", write: history.Info, read: history.Fail, kind: KindEOF, sets: 1},
		{name: "timeout", reply: "", retry: noRetry, write: history.Info, read: history.Fail, kind: KindTimeout, sets: 1},
		// A write retried after an unknown outcome stays info, even when
		// the retry is refused.
		{name: "EOF retried", reply: "close", retry: RetryPolicy{MaxRetries: 1, MinBackoff: time.Millisecond, RetryOn: []string{KindEOF}}, write: history.Info, read: history.Fail, kind: KindEOF, sets: 2},
		// MOVED to itself: go-redis follows maxRedirects hops, then gives up.
		{name: "MOVED exhausted", reply: "-MOVED 1 %s\r\n", retry: noRetry, write: history.Fail, read: history.Fail, kind: KindMoved, sets: maxRedirects + 1, redirects: maxRedirects + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f *fakeNode
			f = newFakeNode(t, func(args []string) string {
				if strings.Contains(tc.reply, "%s") {
					return fmt.Sprintf(tc.reply, f.addr)
				}
				if tc.reply == "+OK\r\n" && strings.EqualFold(args[0], "get") {
					return "$2\r\n42\r\n"
				}
				return tc.reply
			})
			cl := newClient(fakeConfig(tc.retry), []string{f.addr})
			defer cl.close()
			ctx := context.Background()
			w := cl.do(ctx, &call{f: "write", key: "{register:0}", value: int64(7), mutates: true, cmds: [][]any{{"set", "{register:0}", "7"}}})
			if w.typ != tc.write {
				t.Errorf("write: %s (%s), want %s", w.typ, w.err, tc.write)
			}
			if w.kind != tc.kind {
				t.Errorf("write error %q is a %q, want %q", w.err, w.kind, tc.kind)
			}
			if got := f.count("set"); got != tc.sets {
				t.Errorf("the node received %d SETs, want %d", got, tc.sets)
			}
			if w.node != f.addr {
				t.Errorf("node %q, want %q", w.node, f.addr)
			}
			if w.redirects != tc.redirects {
				t.Errorf("redirects %d, want %d", w.redirects, tc.redirects)
			}
			r := cl.do(ctx, registerRead("{register:0}"))
			if r.typ != tc.read {
				t.Errorf("read: %s (%s), want %s", r.typ, r.err, tc.read)
			}
			if tc.read == history.OK && r.value != int64(42) {
				t.Errorf("read value %v (%T), want 42", r.value, r.value)
			}
		})
	}
}

// TestConnectionRefusedIsFail: nothing was sent, so even a write failed.
func TestConnectionRefusedIsFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := newClient(fakeConfig(RetryPolicy{MaxRetries: 1, MinBackoff: time.Millisecond}), []string{addr})
	defer cl.close()
	w := cl.do(context.Background(), &call{f: "write", key: "k", value: int64(1), mutates: true, cmds: [][]any{{"set", "k", "1"}}})
	if w.typ != history.Fail || !strings.Contains(w.err, "refused") {
		t.Errorf("write to a closed port: %s %q, want fail: connection refused", w.typ, w.err)
	}
}

// TestPipelineOutcomes: in a pipeline each command has its own outcome and
// its own retries.
func TestPipelineOutcomes(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	f := newFakeNode(t, func(args []string) string {
		mu.Lock()
		defer mu.Unlock()
		tries[args[1]]++
		switch args[1] {
		case "down-once":
			if tries[args[1]] == 1 {
				return "-CLUSTERDOWN The cluster is down\r\n"
			}
		case "slot":
			return "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
		}
		return "+OK\r\n"
	})
	cl := newClient(fakeConfig(RetryPolicy{MinBackoff: time.Millisecond}), []string{f.addr})
	defer cl.close()
	mk := func(key string) *call {
		return &call{f: "write", key: key, value: int64(1), mutates: true, cmds: [][]any{{"set", key, "1"}}}
	}
	res := cl.doBatch(context.Background(), []*call{mk("a"), mk("down-once"), mk("slot")})
	want := []history.Type{history.OK, history.OK, history.Fail}
	for i, r := range res {
		if r.typ != want[i] {
			t.Errorf("command %d: %s %q, want %s", i, r.typ, r.err, want[i])
		}
		if r.node != f.addr {
			t.Errorf("command %d: node %q, want %q", i, r.node, f.addr)
		}
	}
	if tries["a"] != 1 || tries["down-once"] != 2 || tries["slot"] != 1 {
		t.Errorf("sent %v: want a once, down-once twice, slot once", tries)
	}
}

// TestInfoRetiresTheProcess: after an info its process never runs again,
// and the worker goes on under a fresh one.
func TestInfoRetiresTheProcess(t *testing.T) {
	f := newFakeNode(t, func(args []string) string {
		if strings.EqualFold(args[0], "set") {
			return "" // hang: the write times out, info
		}
		return "$-1\r\n"
	})
	var buf strings.Builder
	w := history.NewWriter(&nopCloser{&buf}, time.Now())
	cfg := Config{Workloads: []Spec{{Name: "register", Mix: map[string]int{"read": 1, "write": 1}}},
		Concurrency: 2, OpTimeout: 50 * time.Millisecond, Seed: 5}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	sum, err := Run(ctx, cfg, []string{f.addr}, w)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var ops []history.Op
	if _, err := history.Read(strings.NewReader(buf.String()), func(o history.Op) error { ops = append(ops, o); return nil }); err != nil {
		t.Fatal(err)
	}
	pairs, err := history.Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	retired := map[int]bool{}
	for _, p := range pairs {
		if retired[p.Invoke.Process] {
			t.Fatalf("process %d runs %v after its info", p.Invoke.Process, p.Invoke)
		}
		if p.Complete.Type == history.Info {
			retired[p.Invoke.Process] = true
		}
	}
	if sum.Info < 2 || len(retired) != int(sum.Info) {
		t.Errorf("%d infos, %d processes retired: want at least 2, one each", sum.Info, len(retired))
	}
	for _, p := range pairs {
		if p.Invoke.Process >= sum.Used.NextProcess {
			t.Fatalf("next process %d: not past process %d, used", sum.Used.NextProcess, p.Invoke.Process)
		}
	}
}

type nopCloser struct{ *strings.Builder }

func (nopCloser) Close() error { return nil }
