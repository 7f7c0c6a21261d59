package netfilter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseChain(t *testing.T) {
	listing := []string{
		"-P INPUT ACCEPT",
		"-N RH-aa",
		"-N RH-aabb",
		"-A INPUT -j RH-aa",
		"-A INPUT -j RH-aabb",
		"-A RH-aa -s 127.0.100.1/32 -d 127.0.100.2/32 -j DROP",
		"-A RH-aa -d 127.0.100.3/32 -j NFQUEUE --queue-num 21064 --queue-bypass",
		"-A RH-aabb -s 10.0.0.1/32 -j DROP",
	}
	r := parseChain(listing, "RH-aa")
	if !r.exists || !slices.Equal(r.jumps, []string{"-A INPUT -j RH-aa"}) || len(r.specs) != 2 ||
		r.specs[0] != DropSpec("127.0.100.1", "127.0.100.2") || !IsQueueSpec(r.specs[1], "-d 127.0.100.3/32") ||
		r.specs[1] != QueueSpec("-d 127.0.100.3/32", 21064) {
		t.Errorf("parseChain = %+v", r)
	}
	want := []string{"-D INPUT -j RH-aa", "-F RH-aa", "-X RH-aa"}
	if got := DropChainLines(listing, "RH-aa"); !slices.Equal(got, want) {
		t.Errorf("DropChainLines = %q, want %q", got, want)
	}
	if got := DropChainLines(listing, "RH-zz"); len(got) != 0 {
		t.Errorf("DropChainLines of an absent chain = %q", got)
	}
	if got := Chains(listing, "RH-"); !slices.Equal(got, []string{"RH-aa", "RH-aabb"}) {
		t.Errorf("Chains = %q", got)
	}
}

func TestPacketID(t *testing.T) {
	hdr := []byte{0, 0, 0x30, 0x39, 0x08, 0x00, 3} // id 12345, ETH_P_IP, hook
	attrs := append(nlAttr(9, []byte{1, 2, 3, 4, 5}), nlAttr(nfqaPacketHdr, hdr)...)
	if id, ok := packetID(attrs); !ok || id != 12345 {
		t.Errorf("packetID = %d, %v; want 12345", id, ok)
	}
	if _, ok := packetID(attrs[:6]); ok {
		t.Error("packetID of a truncated attribute succeeded")
	}
}

