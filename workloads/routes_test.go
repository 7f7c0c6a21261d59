package workloads

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRoutesHold: a node whose op timed out gets one op at a time until it
// answers; a node that refused the connection, or answered, is not held.
func TestRoutesHold(t *testing.T) {
	r := newRoutes(time.Second)
	const frozen, dead, fine = "10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"
	for _, a := range []string{frozen, dead, fine} {
		r.know(a)
	}
	r.observe(frozen, opErr("read", os.ErrDeadlineExceeded))
	r.observe(dead, opErr("dial", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}))
	r.observe(fine, nil)

	release, _, ok := r.hold(frozen)
	if !ok {
		t.Fatal("the first op to a node that timed out is held back; it must go, to find out when the node answers")
	}
	if _, held, ok := r.hold(frozen); ok || held <= 0 {
		t.Errorf("a second op to a node that timed out went while the first waits (held %v)", held)
	}
	release()
	release2, _, ok := r.hold(frozen)
	if !ok {
		t.Error("after the first op ended, the next one is held back")
	}
	release2()
	for _, a := range []string{dead, fine} {
		for range 2 {
			if _, _, ok := r.hold(a); !ok {
				t.Errorf("an op to %s was held back", a)
			}
		}
	}
	if why := r.skip(frozen); why == "" {
		t.Error("a slot map load asks the node that just timed out")
	}
	if first, ok := r.suspectSince(dead); !ok || first.IsZero() {
		t.Error("a node that refused the connection is no suspect")
	}
	// It answers: no longer held, skipped or suspect.
	r.observe(frozen, reply("MOVED 1 10.0.0.3:6379"))
	a, _, ok := r.hold(frozen)
	b, _, ok2 := r.hold(frozen)
	if !ok || !ok2 {
		t.Error("a node that answered is still held")
	}
	a()
	b()
	if why := r.skip(frozen); why != "" {
		t.Errorf("a node that answered is skipped: %s", why)
	}
}
