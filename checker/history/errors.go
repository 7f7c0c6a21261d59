package history

import "strings"

// The kinds of error, one name for each: the client's Class.Kind
// (workloads.Classify) and RetryPolicy.RetryOn names, and the classes that
// results.json's stats.errors counts. The client tells them apart from the
// error's Go type first; ErrorKind tells them apart from the error's text
// alone.
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

// errorKinds is every kind, in report order.
var errorKinds = [...]string{KindMoved, KindAsk, KindTryAgain, KindClusterDown, KindCrossSlot, KindLoading,
	KindReadOnly, KindMasterDown, KindRefused, KindRedis, KindConnect, KindTimeout, KindCanceled,
	KindEOF, KindReset, KindOther}

// NumErrorKinds is len(ErrorKinds()), for arrays indexed by kind.
const NumErrorKinds = len(errorKinds)

// ErrorKinds lists every kind, in report order (a fresh slice).
func ErrorKinds() []string { return append([]string(nil), errorKinds[:]...) }

// CASMismatch is the error text of a compare-and-set that found another
// value: an answer, not an error, so it has no kind.
const CASMismatch = "cas-mismatch"

// RetriedAfter joins the error of an op's last attempt to the error of an
// earlier attempt that may have been executed: "<last>; retried after:
// <earlier>". ErrorKind classes the last.
const RetriedAfter = "; retried after: "

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

// ReplyKind classes a Redis error reply by its code, its first word: the
// kind of a refusal (a reply that proves the command was not executed)
// with refused true, KindRedis for any other reply.
func ReplyKind(reply string) (kind string, refused bool) {
	word, _, _ := strings.Cut(reply, " ")
	if k, ok := refusals[word]; ok {
		return k, true
	}
	return KindRedis, false
}

// isReplyCode reports whether word looks like a Redis error code: capital
// letters (ERR, WRONGTYPE, NOSCRIPT…). EOF is Go's end of input, not a
// reply.
func isReplyCode(word string) bool {
	if len(word) < 2 || word == "EOF" {
		return false
	}
	for _, r := range word {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

// ErrorKind classes an error text, as a history records it in a
// completion's error, with the names the client uses: "" for no error and
// for CASMismatch; the kind of the Redis reply it starts with; the
// connection, timeout, cancel, EOF and reset texts of Go and go-redis; the
// kind of a Redis reply that a layer wrapped ("exec: MOVED …"); KindOther
// for the rest. Of "<last>; retried after: <earlier>" it classes the last
// attempt's error, as the client does.
func ErrorKind(text string) string {
	t := strings.TrimSpace(text)
	t, _, _ = strings.Cut(t, RetriedAfter)
	if t == "" || t == CASMismatch {
		return ""
	}
	word, _, _ := strings.Cut(t, " ")
	if isReplyCode(word) {
		k, _ := ReplyKind(t)
		return k
	}
	if k := transportKind(t); k != "" {
		return k
	}
	// A reply wrapped by a layer that lost its type: "exec: MOVED …".
	for rest := t; ; {
		_, after, ok := strings.Cut(rest, ": ")
		if !ok {
			break
		}
		if w, _, _ := strings.Cut(after, " "); isReplyCode(w) {
			k, _ := ReplyKind(after)
			return k
		}
		rest = after
	}
	return KindOther
}

// transportKind names the errors of the connection and of the caller's
// context by their texts (Go's net and context packages, go-redis's pool),
// "" for none of them. A dial error (no connection was made, nothing was
// sent) goes before the timeouts, since a dial that timed out also says
// "i/o timeout".
func transportKind(t string) string {
	switch {
	case strings.HasPrefix(t, "not sent: "), // the client held it back (workloads' heldError)
		strings.HasPrefix(t, "dial "), strings.Contains(t, ": dial "),
		strings.Contains(t, "connection refused"),
		strings.Contains(t, "redis: connection pool timeout"),
		strings.Contains(t, "redis: connection pool exhausted"),
		strings.Contains(t, "redis: client is closed"):
		return KindConnect
	case strings.Contains(t, "context canceled"):
		return KindCanceled
	case strings.Contains(t, "i/o timeout"), strings.Contains(t, "deadline exceeded"),
		strings.Contains(t, "timed out"), strings.Contains(t, "timeout"):
		return KindTimeout
	case strings.Contains(t, "connection reset"), strings.Contains(t, "broken pipe"),
		strings.Contains(t, "use of closed network connection"):
		return KindReset
	case strings.HasSuffix(t, "EOF"):
		return KindEOF
	}
	return ""
}
