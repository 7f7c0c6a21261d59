package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Leftovers are what a cleanup found of local clusters on this machine:
// server processes as "pid 123 (redis-server in /…/nodes/n1)", iptables
// chains, and what it left alone, saying why.
type Leftovers struct {
	Processes []string
	Chains    []string
	Skipped   []string
}

// Cleanup kills the redis servers running in a node dir of store, or of
// any other store on this machine whose cluster record names it (a run's
// cluster lives in its run dir), and removes the iptables chains named with
// ChainPrefix in this machine's filter table with the jumps to them: of
// cluster only, when it is not empty, and nothing when dryRun. A cluster a
// live run holds (topology.Held) is left alone, its chain too.
func Cleanup(ctx context.Context, store topology.Store, cluster string, dryRun bool) (Leftovers, error) {
	var left Leftovers
	keep := map[string]bool{} // the iptables chains of held clusters
	perr := cleanupProcesses(store, cluster, dryRun, &left, keep)
	cerr := cleanupChains(ctx, store, cluster, dryRun, &left, keep)
	return left, errors.Join(perr, cerr)
}

// cleanupProcesses kills the redis servers running in a node dir of store,
// and those running in a local cluster's node dir of any other store on
// this machine: a run keeps its cluster's record in its own run dir
// (store/<scenario>/<run>/state), so a run killed with SIGKILL leaves
// servers that only their node dir names as the harness's. A cluster a
// live process holds (a run in progress, see Store.Hold) is left alone and
// reported as skipped.
func cleanupProcesses(store topology.Store, cluster string, dryRun bool, rep *Leftovers, keep map[string]bool) error {
	root := filepath.Join(store.Dir, "clusters")
	if cluster != "" {
		root = store.ClusterDir(cluster)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var errs []error
	held := map[string]bool{} // cluster dirs in use, reported once
	for _, pid := range redisPIDs() {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || zombie(pid) {
			continue
		}
		c, ours := localNodeDir(cwd)
		if !strings.HasPrefix(cwd, root+string(filepath.Separator)) && (!ours || cluster != "" && c.Name != cluster) {
			continue
		}
		if clusterDir := filepath.Dir(filepath.Dir(cwd)); ours && topology.Held(clusterDir) {
			if !held[clusterDir] {
				held[clusterDir] = true
				keep[topology.ChainName(c)] = true // its partition rules stay too
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("cluster %s (%s): in use by a running harness, not touched", c.Name, clusterDir))
			}
			continue
		}
		rep.Processes = append(rep.Processes, fmt.Sprintf("pid %d (%s in %s)", pid, procName(pid), cwd))
		if dryRun {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("cleanup: kill pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// localNodeDir tells whether dir is a node dir of a local cluster made by
// the harness, in any store: <store>/clusters/<name>/nodes/<node>, with the
// cluster's record beside it naming that node. It returns the cluster's name.
func localNodeDir(dir string) (*topology.Cluster, bool) {
	nodes := filepath.Dir(dir)
	clusterDir := filepath.Dir(nodes)
	clusters := filepath.Dir(clusterDir)
	if filepath.Base(nodes) != "nodes" || filepath.Base(clusters) != "clusters" {
		return nil, false
	}
	c, err := (topology.Store{Dir: filepath.Dir(clusters)}).Load(filepath.Base(clusterDir))
	if err != nil || c.Backend != "local" {
		return nil, false
	}
	for _, n := range c.Nodes {
		if n.Name == filepath.Base(dir) {
			return c, true
		}
	}
	return nil, false
}

// cleanupChains removes this machine's harness chains and the jumps to them.
func cleanupChains(ctx context.Context, store topology.Store, cluster string, dryRun bool, rep *Leftovers, keep map[string]bool) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		rep.Skipped = append(rep.Skipped, "iptables: not on PATH, so no chains to look for")
		return nil
	}
	if os.Geteuid() != 0 {
		rep.Skipped = append(rep.Skipped, "iptables: not root, so chains were not looked for")
		return nil
	}
	host := backendkit.HostTable(nil)
	listing, err := host.Rules(ctx)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var chains []string
	for _, name := range netfilter.Chains(listing, topology.ChainPrefix) {
		if cluster != "" && name != topology.ChainName(&topology.Cluster{Name: cluster, Dir: store.ClusterDir(cluster)}) || keep[name] {
			continue
		}
		chains = append(chains, name)
	}
	sort.Strings(chains)
	rep.Chains = append(rep.Chains, chains...)
	if dryRun || len(chains) == 0 {
		return nil
	}
	var lines []string
	for _, ch := range chains {
		lines = append(lines, netfilter.DropChainLines(listing, ch)...)
	}
	if err := host.Apply(ctx, lines); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

// procName is the program name the process was started as (Debian's
// redis-server is a link to redis-check-rdb, which /proc/<pid>/exe shows).
func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "?"
	}
	arg0, _, _ := strings.Cut(string(b), "\x00")
	return filepath.Base(arg0)
}
