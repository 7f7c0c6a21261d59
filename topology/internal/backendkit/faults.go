package backendkit

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/netfilter"
)

// NeedRoot is the error of a network fault attempted without root; how
// says what the backend's network faults are made of.
func NeedRoot(backend, how string, a topology.Ability) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("%s faults on the %s backend need root (they are %s); this harness runs as uid %d: run it as root", a, backend, how, os.Geteuid())
}

// NeedTools says which of the commands a fault runs is missing.
func NeedTools(a topology.Ability, tools ...string) error {
	if err := netfilter.NeedTools(tools...); err != nil {
		return fmt.Errorf("%s faults need %w", a, err)
	}
	return nil
}

// ProbeIptables says whether iptables answers here (it fails without
// CAP_NET_ADMIN, or on a kernel without the filter table).
func ProbeIptables(a topology.Ability) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := HostTable(nil).Rules(ctx); err != nil {
		return fmt.Errorf("%s faults need iptables to work here: %w", a, err)
	}
	return nil
}

// HostTable is this machine's own network namespace, where local nodes live.
func HostTable(locks *netfilter.Locks) netfilter.Table {
	return netfilter.Table{Where: "this machine's network namespace", Locks: locks}
}

// Impairment is q as the delay line takes it.
func Impairment(q topology.NetemSpec) netfilter.Impairment {
	return netfilter.Impairment{Delay: q.Delay, Jitter: q.Jitter, Loss: q.Loss}
}
