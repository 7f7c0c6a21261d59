package topology

// Status is the operator's view of a cluster, what `cluster status` and
// `cluster up --json` print.
type Status struct {
	Name    string `json:"name"`
	Backend string `json:"backend"`
	Healthy bool   `json:"healthy"`
	// State is cluster_state as the majority of reachable nodes report it.
	State         string       `json:"cluster_state"`
	SlotsAssigned int          `json:"slots_assigned"`
	SlotsOK       int          `json:"slots_ok"`
	SlotsPFail    int          `json:"slots_pfail"`
	SlotsFail     int          `json:"slots_fail"`
	NodesKnown    int          `json:"nodes_known"`
	NodesOK       int          `json:"nodes_ok"`
	Nodes         []StatusNode `json:"nodes"`
	Problems      []Problem    `json:"problems"`
	// Server is the server the nodes report themselves as ("Valkey
	// 8.1.1"; several, comma-separated, when they differ). Filled by Describe.
	Server string `json:"server,omitempty"`
}

// StatusNode is one node in a Status.
type StatusNode struct {
	ID          string      `json:"id"`
	Addr        string      `json:"addr"`
	Name        string      `json:"name,omitempty"` // the backend's name, for clusters the harness made
	Role        string      `json:"role"`           // master, replica, unknown
	MasterID    string      `json:"master_id"`
	Slots       []SlotRange `json:"slots"`
	ConfigEpoch int64       `json:"config_epoch"`
	Flags       []string    `json:"flags"`
	Reachable   bool        `json:"reachable"`
	// LagBytes is how far a replica's replication offset is behind its
	// master's; LinkAgeSeconds is master_last_io_seconds_ago. Replicas only.
	LagBytes       *int64 `json:"lag_bytes,omitempty"`
	LinkAgeSeconds *int   `json:"link_age_seconds,omitempty"`
	LinkStatus     string `json:"link_status,omitempty"`
	// LagMS is how long the replica took to reach the offset its master
	// had when asked (Admin.ReplicaLagMS); LagMSAtLeast marks a replica
	// that had not reached it within the wait, whose lag is at least
	// LagMS. Server is the node's INFO server. Both filled by Describe.
	LagMS        *int64 `json:"lag_ms,omitempty"`
	LagMSAtLeast bool   `json:"lag_ms_at_least,omitempty"`
	Server       string `json:"server,omitempty"`
}

// BuildStatus summarises a snapshot. names maps addresses to the backend's
// node names (may be nil).
func BuildStatus(s *Snapshot, name, backend string, e Expect, names map[string]string) Status {
	st := Status{Name: name, Backend: backend, Problems: s.Problems(e), Nodes: []StatusNode{}}
	if st.Problems == nil {
		st.Problems = []Problem{}
	}
	st.Healthy = len(st.Problems) == 0
	states := map[string]int{}
	for _, v := range s.Reachable() {
		states[v.Info.State]++
		if v.Info.SlotsAssigned > st.SlotsAssigned || st.State == "" {
			st.SlotsAssigned, st.SlotsOK, st.SlotsPFail, st.SlotsFail = v.Info.SlotsAssigned, v.Info.SlotsOK, v.Info.SlotsPFail, v.Info.SlotsFail
		}
		if st.State == "" || states[v.Info.State] > states[st.State] {
			st.State = v.Info.State
		}
	}
	if st.State == "" {
		st.State = "unknown"
	}
	offsets := map[string]int64{}
	for _, v := range s.Reachable() {
		if self, ok := v.Self(); ok && self.IsMaster() {
			offsets[self.ID] = v.Repl.MasterReplOffset
		}
	}
	for _, m := range s.Members() {
		n := StatusNode{
			ID: m.ID, Addr: m.Addr, Name: names[m.Addr], Role: m.Role(), MasterID: m.MasterID,
			Slots: m.Slots, ConfigEpoch: m.ConfigEpoch, Flags: m.Flags,
		}
		if n.Slots == nil {
			n.Slots = []SlotRange{}
		}
		if v := s.View(m.Addr); v != nil && v.Err == "" {
			n.Reachable = true
			if m.IsReplica() {
				n.LinkStatus = v.Repl.MasterLinkStatus
				age := v.Repl.MasterLastIOSecondsAgo
				n.LinkAgeSeconds = &age
				if off, ok := offsets[m.MasterID]; ok {
					lag := off - v.Repl.SlaveReplOffset
					n.LagBytes = &lag
				}
			}
		}
		if !m.Failed(true) && n.Reachable {
			st.NodesOK++
		}
		st.Nodes = append(st.Nodes, n)
	}
	st.NodesKnown = len(st.Nodes)
	return st
}
