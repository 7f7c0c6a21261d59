package netfilter

import (
	"slices"
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
