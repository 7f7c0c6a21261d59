package topology

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// LagWithin is how long ReplicaLagMS waits for a replica to catch up
// before reporting the wait as a lower bound.
const LagWithin = 2 * time.Second

// ReplicaLagMS measures how far a replica is behind its master in time:
// it reads the master's master_repl_offset, then the replica's
// slave_repl_offset every millisecond until it has reached that offset.
// The time since the master was asked is the lag, to within a poll and
// the round trips (a caught-up replica reads 0). past is true when the
// replica had not caught up within `within`: the lag is at least ms then.
func (a *Admin) ReplicaLagMS(ctx context.Context, master, replica string, within time.Duration) (ms int64, past bool, err error) {
	start := time.Now()
	text, err := a.DoText(ctx, master, "INFO", "replication")
	if err != nil {
		return 0, false, fmt.Errorf("INFO replication of master %s: %w", master, err)
	}
	target := ParseReplication(text).MasterReplOffset
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		text, err := a.DoText(wctx, replica, "INFO", "replication")
		if err == nil && ParseReplication(text).SlaveReplOffset >= target {
			return time.Since(start).Milliseconds(), false, nil
		}
		if err != nil && wctx.Err() == nil {
			return 0, false, fmt.Errorf("INFO replication of replica %s: %w", replica, err)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			return time.Since(start).Milliseconds(), true, nil
		case <-time.After(time.Millisecond):
		}
	}
}

// Describe adds to a status what its snapshot does not hold: the server
// every reachable node reports itself as (INFO server), and each reachable
// replica's lag in milliseconds (ReplicaLagMS), all nodes at once.
func (a *Admin) Describe(ctx context.Context, st *Status, within time.Duration) {
	addrOf := map[string]string{}
	for _, n := range st.Nodes {
		addrOf[n.ID] = n.Addr
	}
	var mu sync.Mutex
	labels := map[string]bool{}
	wait.Parallel(len(st.Nodes), func(i int) error {
		n := &st.Nodes[i]
		if !n.Reachable {
			return nil
		}
		if id, err := a.Identify(ctx, n.Addr); err == nil {
			n.Server = id.Label()
			mu.Lock()
			labels[id.Label()] = true
			mu.Unlock()
		}
		if n.Role != "replica" || addrOf[n.MasterID] == "" {
			return nil
		}
		if ms, past, err := a.ReplicaLagMS(ctx, addrOf[n.MasterID], n.Addr, within); err == nil {
			n.LagMS, n.LagMSAtLeast = &ms, past
		}
		return nil
	})
	var all []string
	for l := range labels {
		all = append(all, l)
	}
	sort.Strings(all)
	st.Server = strings.Join(all, ", ")
}
