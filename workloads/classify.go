package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// The kinds of outcome Classify tells apart. They name errors in
// RetryPolicy.RetryOn and in Class.Kind, and are checker/history's kinds,
// the classes results.json's statistics count (history.ErrorKind).
const (
	KindMoved       = history.KindMoved       // redirect not followed: redirects exhausted
	KindAsk         = history.KindAsk         // likewise, mid-migration
	KindTryAgain    = history.KindTryAgain    // multi-key op on a slot being migrated
	KindClusterDown = history.KindClusterDown // the cluster is down, or the slot has no owner
	KindCrossSlot   = history.KindCrossSlot   // keys of one command in different slots
	KindLoading     = history.KindLoading     // the node is loading its dataset
	KindReadOnly    = history.KindReadOnly    // a write sent to a replica
	KindMasterDown  = history.KindMasterDown  // a replica lost its master and serves nothing
	KindRefused     = history.KindRefused     // other replies Redis gives before executing: NOSCRIPT, OOM, NOREPLICAS, BUSY, EXECABORT, MISCONF, NOAUTH, NOPERM
	KindRedis       = history.KindRedis       // any other error reply: it may come after part of a script ran
	KindConnect     = history.KindConnect     // no connection: refused, dial timeout, no route; pool timeout; client closed; held back from a node that stopped answering
	KindTimeout     = history.KindTimeout     // sent, no reply in time (i/o timeout, context deadline)
	KindCanceled    = history.KindCanceled    // the caller gave up while the command was out
	KindEOF         = history.KindEOF         // the connection closed before the reply
	KindReset       = history.KindReset       // connection reset or broken pipe after sending
	KindOther       = history.KindOther       // anything else the client returned
)

// Kinds lists every kind Classify returns for an error, the names
// RetryPolicy.RetryOn accepts.
func Kinds() []string { return history.ErrorKinds() }

// Class is the class Classify puts a client result in: what it says about
// the op (ok, fail or info) and, for an error, its kind. (A run's outcome
// is another thing: scenarios.Outcome.)
type Class struct {
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
func Classify(err error, mutates bool) Class {
	if err == nil || errors.Is(err, redis.Nil) {
		return Class{Type: history.OK}
	}
	kind, refused := kindOf(err)
	if refused || !mutates {
		return Class{Type: history.Fail, Kind: kind}
	}
	return Class{Type: history.Info, Kind: kind}
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
		return history.ReplyKind(rerr.Error())
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
	// go-redis) are recognized by their text, by the rules that class a
	// history's error texts. Of those, only a connect error proves the
	// command was not sent: a reply code in a text that lost its type is
	// not trusted to prove it.
	if kind = history.ErrorKind(err.Error()); kind == "" {
		return KindOther, false
	}
	return kind, kind == KindConnect
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
