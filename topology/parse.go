package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// NodeInfo is one line of CLUSTER NODES: how the answering node sees one node.
type NodeInfo struct {
	ID          string      `json:"id"`
	Addr        string      `json:"addr"` // ip:port, empty for a node with no address yet
	BusPort     int         `json:"bus_port"`
	Hostname    string      `json:"hostname,omitempty"`
	Flags       []string    `json:"flags"`
	MasterID    string      `json:"master_id,omitempty"` // for replicas
	PingSent    int64       `json:"ping_sent"`
	PongRecv    int64       `json:"pong_recv"`
	ConfigEpoch int64       `json:"config_epoch"`
	Connected   bool        `json:"connected"`
	Slots       []SlotRange `json:"slots,omitempty"`
	// Migrating and Importing map an open slot to the other node's id; Redis
	// shows them only on the answering node's own line.
	Migrating map[int]string `json:"migrating,omitempty"`
	Importing map[int]string `json:"importing,omitempty"`
}

// Has reports whether the node carries flag (myself, master, slave, fail?, fail, handshake, noaddr, nofailover).
func (n NodeInfo) Has(flag string) bool {
	for _, f := range n.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// Myself is true on the answering node's own line.
func (n NodeInfo) Myself() bool { return n.Has("myself") }

// IsMaster is true for masters (also failed ones).
func (n NodeInfo) IsMaster() bool { return n.Has("master") }

// IsReplica is true for replicas.
func (n NodeInfo) IsReplica() bool { return n.Has("slave") }

// Role is "master", "replica", or "unknown" (e.g. a node in handshake).
func (n NodeInfo) Role() string {
	switch {
	case n.IsMaster():
		return "master"
	case n.IsReplica():
		return "replica"
	}
	return "unknown"
}

// Failed is true when the node is flagged fail or, with pfail, fail?.
func (n NodeInfo) Failed(pfail bool) bool {
	return n.Has("fail") || pfail && n.Has("fail?")
}

// ParseClusterNodes reads the text of CLUSTER NODES.
func ParseClusterNodes(text string) ([]NodeInfo, error) {
	var out []NodeInfo
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := parseNodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES line %d: %w", i+1, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseNodeLine(line string) (NodeInfo, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return NodeInfo{}, fmt.Errorf("want at least 8 fields, got %d in %q", len(f), line)
	}
	n := NodeInfo{ID: f[0], Flags: strings.Split(f[2], ","), Connected: f[7] == "connected"}
	// ip:port@cport[,hostname]
	addr, host, _ := strings.Cut(f[1], ",")
	n.Hostname = host
	hp, bus, _ := strings.Cut(addr, "@")
	if hp != ":0" && hp != ":" {
		n.Addr = hp
	}
	if bus != "" {
		n.BusPort, _ = strconv.Atoi(bus)
	}
	if f[3] != "-" {
		n.MasterID = f[3]
	}
	var err error
	if n.PingSent, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return n, fmt.Errorf("ping-sent %q: %w", f[4], err)
	}
	if n.PongRecv, err = strconv.ParseInt(f[5], 10, 64); err != nil {
		return n, fmt.Errorf("pong-recv %q: %w", f[5], err)
	}
	if n.ConfigEpoch, err = strconv.ParseInt(f[6], 10, 64); err != nil {
		return n, fmt.Errorf("config-epoch %q: %w", f[6], err)
	}
	// A set, not a list: a line repeating "0-16383" must not grow memory
	// with every repeat (CLUSTER NODES is a server's word, outside input).
	var owned [NumSlots]bool
	for _, s := range f[8:] {
		if strings.HasPrefix(s, "[") { // [slot->-id] migrating, [slot-<-id] importing
			body := strings.Trim(s, "[]")
			if slot, id, ok := strings.Cut(body, "->-"); ok {
				v, err := strconv.Atoi(slot)
				if err != nil {
					return n, fmt.Errorf("open slot %q: %w", s, err)
				}
				if n.Migrating == nil {
					n.Migrating = map[int]string{}
				}
				n.Migrating[v] = id
			} else if slot, id, ok := strings.Cut(body, "-<-"); ok {
				v, err := strconv.Atoi(slot)
				if err != nil {
					return n, fmt.Errorf("open slot %q: %w", s, err)
				}
				if n.Importing == nil {
					n.Importing = map[int]string{}
				}
				n.Importing[v] = id
			} else {
				return n, fmt.Errorf("open slot %q: want [slot->-id] or [slot-<-id]", s)
			}
			continue
		}
		r, err := ParseSlotRange(s)
		if err != nil {
			return n, err
		}
		for slot := r.Start; slot <= r.End; slot++ {
			owned[slot] = true
		}
	}
	var slots []int
	for slot, ok := range owned {
		if ok {
			slots = append(slots, slot)
		}
	}
	n.Slots = Ranges(slots)
	return n, nil
}

