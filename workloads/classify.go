package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// The kinds of outcome Classify tells apart. They name errors in
// RetryPolicy.RetryOn and in Outcome.Kind.
const (
	KindMoved       = "MOVED"       // redirect not followed: redirects exhausted
	KindAsk         = "ASK"         // likewise, mid-migration
	KindTryAgain    = "TRYAGAIN"    // multi-key op on a slot being migrated
	KindClusterDown = "CLUSTERDOWN" // the cluster is down, or the slot has no owner
	KindCrossSlot   = "CROSSSLOT"   // keys of one command in different slots
	KindLoading     = "LOADING"     // the node is loading its dataset
	KindReadOnly    = "READONLY"    // a write sent to a replica
	KindMasterDown  = "MASTERDOWN"  // a replica lost its master and serves nothing
	KindRefused     = "REFUSED"     // other replies Redis gives before executing: NOSCRIPT, OOM, NOREPLICAS, BUSY, EXECABORT, MISCONF, NOAUTH, NOPERM
	KindRedis       = "REDIS"       // any other error reply: it may come after part of a script ran
	KindConnect     = "connect"     // no connection: refused, dial timeout, no route; pool timeout; client closed; held back from a node that stopped answering
	KindTimeout     = "timeout"     // sent, no reply in time (i/o timeout, context deadline)
	KindCanceled    = "canceled"    // the caller gave up while the command was out
	KindEOF         = "EOF"         // the connection closed before the reply
	KindReset       = "reset"       // connection reset or broken pipe after sending
	KindOther       = "other"       // anything else the client returned
)

// refusals are error replies Redis sends instead of executing the command,
// as its processCommand rejects it before calling the command: the command
// certainly did not take effect.
var refusals = map[string]string{
	"MOVED": KindMoved, "ASK": KindAsk, "TRYAGAIN": KindTryAgain, "CLUSTERDOWN": KindClusterDown,
	"CROSSSLOT": KindCrossSlot, "LOADING": KindLoading, "READONLY": KindReadOnly, "MASTERDOWN": KindMasterDown,
	"NOSCRIPT": KindRefused, "OOM": KindRefused, "NOREPLICAS": KindRefused, "BUSY": KindRefused,
	"EXECABORT": KindRefused, "NOAUTH": KindRefused, "NOPERM": KindRefused,
	"MISCONF": KindRefused,
}

// Kinds lists every kind Classify returns for an error, the names
// RetryPolicy.RetryOn accepts.
func Kinds() []string {
	return []string{KindMoved, KindAsk, KindTryAgain, KindClusterDown, KindCrossSlot, KindLoading,
		KindReadOnly, KindMasterDown, KindRefused, KindRedis, KindConnect, KindTimeout, KindCanceled,
		KindEOF, KindReset, KindOther}
}

// Outcome is what one error says about an op.
type Outcome struct {
	// Type is OK, Fail (certainly did not take effect) or Info (unknown).
	Type history.Type
	// Kind names the error ("" when Type is OK): one of Kinds.
	Kind string
}

// Classify is the one place that turns a client result into ok, fail or
// info (DESIGN.md's semantics). mutates says whether the op can change
// state: an op that cannot (a read) is recorded fail on any error, since it
// had no effect whatever happened, as Jepsen does; an op that can is fail
// only when the error proves it was not executed, info otherwise.
//
// redis.Nil (a missing key) is OK: the reply is a null.
func Classify(err error, mutates bool) Outcome {
	if err == nil || errors.Is(err, redis.Nil) {
		return Outcome{Type: history.OK}
	}
	kind, refused := kindOf(err)
	if refused || !mutates {
		return Outcome{Type: history.Fail, Kind: kind}
	}
	return Outcome{Type: history.Info, Kind: kind}
}

// heldError is an attempt the client did not send: the slot map routes it
// to a node that stopped answering (an op there timed out and the node has
// not answered since) while another op already waits on that node
// (routes.hold).
type heldError struct {
	addr  string
	since time.Duration
}

func (e *heldError) Error() string {
	return fmt.Sprintf("not sent: %s has not answered for %v, and an op already waits on it", e.addr, e.since.Round(time.Millisecond))
}

// kindOf names err and says whether it proves the command was not executed.
func kindOf(err error) (kind string, refused bool) {
	var held *heldError
	if errors.As(err, &held) {
		return KindConnect, true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		word, _, _ := strings.Cut(msg, " ")
		if k, ok := refusals[word]; ok {
			return k, true
		}
		return KindRedis, false
	}
	// A dial error means no connection was made: nothing was sent. This is
	// checked first because a dial that timed out also matches the timeout
	// tests below.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return KindConnect, true
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindConnect, true
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted), errors.Is(err, redis.ErrClosed):
		return KindConnect, true
	case errors.Is(err, context.Canceled):
		return KindCanceled, false
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return KindTimeout, false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF, false
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return KindReset, false
	}
	// Errors that lost their type on the way (wrapped with %v by a layer of
	// go-redis) are recognized by their text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return KindConnect, true
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline exceeded"):
		return KindTimeout, false
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return KindReset, false
	case strings.HasSuffix(msg, "EOF"):
		return KindEOF, false
	}
	return KindOther, false
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// staleRoute reports whether err says the client's slot map may be out of
// date, so that it should be refreshed (from other nodes) before the next
// attempt: the node did not answer (no connection, refused, reset, closed,
// timed out) or answered CLUSTERDOWN (it no longer serves the slot, or
// the cluster is down). MOVED and ASK are not among them: go-redis follows
// them and reloads by itself.
func staleRoute(err error) bool {
	if err == nil {
		return false
	}
	switch k, _ := kindOf(err); k {
	case KindConnect, KindTimeout, KindEOF, KindReset, KindClusterDown:
		return true
	}
	return false
}

// isRedirect reports whether err is a MOVED or ASK reply.
func isRedirect(err error) bool {
	if err == nil {
		return false
	}
	k, _ := kindOf(err)
	return k == KindMoved || k == KindAsk
}
