package history

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The records of topology.jsonl, the run dir's other contract file: the
// monitor (in topology) writes them, the checkers and reports read them.

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

// SlotKeys is what one node holds in one slot.
type SlotKeys struct {
	// Count is CLUSTER COUNTKEYSINSLOT's answer.
	Count int `json:"count"`
	// Keys are the first MaxSlotKeys of them (CLUSTER GETKEYSINSLOT), so
	// that a key present on both ends of a migration can be named.
	Keys []string `json:"keys,omitempty"`
	// Err is why they could not be read (then Count is 0).
	Err string `json:"error,omitempty"`
}

// SlotRange is an inclusive range of slots, [Start, End].
type SlotRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Len is the number of slots in r.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

// String formats r as Redis does: "5" or "0-5460".
func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// MarshalJSON writes r as the pair [start, end], the shape of the --json outputs.
func (r SlotRange) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("[%d,%d]", r.Start, r.End)), nil
}

// UnmarshalJSON reads the pair [start, end].
func (r *SlotRange) UnmarshalJSON(b []byte) error {
	var p []int
	if err := json.Unmarshal(b, &p); err != nil || len(p) != 2 {
		return fmt.Errorf("slot range %s: want [start,end]", b)
	}
	r.Start, r.End = p[0], p[1]
	return nil
}

// CountSlots is the number of slots in ranges.
func CountSlots(ranges []SlotRange) int {
	n := 0
	for _, r := range ranges {
		n += r.Len()
	}
	return n
}
