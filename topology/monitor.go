package topology

import (
	"context"
	"time"
)

// Sample is one line of topology.jsonl: what every node said at one moment.
type Sample struct {
	// Time is ns since the run started, like history times.
	Time int64 `json:"time"`
	// Nodes holds one entry per node asked, reachable or not.
	Nodes []SampleNode `json:"nodes"`
}

// SampleNode is one node's view in a Sample.
type SampleNode struct {
	Addr  string `json:"addr"`
	Error string `json:"error,omitempty"`
	// ID and Role ("master", "replica") are the node's own; Slots are the
	// slots it owns by its own account; MasterID for replicas.
	ID       string      `json:"id,omitempty"`
	Role     string      `json:"role,omitempty"`
	MasterID string      `json:"master_id,omitempty"`
	Epoch    int64       `json:"config_epoch,omitempty"`
	State    string      `json:"cluster_state,omitempty"`
	Slots    []SlotRange `json:"slots,omitempty"`
	// Owners is the node's whole slot map: node id → ranges it believes
	// that node owns (so the checker can see where nodes disagree).
	Owners map[string][]SlotRange `json:"owners,omitempty"`
	// Migrating and Importing are the node's open slots: slot → other node id.
	Migrating map[int]string `json:"migrating,omitempty"`
	Importing map[int]string `json:"importing,omitempty"`
	// OpenSlotKeys is, for each open slot, the keys the node holds in it
	// (count and first names), so that keys on both ends of a stopped
	// migration show; absent in samples written before it existed.
	OpenSlotKeys map[int]SlotKeys `json:"open_slot_keys,omitempty"`
	// Replicas is, for a master, the ids of replicas it knows of.
	Replicas   []string `json:"replicas,omitempty"`
	LinkStatus string   `json:"link_status,omitempty"` // replicas: master_link_status
	// Failed lists the node ids this node flags fail or fail?.
	Failed []string `json:"failed,omitempty"`
}

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
