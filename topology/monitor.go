package topology

import (
	"context"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// Sample is one line of topology.jsonl: what every node said at one
// moment. The run-dir contract's types live in checker/history, which the
// checkers and reports read them by; these are the same types.
type (
	Sample     = history.Sample
	SampleNode = history.SampleNode
)

// SampleOf turns a snapshot into a Sample taken at t (ns since the run started).
func SampleOf(s *Snapshot, t int64) Sample {
	out := Sample{Time: t, Nodes: make([]SampleNode, 0, len(s.Views))}
	for _, v := range s.Views {
		sn := SampleNode{Addr: v.Addr, Error: v.Err}
		if v.Err == "" {
			sn.State = v.Info.State
			sn.LinkStatus = v.Repl.MasterLinkStatus
			sn.OpenSlotKeys = v.OpenSlotKeys
			sn.Owners = map[string][]SlotRange{}
			for _, n := range v.Nodes {
				if n.Myself() {
					sn.ID, sn.Role, sn.MasterID, sn.Epoch, sn.Slots = n.ID, n.Role(), n.MasterID, n.ConfigEpoch, n.Slots
					sn.Migrating, sn.Importing = n.Migrating, n.Importing
				}
				if n.IsMaster() && len(n.Slots) > 0 {
					sn.Owners[n.ID] = n.Slots
				}
				if n.Failed(true) {
					sn.Failed = append(sn.Failed, n.ID)
				}
			}
			for _, n := range v.Nodes {
				if n.IsReplica() && n.MasterID == sn.ID {
					sn.Replicas = append(sn.Replicas, n.ID)
				}
			}
		}
		out.Nodes = append(out.Nodes, sn)
	}
	return out
}

// Monitor samples every node every interval until ctx ends, handing each
// sample to emit. Members are re-discovered each time through addrs().
//
// The period holds whatever the nodes do: the nodes are asked concurrently,
// over connections of the monitor's own, and each is waited for at most
// one interval; a node that has not answered by then (paused, cut off,
// dead) is recorded with its error in that sample, and the next sample is
// taken on time. A sample's Time is when its questions were sent, so the
// times at which a sample shows something (a replica promoted, every node
// agreeing) are true to within the nodes' answer times, not late by the
// slowest node's timeout.
func (a *Admin) Monitor(ctx context.Context, interval time.Duration, addrs func() []string, now func() int64, emit func(Sample)) {
	m := NewAdmin()
	m.Timeout = interval
	defer m.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		at := now()
		sctx, cancel := context.WithTimeout(ctx, interval)
		snap := m.Snapshot(sctx, addrs())
		cancel()
		if ctx.Err() != nil {
			return
		}
		emit(SampleOf(snap, at))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
