package netfilter

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// DelayLines are the open delay lines of their owner (a backend) by key:
// the owner's name for what the line delays, then NUL. They live in the
// value that opened them, so that its heal finds and closes them. The zero
// value is ready to use.
type DelayLines struct {
	mu sync.Mutex
	m  map[string]*DelayLine
}

// Take removes and returns the delay lines whose key has prefix; the
// caller closes them (CloseAll) once their rules are gone.
func (ls *DelayLines) Take(prefix string) []*DelayLine {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []*DelayLine
	for k, d := range ls.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, d)
			delete(ls.m, k)
		}
	}
	return out
}

func (ls *DelayLines) put(key string, d *DelayLine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = map[string]*DelayLine{}
	}
	ls.m[key] = d
}

// CloseAll drains and closes the lines (their rules already removed).
func CloseAll(ctx context.Context, lines []*DelayLine) error {
	var errs []error
	for _, d := range lines {
		errs = append(errs, d.Close(ctx))
	}
	return errors.Join(errs...)
}

// String is "delay 100ms ± 10ms loss 1%".
func (q Impairment) String() string {
	s := "delay " + q.Delay.String()
	if q.Jitter > 0 {
		s += " ± " + q.Jitter.String()
	}
	if q.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", q.Loss)
	}
	return s
}

// Netem is a delay line Install put in place, with the rule that feeds it.
type Netem struct {
	lines *DelayLines
	table Table
	chain string
	key   string
	match string
}

// Clear undoes the Install.
func (n Netem) Clear(ctx context.Context) error {
	return n.lines.Clear(ctx, n.table, n.chain, n.key, n.match)
}

// Install puts a delay line under key: the line first, then the rule that
// feeds it the packets matching match (in table t, chain chain hooked from
// hook). The old line of the same key, if any, goes once the new one is in
// place.
func (ls *DelayLines) Install(ctx context.Context, t Table, chain, hook, key, match string, q Impairment) (Netem, error) {
	made := Netem{lines: ls, table: t, chain: chain, key: key, match: match}
	d, err := OpenDelayLine(t.NetNS, QueueBase(key), q)
	if err != nil {
		return made, fmt.Errorf("netem %s in %s: %w", q, t.Where, err)
	}
	old := ls.Take(key + "\x00")
	ls.put(key+"\x00", d)
	if _, err := t.Add(ctx, chain, hook, nil, []string{QueueSpec(match, d.queue)}); err != nil {
		ls.Take(key + "\x00")
		d.Close(ctx)
		return made, fmt.Errorf("netem %s in %s: %w", q, t.Where, err)
	}
	var oldSpecs []string
	for _, o := range old {
		oldSpecs = append(oldSpecs, QueueSpec(match, o.queue))
	}
	if len(oldSpecs) > 0 {
		if err := t.Remove(ctx, chain, oldSpecs, nil); err != nil {
			return made, err
		}
	}
	return made, CloseAll(ctx, old)
}

// Clear removes every queue rule for match in the chain (whoever made it)
// and closes this owner's delay line of key.
func (ls *DelayLines) Clear(ctx context.Context, t Table, chain, key, match string) error {
	err := t.Remove(ctx, chain, nil, func(spec string) bool { return IsQueueSpec(spec, match) })
	if err != nil {
		return fmt.Errorf("clear netem in %s: %w", t.Where, err)
	}
	return CloseAll(ctx, ls.Take(key+"\x00"))
}

// QueueBase is where the search for a free queue number starts for key:
// spread by hash, so that keys sharing a namespace rarely collide.
func QueueBase(key string) uint16 {
	sum := sha256.Sum256([]byte(key))
	return 0x5248 + uint16(sum[0])<<4 + uint16(sum[1]&0xf)
}
