package workloads

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// routes keeps one client's slot map following the cluster: it refreshes
// the map on demand (refresh), at most once per refreshEvery, and knows
// which nodes just failed so that the refresh asks others (skip).
type routes struct {
	cc    *redis.ClusterClient
	probe time.Duration // each node's CLUSTER SLOTS timeout during a load
	every time.Duration // least time between two refreshes

	mu        sync.RWMutex
	lastStart time.Time // when the last completed refresh began
	flight    *flight   // the refresh under way, nil if none
	known     map[string]bool
	suspects  map[string]streak // nodes whose last answer said the route may be stale
	nSuspects atomic.Int32      // len(suspects), read without the lock on every reply
	refreshes atomic.Int64      // refreshes done
}

// streak is when a node's current run of failures began and its last
// one; timedOut says the last was a timeout (sent, no answer: a frozen
// node) rather than a refusal.
type streak struct {
	first, last time.Time
	timedOut    bool
	held        bool // an op is under way to it (hold)
}

// flight is one refresh under way; done is closed when it ends.
type flight struct {
	start time.Time
	done  chan struct{}
}

func newRoutes(probe time.Duration) *routes {
	return &routes{probe: probe, every: refreshEvery, known: map[string]bool{}, suspects: map[string]streak{}}
}

// know records a node go-redis made a client for.
func (r *routes) know(addr string) {
	r.mu.Lock()
	r.known[addr] = true
	r.mu.Unlock()
}

// observe is a reply (or error) of the node at addr: an error saying the
// route may be stale makes the node a suspect; any other answer clears it.
func (r *routes) observe(addr string, err error) {
	stale := staleRoute(err)
	if !stale {
		if r.nSuspects.Load() == 0 {
			return
		}
		r.mu.RLock()
		_, ok := r.suspects[addr]
		r.mu.RUnlock()
		if !ok {
			return
		}
	}
	r.mu.Lock()
	if stale {
		now := time.Now()
		st, ok := r.suspects[addr]
		if !ok || now.Sub(st.last) > suspectFor {
			st.first = now
		}
		st.last = now
		k, _ := kindOf(err)
		st.timedOut = k == KindTimeout
		r.suspects[addr] = st
	} else {
		delete(r.suspects, addr)
	}
	r.nSuspects.Store(int32(len(r.suspects)))
	r.mu.Unlock()
}

// skip says why a slot map load should not ask the node at addr (it failed
// within suspectFor and some other known node did not), or "" to ask it.
func (r *routes) skip(addr string) string {
	if r.nSuspects.Load() == 0 {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	st, ok := r.suspects[addr]
	if !ok || now.Sub(st.last) > suspectFor {
		return ""
	}
	for a := range r.known {
		if o, bad := r.suspects[a]; !bad || now.Sub(o.last) > suspectFor {
			return fmt.Sprintf("slot map not asked of %s: it failed %v ago", addr, now.Sub(st.last).Round(time.Millisecond))
		}
	}
	return "" // every node failed lately: ask them all the same
}

// hold is asked before an op is sent to addr. A node that stopped
// answering (its last op timed out, nothing answered since) gets one op at
// a time: that op finds out when it answers again, and the others are not
// sent (ok false, held says for how long it has not answered) instead of
// each waiting out its timeout, the workers stuck on a frozen master while
// the live ones go idle. release ends the op's hold.
func (r *routes) hold(addr string) (release func(), held time.Duration, ok bool) {
	nop := func() {}
	if r.nSuspects.Load() == 0 {
		return nop, 0, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, bad := r.suspects[addr]
	if !bad || !st.timedOut || time.Since(st.last) > suspectFor {
		return nop, 0, true
	}
	if st.held {
		return nil, time.Since(st.first), false
	}
	st.held = true
	r.suspects[addr] = st
	return func() {
		r.mu.Lock()
		if st, ok := r.suspects[addr]; ok {
			st.held = false
			r.suspects[addr] = st
		}
		r.mu.Unlock()
	}, 0, true
}

// suspectSince says whether the node at addr failed within suspectFor
// without answering since, and when its run of failures began.
func (r *routes) suspectSince(addr string) (time.Time, bool) {
	if addr == "" || r.nSuspects.Load() == 0 {
		return time.Time{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.suspects[addr]
	if !ok || time.Since(st.last) > suspectFor {
		return time.Time{}, false
	}
	return st.first, true
}

// refreshedSince says whether a completed refresh began after t.
func (r *routes) refreshedSince(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastStart.After(t)
}

// kick starts, in the background, the refresh that refresh(since) would
// wait for, unless one is under way, one began after since, or the last
// began less than r.every ago (then a later error kicks again, and the
// periodic reload stands behind).
func (r *routes) kick(since time.Time) {
	r.mu.Lock()
	if r.flight != nil || r.lastStart.After(since) || time.Since(r.lastStart) < r.every {
		r.mu.Unlock()
		return
	}
	f := &flight{start: time.Now(), done: make(chan struct{})}
	r.flight = f
	r.mu.Unlock()
	go r.fly(context.Background(), f)
}

// fly runs the refresh f and lets its waiters go.
func (r *routes) fly(ctx context.Context, f *flight) {
	r.load(ctx)
	r.mu.Lock()
	r.flight, r.lastStart = nil, f.start
	r.mu.Unlock()
	close(f.done)
}

// refresh returns once the slot map has been reloaded by a refresh that
// began after since (the start of an attempt that failed on the old map),
// or ctx has ended. Concurrent callers share one refresh; a new one begins
// at least r.every after the previous began. The reload is synchronous
// (go-redis's ReloadState only schedules one): ForEachMaster reloads the
// map before it visits the masters, and the visit does nothing.
func (r *routes) refresh(ctx context.Context, since time.Time) {
	for ctx.Err() == nil {
		r.mu.Lock()
		if f := r.flight; f != nil {
			r.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return
			}
			if f.start.After(since) {
				return
			}
			continue
		}
		if r.lastStart.After(since) {
			r.mu.Unlock()
			return
		}
		if wait := r.every - time.Since(r.lastStart); wait > 0 {
			r.mu.Unlock()
			if sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		f := &flight{start: time.Now(), done: make(chan struct{})}
		r.flight = f
		r.mu.Unlock()
		r.fly(ctx, f)
		return
	}
}

// load reloads the slot map once. Each node asked answers within r.probe
// (nodeHook), so the whole load is bounded by the nodes' number times that;
// the bound here is a ceiling on top.
func (r *routes) load(ctx context.Context) {
	r.mu.Lock()
	n := len(r.known)
	r.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, time.Duration(n+1)*r.probe)
	defer cancel()
	// A load that fails leaves the old map: the next error asks again.
	_ = r.cc.ForEachMaster(lctx, func(context.Context, *redis.Client) error { return nil })
	r.refreshes.Add(1)
}
