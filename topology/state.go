package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/redis-harness/harness/topology/internal/flock"
)

// Store keeps what the harness knows about the clusters it made: one
// directory per cluster with cluster.json and, for local nodes, their data
// dirs and logs. Commands run as separate processes find clusters here.
type Store struct {
	// Dir is the root; clusters live in Dir/clusters/<name>.
	Dir string
}

// DefaultStateDir is $HARNESS_STATE_DIR, else $XDG_STATE_HOME/redis-harness,
// else ~/.local/state/redis-harness.
func DefaultStateDir() string {
	if d := os.Getenv("HARNESS_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "redis-harness")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "redis-harness")
	}
	return filepath.Join(home, ".local", "state", "redis-harness")
}

// ErrNoCluster is returned by Load for a name the store does not know.
var ErrNoCluster = errors.New("no such cluster")

// ClusterDir is where the named cluster's files live, as an absolute path:
// servers started there resolve their config and data dirs against it.
func (s Store) ClusterDir(name string) string {
	dir := filepath.Join(s.Dir, "clusters", name)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// Save writes c's record atomically.
func (s Store) Save(c *Cluster) error {
	dir := s.ClusterDir(c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save cluster %s: %w", c.Name, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save cluster %s: %w", c.Name, err)
	}
	tmp := filepath.Join(dir, "cluster.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save cluster %s: %w", c.Name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "cluster.json")); err != nil {
		return fmt.Errorf("save cluster %s: %w", c.Name, err)
	}
	return nil
}

// Load reads the named cluster's record; ErrNoCluster when there is none.
func (s Store) Load(name string) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(s.ClusterDir(name), "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cluster %q: %w in %s (harness cluster list shows the known ones)", name, ErrNoCluster, s.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load cluster %s: %w", name, err)
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("load cluster %s: %s is damaged: %w", name, filepath.Join(s.ClusterDir(name), "cluster.json"), err)
	}
	return &c, nil
}

// List returns every recorded cluster, sorted by name. Damaged records are skipped.
func (s Store) List() ([]*Cluster, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "clusters"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	var out []*Cluster
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if c, err := s.Load(e.Name()); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes the cluster's directory, data and logs included.
func (s Store) Remove(name string) error {
	if err := os.RemoveAll(s.ClusterDir(name)); err != nil {
		return fmt.Errorf("remove cluster %s: %w", name, err)
	}
	return nil
}

// Lock takes an exclusive lock over the whole store, so that concurrent
// harness processes do not hand out the same name or subnet. The returned
// func releases it.
func (s Store) Lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return flock.Lock(filepath.Join(s.Dir, ".lock"), syscall.LOCK_EX)
}

// heldFile is the lock a process holds on a cluster it is using (Hold).
const heldFile = "held.lock"

// Hold marks cluster name as in use by this process until release is
// called or the process ends, however it ends (the kernel drops the lock):
// cleanup leaves a held cluster alone. A run holds its cluster from up to
// teardown; a cluster made by cluster up is held by no one once the
// command has returned.
func (s Store) Hold(name string) (release func(), err error) {
	release, err = flock.Lock(filepath.Join(s.ClusterDir(name), heldFile), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		return nil, fmt.Errorf("hold cluster %s: %w (another process holds it)", name, err)
	}
	return release, nil
}

// Held reports whether a live process holds the cluster whose directory is
// clusterDir (see Hold).
func Held(clusterDir string) bool {
	f, err := os.Open(filepath.Join(clusterDir, heldFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
