package topology

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/redis-harness/harness/topology/netfilter"
)

// CleanupOptions narrows or rehearses a cleanup. Zero values mean: remove
// everything of the harness's.
type CleanupOptions struct {
	// DryRun finds and reports, and removes nothing.
	DryRun bool
	// Cluster, when set, limits the cleanup to that cluster's resources.
	Cluster string
	// RunStores are run stores (harness run --store) whose runs keep their
	// cluster's record and local nodes' data in <store>/<scenario>/<run>/state:
	// a run killed with SIGKILL leaves it there (megabytes of node data),
	// and cleanup removes it once nothing holds it.
	RunStores []string
}

// CleanupReport lists what a cleanup removed (or, dry, would remove).
type CleanupReport struct {
	DryRun bool `json:"dry_run"`
	// Containers are "name (cluster c)"; helpers carry the same labels.
	Containers []string `json:"containers"`
	Networks   []string `json:"networks"`
	// Processes are "pid 123 (redis-server in /…/nodes/n1)".
	Processes []string `json:"processes"`
	// Chains are the iptables chains, with the jumps to them.
	Chains []string `json:"chains"`
	// Records are the cluster records removed from the store.
	Records []string `json:"records"`
	// RunState are the run dirs' state/ dirs removed: "store/x/run/state
	// (cluster c, 28.1 MB)".
	RunState []string `json:"run_state"`
	// Skipped says what could not be looked at, and why (no docker engine,
	// not root…): not an error, since there may be nothing there.
	Skipped []string `json:"skipped,omitempty"`
}

// Empty reports whether nothing was found.
func (r CleanupReport) Empty() bool {
	return len(r.Containers)+len(r.Networks)+len(r.Processes)+len(r.Chains)+len(r.Records)+len(r.RunState) == 0
}

// Cleanup removes everything the harness left behind, e.g. after it was
// killed with SIGKILL: docker containers and networks labelled
// io.redis-harness.managed=true (found on the engine, recorded or not);
// redis-server processes whose working directory is a node dir of store, or
// of any other store on this machine whose cluster record names it (a
// run's cluster lives in its run dir);
// iptables chains named with ChainPrefix in this machine's filter table, with
// the jumps to them (rules inside node containers go with the containers);
// and store's cluster records. Netem adds no qdisc (see NetemSpec), so there
// is none to remove. It touches nothing without the harness's labels, chain
// names or state dir, but it does remove clusters made with cluster up and
// runs going on now: run it when no harness is running.
func Cleanup(ctx context.Context, store Store) (CleanupReport, error) {
	return CleanupWith(ctx, store, CleanupOptions{})
}

// CleanupWith is Cleanup, narrowed or dry as opts say.
func CleanupWith(ctx context.Context, store Store, opts CleanupOptions) (CleanupReport, error) {
	rep := CleanupReport{DryRun: opts.DryRun, Containers: []string{}, Networks: []string{}, Processes: []string{}, Chains: []string{}, Records: []string{}, RunState: []string{}}
	var errs []error
	dockerOK, err := cleanupDocker(ctx, store, opts, &rep)
	if err != nil {
		dockerOK = false
		errs = append(errs, err)
	}
	keep := map[string]bool{} // the iptables chains of held clusters
	if err := cleanupProcesses(store, opts, &rep, keep); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupChains(ctx, store, opts, &rep, keep); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupRecords(store, opts, dockerOK, &rep); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupRunState(opts, dockerOK, &rep); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// cleanupDocker removes the harness's containers and networks; ok is false
// when no engine could be asked.
func cleanupDocker(ctx context.Context, store Store, opts CleanupOptions, rep *CleanupReport) (ok bool, err error) {
	if err := DockerAvailable(ctx); err != nil {
		rep.Skipped = append(rep.Skipped, "docker: "+err.Error())
		return false, nil
	}
	d, err := NewDocker(ctx, store)
	if err != nil {
		return false, fmt.Errorf("cleanup: %w", err)
	}
	defer d.Close()
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if opts.Cluster != "" {
		f.Add("label", LabelCluster+"="+opts.Cluster)
	}
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return false, fmt.Errorf("cleanup: list containers: %w", err)
	}
	// A cluster a live run holds is left alone, its network too.
	held := map[string]bool{} // cluster names
	isHeld := func(labels map[string]string) bool {
		name, dir := labels[LabelCluster], labels[LabelDir]
		if held[name] {
			return true
		}
		if dir == "" || !Held(dir) {
			return false
		}
		held[name] = true
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("cluster %s (%s): in use by a running harness, not touched", name, dir))
		return true
	}
	ids := map[string]string{}
	for _, ct := range conts {
		if isHeld(ct.Labels) {
			continue
		}
		ids[ct.ID] = dockerContainerName(ct)
		rep.Containers = append(rep.Containers, fmt.Sprintf("%s (cluster %s)", dockerContainerName(ct), ct.Labels[LabelCluster]))
	}
	sort.Strings(rep.Containers)
	var errs []error
	if !opts.DryRun {
		if err := d.removeContainers(ctx, ids); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: %w", err))
		}
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return true, errors.Join(append(errs, fmt.Errorf("cleanup: list networks: %w", err))...)
	}
	for _, n := range nets {
		if isHeld(n.Labels) {
			continue
		}
		rep.Networks = append(rep.Networks, fmt.Sprintf("%s (cluster %s)", n.Name, n.Labels[LabelCluster]))
		if opts.DryRun {
			continue
		}
		if err := d.removeNetwork(ctx, n.ID, n.Labels[LabelCluster]); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: remove network %s: %w", n.Name, err))
		}
	}
	sort.Strings(rep.Networks)
	return true, errors.Join(errs...)
}

