package history

import (
	"slices"
	"testing"
)

// TestErrorKind classes error texts as histories record them. The texts of
// the client's own error table are checked against its Classify in
// workloads (TestClassify); these are the cases that only text has.
func TestErrorKind(t *testing.T) {
	for text, want := range map[string]string{
		"":                           "",
		"  ":                         "",
		CASMismatch:                  "",
		"MOVED 3999 10.0.0.3:6379":   KindMoved,
		"  ASK 3999 10.0.0.3:6379\n": KindAsk,
		"NOREPLICAS Not enough good replicas to write.":            KindRefused,
		"MISCONF Errors writing to the AOF file":                   KindRefused,
		"WRONGTYPE Operation against a key holding the wrong kind": KindRedis,
		"BUSYKEY Target key name already exists.":                  KindRedis,
		// The reply's own code decides, not a code quoted inside it.
		"ERR Error running script (call to f_1): @user_script:1: READONLY You can't write": KindRedis,
		"ERR unknown command 'ASKING'": KindRedis,
		// A reply a layer wrapped as text.
		"exec: MOVED 1 10.0.0.2:6379":    KindMoved,
		"pipeline: exec: TRYAGAIN later": KindTryAgain,
		"exec: ERR syntax error":         KindRedis,
		// The last attempt's error decides.
		"CLUSTERDOWN The cluster is down; retried after: EOF":          KindClusterDown,
		"i/o timeout; retried after: MOVED 1 10.0.0.2:6379":            KindTimeout,
		"cas-mismatch; retried after: read tcp 1.2.3.4:5: i/o timeout": "",
		// Connection and context texts of Go and go-redis.
		"dial tcp 10.0.0.3:6379: i/o timeout":                                            KindConnect,
		"pool: dial tcp 10.0.0.3:6379: connect: no route to host":                        KindConnect,
		"dial tcp 10.0.0.3:6379: connect: connection refused":                            KindConnect,
		"redis: connection pool timeout":                                                 KindConnect,
		"redis: connection pool exhausted":                                               KindConnect,
		"redis: client is closed":                                                        KindConnect,
		"not sent: 10.0.0.3:6379 has not answered for 2s, and an op already waits on it": KindConnect,
		"context canceled":                                                               KindCanceled,
		"read tcp 10.0.0.1:5000->10.0.0.3:6379: i/o timeout":                             KindTimeout,
		"context deadline exceeded":                                                      KindTimeout,
		"operation timed out":                                                            KindTimeout,
		"read tcp 10.0.0.1:5000->10.0.0.3:6379: read: connection reset by peer":          KindReset,
		"write tcp 10.0.0.1:5000->10.0.0.3:6379: write: broken pipe":                     KindReset,
		"read tcp 10.0.0.3:6379: use of closed network connection":                       KindReset,
		"EOF":                  KindEOF,
		"unexpected EOF":       KindEOF,
		"redis: something new": KindOther,
		"key {kv:1}: not read": KindOther,
	} {
		if got := ErrorKind(text); got != want {
			t.Errorf("ErrorKind(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestReplyKind(t *testing.T) {
	for reply, want := range map[string]struct {
		kind    string
		refused bool
	}{
		"MOVED 1 10.0.0.2:6379":             {KindMoved, true},
		"CROSSSLOT Keys in request":         {KindCrossSlot, true},
		"NOSCRIPT No matching script.":      {KindRefused, true},
		"ERR Error running script":          {KindRedis, false},
		"WRONGTYPE Operation against a key": {KindRedis, false},
	} {
		if k, r := ReplyKind(reply); k != want.kind || r != want.refused {
			t.Errorf("ReplyKind(%q) = %q %v, want %q %v", reply, k, r, want.kind, want.refused)
		}
	}
}

// TestErrorKinds: every kind ErrorKind or ReplyKind returns is listed once,
// and the list is the caller's own copy.
func TestErrorKinds(t *testing.T) {
	kinds := ErrorKinds()
	if len(kinds) != NumErrorKinds {
		t.Fatalf("%d kinds, NumErrorKinds %d", len(kinds), NumErrorKinds)
	}
	seen := map[string]bool{}
	for _, k := range kinds {
		if k == "" || seen[k] {
			t.Errorf("kind %q empty or listed twice", k)
		}
		seen[k] = true
	}
	for word, k := range refusals {
		if !seen[k] {
			t.Errorf("refusal %s: kind %q not listed", word, k)
		}
	}
	kinds[0] = "changed"
	if ErrorKinds()[0] != KindMoved || !slices.Contains(ErrorKinds(), KindOther) {
		t.Errorf("ErrorKinds shares its array: %v", ErrorKinds())
	}
}
