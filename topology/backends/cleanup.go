package backends

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis-harness/harness/topology/local"
	"github.com/redis-harness/harness/topology/ssh"
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
	// Hosts, when set, is a hosts file (--hosts) whose hosts are cleaned
	// too: servers and dirs under the ssh backend's dir, iptables chains.
	Hosts string
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
	// Dirs are the ssh backend's cluster dirs on its hosts: "host 10.0.0.11: /var/tmp/redis-harness/c-…".
	Dirs []string `json:"dirs"`
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
	return len(r.Containers)+len(r.Networks)+len(r.Processes)+len(r.Chains)+len(r.Dirs)+len(r.Records)+len(r.RunState) == 0
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
func Cleanup(ctx context.Context, store topology.Store) (CleanupReport, error) {
	return CleanupWith(ctx, store, CleanupOptions{})
}

// CleanupWith is Cleanup, narrowed or dry as opts say.
func CleanupWith(ctx context.Context, store topology.Store, opts CleanupOptions) (CleanupReport, error) {
	rep := CleanupReport{DryRun: opts.DryRun, Containers: []string{}, Networks: []string{}, Processes: []string{}, Chains: []string{}, Dirs: []string{}, Records: []string{}, RunState: []string{}}
	var errs []error
	dl, dockerOK, err := docker.Cleanup(ctx, store, opts.Cluster, opts.DryRun)
	rep.Containers = append(rep.Containers, dl.Containers...)
	rep.Networks = append(rep.Networks, dl.Networks...)
	rep.Skipped = append(rep.Skipped, dl.Skipped...)
	if err != nil {
		dockerOK = false
		errs = append(errs, err)
	}
	ll, err := local.Cleanup(ctx, store, opts.Cluster, opts.DryRun)
	rep.Processes = append(rep.Processes, ll.Processes...)
	rep.Chains = append(rep.Chains, ll.Chains...)
	rep.Skipped = append(rep.Skipped, ll.Skipped...)
	if err != nil {
		errs = append(errs, err)
	}
	// Without the hosts, or when they could not be cleaned, the ssh
	// clusters' records stay: they are what cluster down works from.
	cleaned := map[string]bool{"local": true, "docker": dockerOK}
	if opts.Hosts != "" {
		sl, err := cleanupHosts(ctx, store, opts)
		rep.Processes = append(rep.Processes, sl.Processes...)
		rep.Dirs = append(rep.Dirs, sl.Dirs...)
		rep.Chains = append(rep.Chains, sl.Chains...)
		rep.Skipped = append(rep.Skipped, sl.Skipped...)
		if err != nil {
			errs = append(errs, err)
		} else {
			cleaned["ssh"] = true
		}
	}
	if err := cleanupRecords(store, opts, cleaned, &rep); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupRunState(opts, cleaned, &rep); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// cleanupRecords removes the store's cluster records (with the local
// nodes' dirs). Docker clusters' records stay when the engine could not be
// cleaned: they are what cluster down works from.
func cleanupRecords(store topology.Store, opts CleanupOptions, cleaned map[string]bool, rep *CleanupReport) error {
	clusters, err := store.List()
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	var errs []error
	for _, c := range clusters {
		if opts.Cluster != "" && c.Name != opts.Cluster || topology.Held(store.ClusterDir(c.Name)) {
			continue // a held cluster was reported skipped with its nodes
		}
		if !cleaned[c.Backend] {
			if c.Backend == "ssh" {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("cluster %s (ssh): its hosts were not cleaned (give --hosts, or harness cluster down --name %s), so its record stays", c.Name, c.Name))
			}
			continue
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

// cleanupRunState removes the state/ dirs runs left in their run dirs
// (<store>/<scenario>/<run>/state), after cleanupProcesses has stopped
// their servers: a run's teardown removes its state, so one still there
// belongs to a run that was killed (or kept with --keep, and is now
// removed like any cluster). One a live run holds is left alone, and so is
// a docker cluster's while the engine could not be cleaned.
func cleanupRunState(opts CleanupOptions, cleaned map[string]bool, rep *CleanupReport) error {
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
				st := topology.Store{Dir: dir}
				if topology.Held(st.ClusterDir(e.Name())) {
					keep = true
					rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (cluster %s): in use by a running harness, not touched", dir, e.Name()))
					continue
				}
				if c, err := st.Load(e.Name()); err == nil && !cleaned[c.Backend] {
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

// cleanupHosts cleans the hosts of opts.Hosts, naming chains as the
// store's (or, for runs, as each run's) records name them.
func cleanupHosts(ctx context.Context, store topology.Store, opts CleanupOptions) (ssh.Leftovers, error) {
	inv, err := ssh.LoadInventory(opts.Hosts)
	if err != nil {
		return ssh.Leftovers{}, fmt.Errorf("cleanup --hosts %s: %w", opts.Hosts, err)
	}
	return ssh.Cleanup(ctx, inv, store, opts.Cluster, opts.DryRun)
}