// ParseInfo reads the "key:value" lines of INFO or CLUSTER INFO into a map;
// section headers and blank lines are skipped.
func ParseInfo(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// ClusterInfo is CLUSTER INFO, parsed.
type ClusterInfo struct {
	State         string `json:"cluster_state"`
	SlotsAssigned int    `json:"cluster_slots_assigned"`
	SlotsOK       int    `json:"cluster_slots_ok"`
	SlotsPFail    int    `json:"cluster_slots_pfail"`
	SlotsFail     int    `json:"cluster_slots_fail"`
	KnownNodes    int    `json:"cluster_known_nodes"`
	Size          int    `json:"cluster_size"`
	CurrentEpoch  int64  `json:"cluster_current_epoch"`
	MyEpoch       int64  `json:"cluster_my_epoch"`
}

// ParseClusterInfo reads the text of CLUSTER INFO.
func ParseClusterInfo(text string) (ClusterInfo, error) {
	m := ParseInfo(text)
	if _, ok := m["cluster_state"]; !ok {
		return ClusterInfo{}, fmt.Errorf("CLUSTER INFO: no cluster_state in %q", firstLine(text))
	}
	var ci ClusterInfo
	var errs []string
	num := func(k string) int64 {
		v, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil {
			errs = append(errs, k)
		}
		return v
	}
	ci.State = m["cluster_state"]
	ci.SlotsAssigned = int(num("cluster_slots_assigned"))
	ci.SlotsOK = int(num("cluster_slots_ok"))
	ci.SlotsPFail = int(num("cluster_slots_pfail"))
	ci.SlotsFail = int(num("cluster_slots_fail"))
	ci.KnownNodes = int(num("cluster_known_nodes"))
	ci.Size = int(num("cluster_size"))
	ci.CurrentEpoch = num("cluster_current_epoch")
	ci.MyEpoch = num("cluster_my_epoch")
	if len(errs) > 0 {
		return ci, fmt.Errorf("CLUSTER INFO: fields not numbers: %s", strings.Join(errs, ", "))
	}
	return ci, nil
}

// Replication is the replication section of INFO, the fields the harness uses.
type Replication struct {
	Role string `json:"role"` // master or slave, as Redis says
	// Replica side.
	MasterHost       string `json:"master_host,omitempty"`
	MasterPort       int    `json:"master_port,omitempty"`
	MasterLinkStatus string `json:"master_link_status,omitempty"` // up or down
	// MasterLastIOSecondsAgo is the link's age: seconds since the last
	// interaction with the master (-1 when never).
	MasterLastIOSecondsAgo int   `json:"master_last_io_seconds_ago,omitempty"`
	SlaveReplOffset        int64 `json:"slave_repl_offset,omitempty"`
	// Master side.
	ConnectedSlaves  int   `json:"connected_slaves"`
	MasterReplOffset int64 `json:"master_repl_offset"`
}

// ParseReplication reads INFO replication.
func ParseReplication(text string) Replication {
	m := ParseInfo(text)
	atoi := func(k string) int { v, _ := strconv.Atoi(m[k]); return v }
	atoi64 := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	return Replication{
		Role:                   m["role"],
		MasterHost:             m["master_host"],
		MasterPort:             atoi("master_port"),
		MasterLinkStatus:       m["master_link_status"],
		MasterLastIOSecondsAgo: atoi("master_last_io_seconds_ago"),
		SlaveReplOffset:        atoi64("slave_repl_offset"),
		ConnectedSlaves:        atoi("connected_slaves"),
		MasterReplOffset:       atoi64("master_repl_offset"),
	}
}

// Shard is one entry of CLUSTER SHARDS.
type Shard struct {
	Slots []SlotRange   `json:"slots"`
	Nodes []ShardMember `json:"nodes"`
}

// ShardMember is a node within a Shard.
type ShardMember struct {
	ID                string `json:"id"`
	Endpoint          string `json:"endpoint"`
	IP                string `json:"ip"`
	Port              int    `json:"port"`
	Role              string `json:"role"` // master or replica
	ReplicationOffset int64  `json:"replication_offset"`
	Health            string `json:"health"` // online, failed, loading
}

// ParseClusterShards reads the generic reply of CLUSTER SHARDS (RESP2:
// arrays of alternating keys and values, as go-redis's Do returns it).
func ParseClusterShards(reply any) ([]Shard, error) {
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("CLUSTER SHARDS: want an array, got %T", reply)
	}
	var out []Shard
	for i, item := range list {
		m, err := respMap(item)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS shard %d: %w", i, err)
		}
		var sh Shard
		slots, _ := m["slots"].([]any)
		for j := 0; j+1 < len(slots); j += 2 {
			a, aok := slots[j].(int64)
			b, bok := slots[j+1].(int64)
			if !aok || !bok {
				return nil, fmt.Errorf("CLUSTER SHARDS shard %d: slots are not integers", i)
			}
			sh.Slots = append(sh.Slots, SlotRange{Start: int(a), End: int(b)})
		}
		nodes, _ := m["nodes"].([]any)
		for j, nv := range nodes {
			nm, err := respMap(nv)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER SHARDS shard %d node %d: %w", i, j, err)
			}
			str := func(k string) string { s, _ := nm[k].(string); return s }
			num := func(k string) int64 { v, _ := nm[k].(int64); return v }
			sh.Nodes = append(sh.Nodes, ShardMember{
				ID: str("id"), Endpoint: str("endpoint"), IP: str("ip"), Port: int(num("port")),
				Role: str("role"), ReplicationOffset: num("replication-offset"), Health: str("health"),
			})
		}
		out = append(out, sh)
	}
	return out, nil
}

// respMap turns a RESP2 flat key/value array (or a RESP3 map) into a map.
func respMap(v any) (map[string]any, error) {
	switch t := v.(type) {
	case map[any]any:
		out := map[string]any{}
		for k, v := range t {
			out[fmt.Sprint(k)] = v
		}
		return out, nil
	case []any:
		if len(t)%2 != 0 {
			return nil, fmt.Errorf("want key/value pairs, got %d items", len(t))
		}
		out := map[string]any{}
		for i := 0; i < len(t); i += 2 {
			out[fmt.Sprint(t[i])] = t[i+1]
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a map, got %T", v)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
