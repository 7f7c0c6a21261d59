package ssh

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Leftovers are what a cleanup found on the hosts, each item prefixed with
// its host: server processes under Root, cluster dirs under Root,
// iptables chains, and what it left alone, saying why.
type Leftovers struct {
	Processes []string
	Dirs      []string
	Chains    []string
	Skipped   []string
}

// remoteCluster is a cluster's dir on a host, as its owner file names it.
type remoteCluster struct {
	Dir, Name, StateDir string
}

// listScript prints, for each dir under Root, the dir and its owner file's
// two lines (cluster name, state dir), tab-separated.
const listScript = `for d in ` + Root + `/*/; do [ -d "$d" ] || continue; d=${d%/}; n=; s=; if [ -f "$d/` + ownerFile + `" ]; then { read -r n; read -r s; } < "$d/` + ownerFile + `"; fi; printf '%s\t%s\t%s\n' "$d" "$n" "$s"; done; true`

func parseRemoteClusters(out string) []remoteCluster {
	var rcs []remoteCluster
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 || !strings.HasPrefix(f[0], Root+"/") {
			continue
		}
		rc := remoteCluster{Dir: f[0], Name: f[1], StateDir: f[2]}
		if rc.Name == "" { // made before its owner file was written
			base := strings.TrimPrefix(f[0], Root+"/")
			if i := strings.LastIndexByte(base, '-'); i > 0 {
				rc.Name = base[:i]
			}
		}
		rcs = append(rcs, rc)
	}
	return rcs
}

// Cleanup finds on every host of inv what a harness killed with SIGKILL
// left there: the server processes running under Root, the delay line
// agents (netem.go) and their binaries, the cluster dirs under Root, and
// the iptables chains named with topology.ChainPrefix (with the jumps to
// them); and removes them, unless dryRun. With cluster
// set, only that cluster's (its chain named as store names it). A cluster
// a live harness on this machine holds (topology.Held) is left alone, its
// chain too.
func Cleanup(ctx context.Context, inv *Inventory, store topology.Store, cluster string, dryRun bool) (Leftovers, error) {
	p := &pool{inv: inv}
	defer p.close()
	var locks netfilter.Locks
	reps := make([]Leftovers, len(inv.Hosts))
	err := wait.Parallel(len(inv.Hosts), func(i int) error {
		return cleanupHost(ctx, p, &locks, inv.Hosts[i].Addr, store, cluster, dryRun, &reps[i])
	})
	var all Leftovers
	for _, r := range reps {
		all.Processes = append(all.Processes, r.Processes...)
		all.Dirs = append(all.Dirs, r.Dirs...)
		all.Chains = append(all.Chains, r.Chains...)
		all.Skipped = append(all.Skipped, r.Skipped...)
	}
	return all, err
}

func cleanupHost(ctx context.Context, p *pool, locks *netfilter.Locks, h string, store topology.Store, cluster string, dryRun bool, rep *Leftovers) error {
	out, err := p.run(ctx, h, listScript, nil)
	if err != nil {
		return fmt.Errorf("cleanup on %s: %w", h, err)
	}
	keepChains := map[string]bool{}
	wantChains := map[string]bool{}
	if cluster != "" {
		c := &topology.Cluster{Name: cluster, Dir: store.ClusterDir(cluster)}
		wantChains[topology.ChainName(c)], wantChains[outChain(c)] = true, true
	}
	var dirs []string
	held := map[string]bool{}
	for _, rc := range parseRemoteClusters(string(out.Stdout)) {
		if cluster != "" && rc.Name != cluster {
			continue
		}
		rcc := &topology.Cluster{Name: rc.Name, Dir: rc.StateDir}
		chain := topology.ChainName(rcc)
		if rc.StateDir != "" && topology.Held(rc.StateDir) {
			keepChains[chain], keepChains[outChain(rcc)] = true, true
			held[rc.Dir] = true
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("host %s: cluster %s (%s): in use by a running harness, not touched", h, rc.Name, rc.Dir))
			continue
		}
		if rc.StateDir != "" {
			wantChains[chain], wantChains[outChain(rcc)] = true, true
		}
		dirs = append(dirs, rc.Dir)
	}
	var errs []error
	if err := cleanupProcs(ctx, p, h, dirs, dryRun, rep); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupAgents(ctx, p, h, cluster, dirs, held, dryRun, rep); err != nil {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		rep.Dirs = append(rep.Dirs, fmt.Sprintf("host %s: %s", h, d))
		if dryRun {
			continue
		}
		// The cgroups of its nodes (cgroup.go) go with it.
		if _, err := p.run(ctx, h, "rm -rf "+Quote(d)+"; "+rmCgroupsScript(cgroupDir+"/"+strings.TrimPrefix(d, Root+"/")), nil); err != nil {
			errs = append(errs, fmt.Errorf("cleanup on %s: %w", h, err))
		}
	}
	if err := cleanupChains(ctx, p, locks, h, cluster, wantChains, keepChains, dryRun, rep); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanupProcs kills the servers running under the dirs on host h.
func cleanupProcs(ctx context.Context, p *pool, h string, dirs []string, dryRun bool, rep *Leftovers) error {
	if len(dirs) == 0 {
		return nil
	}
	ps, err := p.procs(ctx, h, Root)
	if err != nil {
		return fmt.Errorf("cleanup on %s: %w", h, err)
	}
	var pids []string
	for _, pr := range ps {
		for _, d := range dirs {
			if pr.Cwd == d || strings.HasPrefix(pr.Cwd, d+"/") {
				rep.Processes = append(rep.Processes, fmt.Sprintf("host %s: pid %d (%s in %s)", h, pr.PID, baseName(pr.Exe), pr.Cwd))
				pids = append(pids, strconv.Itoa(pr.PID))
				break
			}
		}
	}
	if dryRun || len(pids) == 0 {
		return nil
	}
	if _, err := p.run(ctx, h, "kill -KILL "+strings.Join(pids, " ")+" 2>/dev/null; true", nil); err != nil {
		return fmt.Errorf("cleanup on %s: %w", h, err)
	}
	return nil
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// cleanupChains removes the harness's chains on host h: every one but
// those of held clusters, or with cluster set, only the wanted ones.
func cleanupChains(ctx context.Context, p *pool, locks *netfilter.Locks, h, cluster string, want, keep map[string]bool, dryRun bool, rep *Leftovers) error {
	t := p.table(h, nil)
	listing, err := t.Rules(ctx)
	if err != nil {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("host %s: iptables chains were not looked for: %v", h, err))
		return nil
	}
	var chains []string
	for _, name := range netfilter.Chains(listing, topology.ChainPrefix) {
		if keep[name] || cluster != "" && !want[name] {
			continue
		}
		chains = append(chains, name)
	}
	sort.Strings(chains)
	var errs []error
	for _, ch := range chains {
		rep.Chains = append(rep.Chains, fmt.Sprintf("host %s: %s", h, ch))
		if dryRun {
			continue
		}
		// Listed again under the lock: hosts that are one machine (or
		// share a kernel) see one table.
		if err := p.table(h, locks).RemoveChain(ctx, ch); err != nil {
			errs = append(errs, fmt.Errorf("cleanup on %s: %w", h, err))
		}
	}
	return errors.Join(errs...)
}
