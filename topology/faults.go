package topology

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// The fault primitives the nemesis composes its faults from. They are
// optional abilities of a backend, found by type assertion (b.(Lifecycle),
// b.(Network)), so that a backend without them (a cluster reached only by
// address) simply lacks them. Each primitive records nothing, does one thing,
// is idempotent, and says in its errors what it attempted.

// Lifecycle stops, starts and freezes a node's server.
type Lifecycle interface {
	// Kill stops the node's server at once (SIGKILL; docker kill), leaving
	// its data dir and nodes.conf as they were. A node already down is left so.
	Kill(ctx context.Context, c *Cluster, node string) error
	// Restart starts a killed node again with its own config, data dir and
	// nodes.conf, at the same address, and returns once it answers PING. A
	// running node is left as it is.
	Restart(ctx context.Context, c *Cluster, node string) error
	// Pause freezes the node's server (SIGSTOP; docker pause): its
	// connections stay open and nothing answers on them.
	Pause(ctx context.Context, c *Cluster, node string) error
	// Resume undoes Pause; a node not paused is left as it is.
	Resume(ctx context.Context, c *Cluster, node string) error
}

// Cut is a one-way cut: every packet from From's address to To's address
// (the client port and the cluster bus alike) is dropped. From and To are
// node names or addresses. Traffic from the harness's own clients, which run
// on this machine, is never cut, so a node cut off from the rest of the
// cluster still serves them.
type Cut struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// String is "from->to".
func (c Cut) String() string { return c.From + "->" + c.To }

// Network cuts links between nodes and degrades a node's network. The rules
// live in a chain of the cluster's own (ChainName), which HealNetwork and
// Cleanup remove whole.
type Network interface {
	// Partition adds the cuts; cuts already in place stay once.
	Partition(ctx context.Context, c *Cluster, cuts []Cut) error
	// Unpartition removes the cuts; cuts not in place are no error.
	Unpartition(ctx context.Context, c *Cluster, cuts []Cut) error
	// HealNetwork removes every rule of the cluster: all cuts and all netem.
	HealNetwork(ctx context.Context, c *Cluster) error
	// Netem delays and drops the packets addressed to the node (from its
	// clients and its peers alike), replacing what an earlier Netem set.
	Netem(ctx context.Context, c *Cluster, node string, q NetemSpec) error
	// ClearNetem removes the node's netem; a node without one is no error.
	ClearNetem(ctx context.Context, c *Cluster, node string) error
}

// NetemSpec is a network quality fault: every packet addressed to the node
// is held for Delay ± Jitter (uniform) and dropped with probability Loss
// percent.
type NetemSpec struct {
	Delay  time.Duration `json:"delay"`
	Jitter time.Duration `json:"jitter,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
}

// maxNetemDelay bounds Delay+Jitter: packets are held in the kernel's queue
// meanwhile, and a longer hold is better done with a partition.
const maxNetemDelay = 10 * time.Second

// Validate says what is wrong with q.
func (q NetemSpec) Validate() error {
	switch {
	case q.Delay < 0 || q.Jitter < 0:
		return fmt.Errorf("netem %s: delay and jitter must not be negative", q)
	case q.Jitter > q.Delay:
		return fmt.Errorf("netem %s: jitter must not exceed the delay", q)
	case q.Delay+q.Jitter > maxNetemDelay:
		return fmt.Errorf("netem %s: delay plus jitter must stay within %s (use a partition for longer)", q, maxNetemDelay)
	case q.Loss < 0 || q.Loss > 100:
		return fmt.Errorf("netem %s: loss is a percentage, 0 to 100", q)
	case q.Delay == 0 && q.Loss == 0:
		return fmt.Errorf("netem %s: give a delay, a loss, or both", q)
	}
	return nil
}

// String is "delay 100ms ± 10ms loss 1%".
func (q NetemSpec) String() string {
	s := "delay " + q.Delay.String()
	if q.Jitter > 0 {
		s += " ± " + q.Jitter.String()
	}
	if q.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", q.Loss)
	}
	return s
}

// Ability is a kind of fault primitive a backend may be unable to do here.
type Ability string

// The abilities CanFault is asked about.
const (
	// AbilityLifecycle is Kill, Restart, Pause and Resume.
	AbilityLifecycle Ability = "lifecycle"
	// AbilityPartition is Partition, Unpartition and HealNetwork.
	AbilityPartition Ability = "partition"
	// AbilityNetem is Netem and ClearNetem.
	AbilityNetem Ability = "netem"
)

// FaultChecker is implemented by backends whose fault primitives depend on
// this machine (root, iptables, a local docker engine): CanFault says, before
// a run starts, why an ability cannot be used here, or nil.
type FaultChecker interface {
	CanFault(a Ability) error
}

// ChainPrefix starts the name of every iptables chain the harness makes;
// Cleanup removes the chains that carry it.
const ChainPrefix = "RH-"

// ChainName is the iptables chain of the cluster's rules: ChainPrefix and a
// hash of its name and state dir, so that clusters of the same name in two
// stores (two test runs) on one machine do not share rules.
func ChainName(c *Cluster) string {
	sum := sha256.Sum256([]byte(c.Name + "\x00" + c.Dir))
	return ChainPrefix + hex.EncodeToString(sum[:5])
}
