package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/topology/ssh"
)

// runCluster is the cluster a run uses: made by a backend, or given by address.
type runCluster struct {
	backend topology.Backend // nil for --addr
	store   topology.Store
	c       *topology.Cluster
	admin   *topology.Admin
	seed    string
	mu      sync.Mutex
	members []string
	env     *nemesis.Env // set while a nemesis may change the members
	// asked and healthy are when the cluster was asked for and when it
	// was first healthy (zero for --addr).
	asked, healthy time.Time
	// release ends the run's hold on its cluster (topology.Store.Hold).
	release func()
	// ext gives faults to a cluster given by address whose hosts are
	// known (--addr with --hosts); nil otherwise.
	ext *ssh.External
}

// faults is the backend the nemesis uses: the one that made the
// cluster, or ext; nil when there is neither.
func (r *runCluster) faults() topology.Backend {
	switch {
	case r.backend != nil:
		return r.backend
	case r.ext != nil:
		return r.ext
	}
	return nil
}

func (r *runCluster) setEnv(env *nemesis.Env) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env = env
}

// addrs is the cluster's current members (re-discovered: failovers and
// membership changes move them).
func (r *runCluster) addrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.env != nil {
		return r.env.Addrs()
	}
	if r.c != nil {
		return r.c.Addrs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if found, err := r.admin.Discover(ctx, r.seed); err == nil {
		r.members = found
	}
	return append([]string(nil), r.members...)
}

// external is the existing cluster at addr (--addr), asked before the run
// makes anything: an address where no cluster answers is refused here.
// With a hosts file its nodes' servers are found on its hosts over SSH,
// and every fault the ssh backend has can act on them (externalOnHosts);
// without one only the faults that speak Redis can.
func external(ctx context.Context, s *Scenario, addr, hosts string) (*runCluster, error) {
	a := topology.NewAdmin()
	found, err := a.Discover(ctx, addr)
	if err != nil {
		return nil, harnessErr("--addr %s: %w", addr, err)
	}
	if hosts != "" {
		return externalOnHosts(ctx, s, a, addr, hosts, found)
	}
	if err := nemesis.Validate(s.Nemesis, nil); err != nil {
		return nil, &HarnessError{Err: err}
	}
	rc := &runCluster{admin: a, seed: addr, members: found}
	if !s.Nemesis.Empty() {
		// Faults that speak only Redis (failover, reshard) act on it.
		rc.c = &topology.Cluster{Name: "external", Backend: "external"}
		for _, addr := range found {
			host, _, _ := strings.Cut(addr, ":")
			rc.c.Nodes = append(rc.c.Nodes, topology.Node{Name: addr, Addr: addr, Host: host})
		}
	}
	return rc, nil
}

// externalOnHosts is the cluster at addr with its nodes found on the
// hosts of the hosts file. The run's iptables chains are named after addr
// and the time, so that two runs on one cluster have their own.
func externalOnHosts(ctx context.Context, s *Scenario, a *topology.Admin, addr, hosts string, members []string) (*runCluster, error) {
	inv, err := ssh.LoadInventory(hosts)
	if err != nil {
		return nil, harnessErr("--hosts %s: %w", hosts, err)
	}
	ext, c, err := ssh.DiscoverExternal(ctx, a, inv, members, fmt.Sprintf("external %s %d", addr, time.Now().UnixNano()))
	if err != nil {
		return nil, harnessErr("--addr %s --hosts %s: %w", addr, hosts, err)
	}
	if err := nemesis.Validate(s.Nemesis, ext); err != nil {
		ext.Close()
		return nil, &HarnessError{Err: err}
	}
	return &runCluster{admin: a, seed: addr, members: members, c: c, ext: ext}, nil
}

func provision(ctx context.Context, s *Scenario, o Options, dir string, say func(string, ...any)) (*runCluster, error) {
	store := topology.Store{Dir: filepath.Join(dir, "state")}
	server, err := resolveServer(ctx, s, o)
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	b, why, err := backends.SelectWith(ctx, s.Backend, store, backends.Options{Hosts: o.Hosts})
	if err != nil {
		return nil, &HarnessError{Err: err}
	}
	say("%s", why)
	if err := nemesis.Validate(s.Nemesis, b); err != nil {
		return nil, &HarnessError{Err: err}
	}
	spec := topology.Spec{
		Name: clusterName(s), Masters: s.Cluster.Masters, Replicas: s.Cluster.Replicas,
		Image: s.Cluster.Image, Config: s.Cluster.Config, RunID: filepath.Base(dir), Server: server,
	}
	start := time.Now()
	c, err := b.Up(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return nil, harnessErr("interrupted while the nodes were being started (removed again)")
		}
		return nil, harnessErr("cluster up: %w", err)
	}
	rc := &runCluster{backend: b, store: store, c: c, admin: topology.NewAdmin(), asked: start}
	// Held while the run lasts: harness cleanup, run beside it, leaves the
	// cluster alone; a SIGKILL drops the hold, and cleanup then takes it.
	if release, herr := store.Hold(c.Name); herr == nil {
		rc.release = release
	} else {
		say("warning: %v: harness cleanup may take this cluster while the run goes on", herr)
	}
	plan, err := topology.PlanCreate(c.Nodes, spec.Masters, spec.Replicas)
	if err == nil {
		_, err = rc.admin.Create(ctx, plan, s.Cluster.HealthTimeout)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		rc.collectLogs(cctx, dir, nil)
		b.Down(cctx, c)
		if rc.release != nil {
			rc.release()
		}
		if ctx.Err() != nil {
			// Not the cluster's fault: the wait was cut short.
			return nil, harnessErr("interrupted while the cluster was being created (removed again)")
		}
		return nil, harnessErr("cluster never became healthy: %w", err)
	}
	rc.healthy = time.Now()
	say("cluster %s: %d masters × %d replicas healthy in %s", c.Name, spec.Masters, spec.Replicas, time.Since(start).Round(time.Millisecond))
	if label, err := recordServer(ctx, dir, ranRecord(c, server), rc.admin, c.Addrs()); err != nil {
		say("warning: %v", err)
	} else {
		say("server: %s", label)
	}
	return rc, nil
}

// clusterName is unique per run and fits the 40-character limit.
func clusterName(s *Scenario) string {
	name := s.Name
	if len(name) > 24 {
		name = name[:24]
	}
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1_000_000_000)
}

// collectLogs copies every node's log into dir/nodes/<node>/redis.log.
func (r *runCluster) collectLogs(ctx context.Context, dir string, log *slog.Logger) {
	backend := r.faults()
	if backend == nil {
		return
	}
	for _, n := range r.c.Nodes {
		b, err := backend.Logs(ctx, r.c, n.Name)
		if err == nil {
			nd := filepath.Join(dir, "nodes", n.Name)
			if err = os.MkdirAll(nd, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(nd, "redis.log"), b, 0o644)
			}
		}
		if err != nil && log != nil {
			log.Warn("node log", "node", n.Name, "err", err)
		}
	}
}
