package topology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology/internal/wait"
)

// FailoverMode is how CLUSTER FAILOVER promotes a replica.
type FailoverMode string

const (
	// FailoverDefault: the master stops writes, the replica catches up with
	// its offset, then takes over; no acknowledged write is lost. It needs
	// the master reachable.
	FailoverDefault FailoverMode = "default"
	// FailoverForce skips the handshake with the master (it may be down) but
	// still asks the masters for a vote.
	FailoverForce FailoverMode = "force"
	// FailoverTakeover asks no one: the replica bumps its epoch and claims
	// the slots, even without a majority of masters.
	FailoverTakeover FailoverMode = "takeover"
)

// args is the command that asks for the failover.
func (m FailoverMode) args() ([]any, error) {
	switch m {
	case FailoverDefault, "":
		return []any{"CLUSTER", "FAILOVER"}, nil
	case FailoverForce:
		return []any{"CLUSTER", "FAILOVER", "FORCE"}, nil
	case FailoverTakeover:
		return []any{"CLUSTER", "FAILOVER", "TAKEOVER"}, nil
	}
	return nil, fmt.Errorf("failover mode %q: want default, force or takeover", string(m))
}

// Failover promotes the replica replicaID (a node id, unique prefix or
// address) with CLUSTER FAILOVER in the given mode. Redis answers OK as soon
// as the failover is scheduled, not done, so Failover then waits, at most
// timeout (default 30 s), until every reachable node sees the replica as a
// master and its old master as its replica or failed. It returns how long
// that took from the command; on timeout the error says what the views
// still show.
func (a *Admin) Failover(ctx context.Context, addrs []string, replicaID string, mode FailoverMode, timeout time.Duration) (time.Duration, error) {
	args, err := mode.args()
	if err != nil {
		return 0, err
	}
	if mode == "" {
		mode = FailoverDefault
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	s := a.Snapshot(ctx, addrs)
	n, err := s.Resolve(replicaID)
	if err != nil {
		return 0, fmt.Errorf("failover: %w", err)
	}
	self, ok := selfOf(s, n.ID)
	if !ok {
		return 0, fmt.Errorf("failover: %s cannot be reached: %s", nodeText(n), viewErr(s, n.Addr))
	}
	if !self.IsReplica() {
		hint := ""
		if self.IsMaster() {
			hint = replicasHint(s, self.ID)
		}
		return 0, fmt.Errorf("failover: %s is %s, not a replica: pass the id of a replica%s", nodeText(self), roleText(s, self), hint)
	}
	oldMaster := self.MasterID
	watch := append([]string(nil), addrs...)
	if !slices.Contains(watch, self.Addr) {
		watch = append(watch, self.Addr)
	}

	start := time.Now()
	if _, err := a.Do(ctx, self.Addr, args...); err != nil {
		return 0, fmt.Errorf("failover %s (%s): %w", nodeText(self), mode, err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = wait.Poll(wctx, 50*time.Millisecond, func() (bool, string, error) {
		why := failoverPending(a.Snapshot(wctx, watch), self, oldMaster)
		return why == "", why, nil
	})
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("failover %s (%s) of master %s: %w after %s: %w", nodeText(self), mode, ownerText(s, oldMaster), ErrFailoverPending, timeout, err)
	}
	return took, nil
}

// ErrFailoverPending marks a failover whose command the replica accepted but
// that not every reachable node showed done in time: it may still complete
// (an isolated replica's TAKEOVER does, once the partition heals).
var ErrFailoverPending = errors.New("sent, but not seen done by every node")

// failoverPending says which views do not yet show the failover done, or ""
// when all reachable ones do.
func failoverPending(s *Snapshot, replica NodeInfo, oldMaster string) string {
	var why []string
	if v := s.View(replica.Addr); v == nil || v.Err != "" {
		why = append(why, fmt.Sprintf("%s cannot be read", replica.Addr))
	}
	for _, v := range s.Reachable() {
		var r, m *NodeInfo
		for i := range v.Nodes {
			switch v.Nodes[i].ID {
			case replica.ID:
				r = &v.Nodes[i]
			case oldMaster:
				m = &v.Nodes[i]
			}
		}
		switch {
		case r == nil:
			why = append(why, fmt.Sprintf("%s does not know %s", v.Addr, short(replica.ID)))
		case !r.IsMaster():
			why = append(why, fmt.Sprintf("%s sees %s as %s", v.Addr, short(replica.ID), nodeRole(*r)))
		case m != nil && !m.Failed(true) && !(m.IsReplica() && m.MasterID == replica.ID):
			why = append(why, fmt.Sprintf("%s sees the old master %s as %s", v.Addr, short(oldMaster), nodeRole(*m)))
		}
	}
	return strings.Join(why, "; ")
}

// nodeRole is "master", "replica of 1a2b3c4d", or the flags.
func nodeRole(n NodeInfo) string {
	switch {
	case n.ID == "":
		return "unknown (not listed)"
	case n.IsReplica():
		return "replica of " + short(n.MasterID)
	case n.IsMaster():
		return fmt.Sprintf("master with %d slots", CountSlots(n.Slots))
	}
	return "flags " + strings.Join(n.Flags, ",")
}

// roleText is nodeRole with the master's address where known.
func roleText(s *Snapshot, n NodeInfo) string {
	if n.IsReplica() {
		return "a replica of " + ownerText(s, n.MasterID)
	}
	if n.IsMaster() {
		return fmt.Sprintf("a master with %d slots", CountSlots(n.Slots))
	}
	return "a node with flags " + strings.Join(n.Flags, ",")
}

// replicasHint names the replicas of master, for messages.
func replicasHint(s *Snapshot, master string) string {
	var ids []string
	for _, m := range s.Members() {
		if m.IsReplica() && m.MasterID == master {
			ids = append(ids, nodeText(m))
		}
	}
	if len(ids) == 0 {
		return " (it has none)"
	}
	return " (its replicas: " + strings.Join(ids, ", ") + ")"
}
