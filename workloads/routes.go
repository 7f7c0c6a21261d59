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

	mu        sync.Mutex
	lastStart time.Time // when the last completed refresh began
	flight    *flight   // the refresh under way, nil if none
	known     map[string]bool
	suspects  map[string]time.Time // node → its last error that said the route may be stale
	nSuspects atomic.Int32         // len(suspects), read without the lock on every reply
	refreshes atomic.Int64         // refreshes done
}

// flight is one refresh under way; done is closed when it ends.
type flight struct {
	start time.Time
	done  chan struct{}
}

func newRoutes(probe time.Duration) *routes {
	return &routes{probe: probe, every: refreshEvery, known: map[string]bool{}, suspects: map[string]time.Time{}}
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
	if !stale && r.nSuspects.Load() == 0 {
		return
	}
	r.mu.Lock()
	if stale {
		r.suspects[addr] = time.Now()
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
	at, ok := r.suspects[addr]
	if !ok || now.Sub(at) > suspectFor {
		return ""
	}
	for a := range r.known {
		if t, bad := r.suspects[a]; !bad || now.Sub(t) > suspectFor {
			return fmt.Sprintf("slot map not asked of %s: it failed %v ago", addr, now.Sub(at).Round(time.Millisecond))
		}
	}
	return "" // every node failed lately: ask them all the same
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

		r.load(ctx)

		r.mu.Lock()
		r.flight, r.lastStart = nil, f.start
		r.mu.Unlock()
		close(f.done)
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
