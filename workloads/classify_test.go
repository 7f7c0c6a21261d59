package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// reply is an error reply as go-redis returns it: a redis.Error.
type reply string

func (r reply) Error() string { return string(r) }
func (r reply) RedisError()   {}

func opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6379}, Err: err}
}

func TestClassify(t *testing.T) {
	const (
		ok   = history.OK
		fail = history.Fail
		info = history.Info
	)
	cases := []struct {
		err         error
		write, read history.Type
		kind        string
	}{
		{nil, ok, ok, ""},
		{redis.Nil, ok, ok, ""},
		{reply("MOVED 3999 127.0.0.3:6379"), fail, fail, KindMoved},
		{reply("ASK 3999 127.0.0.3:6379"), fail, fail, KindAsk},
		{reply("TRYAGAIN Multiple keys request during rehashing of slot"), fail, fail, KindTryAgain},
		{reply("CLUSTERDOWN The cluster is down"), fail, fail, KindClusterDown},
		{reply("CLUSTERDOWN Hash slot not served"), fail, fail, KindClusterDown},
		{redis.ErrCrossSlot, fail, fail, KindCrossSlot},
		{reply("CROSSSLOT Keys in request don't hash to the same slot"), fail, fail, KindCrossSlot},
		{reply("LOADING Redis is loading the dataset in memory"), fail, fail, KindLoading},
		{reply("READONLY You can't write against a read only replica."), fail, fail, KindReadOnly},
		{reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), fail, fail, KindMasterDown},
		{reply("NOREPLICAS Not enough good replicas to write."), fail, fail, KindRefused},
		{reply("OOM command not allowed when used memory > 'maxmemory'."), fail, fail, KindRefused},
		{reply("EXECABORT Transaction discarded because of previous errors."), fail, fail, KindRefused},
		{reply("NOSCRIPT No matching script. Please use EVAL."), fail, fail, KindRefused},
		{reply("ERR Error running script (call to f_1234): @user_script:1: oops"), info, fail, KindRedis},
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), info, fail, KindRedis},
		{fmt.Errorf("exec: %w", reply("MOVED 1 127.0.0.2:6379")), fail, fail, KindMoved},
		{opErr("read", os.ErrDeadlineExceeded), info, fail, KindTimeout}, // read tcp …: i/o timeout
		{opErr("write", os.ErrDeadlineExceeded), info, fail, KindTimeout},
		{context.DeadlineExceeded, info, fail, KindTimeout},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), info, fail, KindTimeout},
		{context.Canceled, info, fail, KindCanceled},
		{io.EOF, info, fail, KindEOF},
		{io.ErrUnexpectedEOF, info, fail, KindEOF},
		{opErr("dial", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), fail, fail, KindConnect},
		{opErr("dial", os.ErrDeadlineExceeded), fail, fail, KindConnect}, // dial tcp …: i/o timeout
		{fmt.Errorf("pool: %w", opErr("dial", &os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH})), fail, fail, KindConnect},
		{redis.ErrPoolTimeout, fail, fail, KindConnect},
		{redis.ErrClosed, fail, fail, KindConnect},
		{&heldError{addr: "127.0.0.1:6379", since: time.Second}, fail, fail, KindConnect},
		{opErr("read", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), info, fail, KindReset},
		{opErr("write", &os.SyscallError{Syscall: "write", Err: syscall.EPIPE}), info, fail, KindReset},
		{opErr("read", net.ErrClosed), info, fail, KindReset},
		// Errors that reached us as text only.
		{errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), fail, fail, KindConnect},
		{errors.New("read tcp 127.0.0.1:5000->127.0.0.1:6379: i/o timeout"), info, fail, KindTimeout},
		{errors.New("read tcp 127.0.0.1:5000->127.0.0.1:6379: read: connection reset by peer"), info, fail, KindReset},
		{errors.New("unexpected EOF"), info, fail, KindEOF},
		{errors.New("redis: something new"), info, fail, KindOther},
	}
	for _, tc := range cases {
		name := "nil"
		if tc.err != nil {
			name = tc.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.err, true); got != (Class{Type: tc.write, Kind: tc.kind}) {
				t.Errorf("write: %+v, want %s %q", got, tc.write, tc.kind)
			}
			if got := Classify(tc.err, false); got != (Class{Type: tc.read, Kind: tc.kind}) {
				t.Errorf("read: %+v, want %s %q", got, tc.read, tc.kind)
			}
			// The slot map is refreshed after the node did not answer or
			// said CLUSTERDOWN, and after nothing else.
			want := false
			switch tc.kind {
			case KindConnect, KindTimeout, KindEOF, KindReset, KindClusterDown:
				want = true
			}
			if got := staleRoute(tc.err); got != want {
				t.Errorf("staleRoute: %v, want %v", got, want)
			}
			// The text alone, as a history records it, is classed with
			// the same kind: the statistics and reports name errors as
			// the client does. Every error text in this table carries its
			// kind (nil and redis.Nil are no error: nothing is recorded).
			if tc.kind != "" {
				if got := history.ErrorKind(tc.err.Error()); got != tc.kind {
					t.Errorf("history.ErrorKind(%q) = %q, want Classify's %q", tc.err.Error(), got, tc.kind)
				}
			}
		})
	}
}

// TestFinishAfterUnknownAttempt: a write whose earlier attempt may have been
// executed is info, whatever the later attempts got; a read is not.
func TestFinishAfterUnknownAttempt(t *testing.T) {
	write := &call{f: "incr", key: "{counter:0}", value: int64(2), mutates: true}
	read := &call{f: "read", key: "{counter:0}"}
	for _, last := range []error{nil, reply("CLUSTERDOWN The cluster is down")} {
		tr := &tracker{}
		tr.observe("127.0.0.1:1", io.EOF)
		tr.observe("127.0.0.1:1", last)
		if r := finish(write, tr, nil, last); r.typ != history.Info || r.value != int64(2) {
			t.Errorf("write retried after EOF, then %v: %s %v %q, want info with the increment", last, r.typ, r.value, r.err)
		}
		if r := finish(read, tr, nil, last); r.typ == history.Info {
			t.Errorf("read retried after EOF, then %v: info, want ok or fail", last)
		}
	}
	// Nothing reached a node: not sent, so fail even for a timeout.
	if r := finish(write, &tracker{}, nil, context.DeadlineExceeded); r.typ != history.Fail {
		t.Errorf("deadline before any node got it: %s, want fail", r.typ)
	}
}

func TestKindsAreRetryOnNames(t *testing.T) {
	for _, k := range Kinds() {
		if err := (RetryPolicy{RetryOn: []string{k}}).Validate(); err != nil && k != KindCrossSlot {
			t.Errorf("%s: %v", k, err)
		}
	}
}