func TestImpairmentString(t *testing.T) {
	for _, tt := range []struct {
		q    Impairment
		want string
	}{
		{Impairment{Delay: 100 * time.Millisecond}, "delay 100ms"},
		{Impairment{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 1}, "delay 100ms ± 10ms loss 1%"},
		{Impairment{Loss: 100}, "delay 0s loss 100%"},
	} {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestLocksPerNamespace: one namespace's lock does not block another's.
func TestLocksPerNamespace(t *testing.T) {
	var l Locks
	unlockA := l.lock("a")
	done := make(chan struct{})
	go func() {
		l.lock("b")()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("namespace b waited for namespace a's lock")
	}
	unlockA()
	var nilLocks *Locks
	nilLocks.lock("a")() // no locks: no serialization, no panic
}

// TestTableHandles adds rules to a chain of its own in this machine's
// filter table (as root; a skip says so otherwise), and checks that the
// handle Add returns undoes exactly what it added, and RemoveChain the rest.
func TestTableHandles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("skipping: iptables needs root, and this test runs as uid %d", os.Geteuid())
	}
	if err := NeedTools("iptables", "iptables-restore"); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx := context.Background()
	tab := Table{Where: "this machine's network namespace", Locks: new(Locks)}
	chain := fmt.Sprintf("NFT-%d", os.Getpid())
	t.Cleanup(func() { tab.RemoveChain(ctx, chain) })
	// TEST-NET-3 addresses: nothing here sends from them.
	keep, err := tab.Add(ctx, chain, "INPUT", []string{DropSpec("203.0.113.1", "203.0.113.2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	undo, err := tab.Add(ctx, chain, "INPUT", []string{DropSpec("203.0.113.3", "")}, []string{QueueSpec("-d 203.0.113.4/32", 7)})
	if err != nil {
		t.Fatal(err)
	}
	rules := func() chainRules {
		listing, err := tab.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return parseChain(listing, chain)
	}
	if r := rules(); len(r.jumps) != 1 || len(r.specs) != 3 || r.specs[2] != QueueSpec("-d 203.0.113.4/32", 7) {
		t.Fatalf("after two adds: %+v", r)
	}
	if err := undo.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if r := rules(); len(r.specs) != 1 || r.specs[0] != keep.Specs[0] {
		t.Fatalf("after undoing the second add: %+v, want only %q", r, keep.Specs[0])
	}
	if err := tab.RemoveChain(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if r := rules(); r.exists || len(r.jumps) > 0 {
		t.Fatalf("after RemoveChain: %+v", r)
	}
}

// TestDelayLineOpenClose binds a delay line in this process's namespace
// (as root, on a kernel with nfnetlink_queue) and closes it; a second line
// from the same base gets another queue while the first holds its own.
func TestDelayLineOpenClose(t *testing.T) {
	if err := ProbeDelayLine(); err != nil {
		t.Skipf("skipping: no delay line here: %v", err)
	}
	ctx := context.Background()
	a, err := OpenDelayLine("", 0x7d00, Impairment{Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenDelayLine("", 0x7d00, Impairment{Loss: 100})
	if err != nil {
		a.Close(ctx)
		t.Fatal(err)
	}
	if a.Queue() == b.Queue() {
		t.Errorf("two open lines share queue %d", a.Queue())
	}
	if err := errors.Join(a.Close(ctx), b.Close(ctx)); err != nil {
		t.Fatal(err)
	}
}

// TestTableExec: with Exec set, every command of Add, Remove and
// RemoveChain goes through it (none runs here), and each edit is one
// iptables-restore of exactly the lines the listing calls for.
func TestTableExec(t *testing.T) {
	listing := "-P INPUT ACCEPT\n"
	var restores []string
	tb := Table{Where: "a fake namespace", NetNS: "container:x", Locks: &Locks{},
		Exec: func(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error) {
			switch bin {
			case "iptables":
				if !slices.Equal(args, []string{"-w", "5", "-t", "filter", "-S"}) {
					return nil, fmt.Errorf("unexpected iptables %q", args)
				}
				return []byte(listing), nil
			case "iptables-restore":
				b, err := io.ReadAll(stdin)
				if err != nil {
					return nil, err
				}
				restores = append(restores, string(b))
				return nil, nil
			}
			return nil, fmt.Errorf("unexpected command %s", bin)
		}}
	ctx := context.Background()
	if _, err := tb.Add(ctx, "RH-t", "INPUT", []string{DropSpec("10.0.0.1", "")}, nil); err != nil {
		t.Fatal(err)
	}
	want := "*filter\n:RH-t - [0:0]\n-I INPUT 1 -j RH-t\n-I RH-t 1 -s 10.0.0.1/32 -j DROP\nCOMMIT\n"
	if len(restores) != 1 || restores[0] != want {
		t.Fatalf("Add restored %q, want %q", restores, want)
	}
	listing += "-N RH-t\n-A INPUT -j RH-t\n-A RH-t -s 10.0.0.1/32 -j DROP\n"
	if _, err := tb.Add(ctx, "RH-t", "INPUT", []string{DropSpec("10.0.0.1", "")}, nil); err != nil || len(restores) != 1 {
		t.Fatalf("Add of a rule in place: %v, %d restores (want none more)", err, len(restores))
	}
	if err := tb.RemoveChain(ctx, "RH-t"); err != nil {
		t.Fatal(err)
	}
	if want := "*filter\n-D INPUT -j RH-t\n-F RH-t\n-X RH-t\nCOMMIT\n"; len(restores) != 2 || restores[1] != want {
		t.Fatalf("RemoveChain restored %q, want %q", restores[1:], want)
	}
	failing := tb
	failing.Exec = func(context.Context, string, []string, io.Reader) ([]byte, error) {
		return nil, errors.New("exit status 4: iptables: Permission denied")
	}
	if _, err := failing.Rules(ctx); err == nil || !strings.Contains(err.Error(), "Permission denied") || !strings.Contains(err.Error(), "a fake namespace") {
		t.Errorf("Rules through a failing Exec = %v, want its error with the namespace named", err)
	}
}
