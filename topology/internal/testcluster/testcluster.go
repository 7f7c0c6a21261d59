// Package testcluster is what the tests of topology and of its backends
// share: a healthy cluster on any backend (Up), the checks of keys, roles
// and health that cluster operations are judged by, the fault scenarios
// every backend must pass, and the fetched builds of the server matrix.
// Backend tests call these with a backend of their own, so that this
// package imports topology alone and each backend's tests keep their
// access to its internals.
//
// It is for tests only; it may import topology and topology/internal/wait.
package testcluster

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
)

// Rig is a healthy cluster on one backend, with the fault primitives.
type Rig struct {
	B     topology.Backend
	C     *topology.Cluster
	A     *topology.Admin
	Store topology.Store
}

// Lifecycle is the backend's lifecycle ability.
func (r Rig) Lifecycle() topology.Lifecycle { return r.B.(topology.Lifecycle) }

// Network is the backend's network ability.
func (r Rig) Network() topology.Network { return r.B.(topology.Network) }

// Up brings up spec on b (whose records are in store) and forms the
// cluster, all within timeout. When the test ends it heals the network
// (as root), resumes every node, and takes the cluster down; then gone, if
// not nil, checks that nothing of the cluster is left.
func Up(t *testing.T, b topology.Backend, store topology.Store, spec topology.Spec, timeout time.Duration, gone func(t *testing.T, c topology.Cluster)) Rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := Rig{B: b, Store: store}
	c, err := b.Up(ctx, spec)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	r.C = c
	if gone != nil {
		snapshot := *c
		snapshot.Nodes = append([]topology.Node(nil), c.Nodes...)
		t.Cleanup(func() { gone(t, snapshot) }) // registered first, so it runs after Down
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if n, ok := b.(topology.Network); ok && os.Geteuid() == 0 {
			if err := n.HealNetwork(ctx, c); err != nil {
				t.Errorf("heal network: %v", err)
			}
		}
		if l, ok := b.(topology.Lifecycle); ok {
			for _, n := range c.Nodes {
				l.Resume(ctx, c, n.Name) // a paused container cannot be removed everywhere
			}
		}
		if err := b.Down(ctx, c); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	r.A = topology.NewAdmin()
	t.Cleanup(r.A.Close)
	plan, err := topology.PlanCreate(c.Nodes, spec.Masters, spec.Replicas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.A.Create(ctx, plan, timeout/2); err != nil {
		t.Fatalf("create: %v", err)
	}
	return r
}

// NeedRoot skips the test, saying why, unless it runs as root (network
// faults need iptables).
func NeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping: network faults need root (iptables), and this test runs as uid %d", os.Geteuid())
	}
}