// cleanupProcesses kills the redis servers running in a node dir of store,
// and those running in a local cluster's node dir of any other store on
// this machine: a run keeps its cluster's record in its own run dir
// (store/<scenario>/<run>/state), so a run killed with SIGKILL leaves
// servers that only their node dir names as the harness's. A cluster a
// live process holds (a run in progress, see Store.Hold) is left alone and
// reported as skipped.
func cleanupProcesses(store Store, opts CleanupOptions, rep *CleanupReport, keep map[string]bool) error {
	root := filepath.Join(store.Dir, "clusters")
	if opts.Cluster != "" {
		root = store.ClusterDir(opts.Cluster)
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
		if !strings.HasPrefix(cwd, root+string(filepath.Separator)) && (!ours || opts.Cluster != "" && c.Name != opts.Cluster) {
			continue
		}
		if clusterDir := filepath.Dir(filepath.Dir(cwd)); ours && Held(clusterDir) {
			if !held[clusterDir] {
				held[clusterDir] = true
				keep[ChainName(c)] = true // its partition rules stay too
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("cluster %s (%s): in use by a running harness, not touched", c.Name, clusterDir))
			}
			continue
		}
		rep.Processes = append(rep.Processes, fmt.Sprintf("pid %d (%s in %s)", pid, procName(pid), cwd))
		if opts.DryRun {
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
func localNodeDir(dir string) (*Cluster, bool) {
	nodes := filepath.Dir(dir)
	clusterDir := filepath.Dir(nodes)
	clusters := filepath.Dir(clusterDir)
	if filepath.Base(nodes) != "nodes" || filepath.Base(clusters) != "clusters" {
		return nil, false
	}
	c, err := (Store{Dir: filepath.Dir(clusters)}).Load(filepath.Base(clusterDir))
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
func cleanupChains(ctx context.Context, store Store, opts CleanupOptions, rep *CleanupReport, keep map[string]bool) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		rep.Skipped = append(rep.Skipped, "iptables: not on PATH, so no chains to look for")
		return nil
	}
	if os.Geteuid() != 0 {
		rep.Skipped = append(rep.Skipped, "iptables: not root, so chains were not looked for")
		return nil
	}
	host := hostTable(nil)
	listing, err := host.Rules(ctx)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var chains []string
	for _, l := range listing {
		name, ok := strings.CutPrefix(l, "-N ")
		if !ok || !strings.HasPrefix(name, ChainPrefix) {
			continue
		}
		if opts.Cluster != "" && name != ChainName(&Cluster{Name: opts.Cluster, Dir: store.ClusterDir(opts.Cluster)}) || keep[name] {
			continue
		}
		chains = append(chains, name)
	}
	sort.Strings(chains)
	rep.Chains = append(rep.Chains, chains...)
	if opts.DryRun || len(chains) == 0 {
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

// cleanupRecords removes the store's cluster records (with the local
// nodes' dirs). Docker clusters' records stay when the engine could not be
// cleaned: they are what cluster down works from.
func cleanupRecords(store Store, opts CleanupOptions, dockerOK bool, rep *CleanupReport) error {
	clusters, err := store.List()
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var errs []error
	for _, c := range clusters {
		if opts.Cluster != "" && c.Name != opts.Cluster || c.Backend == "docker" && !dockerOK || Held(store.ClusterDir(c.Name)) {
			continue // a held cluster was reported skipped with its nodes
		}
		rep.Records = append(rep.Records, fmt.Sprintf("%s (%s, %d nodes)", c.Name, c.Backend, len(c.Nodes)))
		if !opts.DryRun {
			if err := store.Remove(c.Name); err != nil {
				errs = append(errs, fmt.Errorf("cleanup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
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

// cleanupRunState removes the state/ dirs runs left in their run dirs
// (<store>/<scenario>/<run>/state), after cleanupProcesses has stopped
// their servers: a run's teardown removes its state, so one still there
// belongs to a run that was killed (or kept with --keep, and is now
// removed like any cluster). One a live run holds is left alone, and so is
// a docker cluster's while the engine could not be cleaned.
func cleanupRunState(opts CleanupOptions, dockerOK bool, rep *CleanupReport) error {
	var errs []error
	for _, runStore := range opts.RunStores {
		dirs, err := filepath.Glob(filepath.Join(runStore, "*", "*", "state"))
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		sort.Strings(dirs)
		for _, dir := range dirs {
			if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
				continue
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "clusters"))
			var names []string
			keep := false
			for _, e := range entries {
				if !e.IsDir() {
					continue
				}
				names = append(names, e.Name())
				st := Store{Dir: dir}
				if Held(st.ClusterDir(e.Name())) {
					keep = true
					rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (cluster %s): in use by a running harness, not touched", dir, e.Name()))
					continue
				}
				if c, err := st.Load(e.Name()); err == nil && c.Backend == "docker" && !dockerOK {
					keep = true
				}
			}
			if keep || opts.Cluster != "" && !slices.Contains(names, opts.Cluster) {
				continue
			}
			what := "no cluster"
			if len(names) > 0 {
				what = "cluster " + strings.Join(names, ", ")
			}
			rep.RunState = append(rep.RunState, fmt.Sprintf("%s (%s, %s)", dir, what, humanBytes(dirSize(dir))))
			if opts.DryRun {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, fmt.Errorf("cleanup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
