package topology

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/system"
)

// AbilityDisk is TruncateAOF and WipeData.
const AbilityDisk Ability = "disk"

// Disk damages a stopped node's data files, as a power cut or a lost disk
// would. Both primitives refuse a node whose server runs: kill it first,
// restart it after.
type Disk interface {
	// TruncateAOF cuts the last bytes bytes off the node's newest
	// incremental AOF file (what appendfsync everysec or no loses in a power
	// cut; a SIGKILL alone loses nothing, the page cache survives it) and
	// returns what it did: the file and how many bytes it cut (less when
	// the file is shorter).
	TruncateAOF(ctx context.Context, c *Cluster, node string, bytes int64) (DiskReport, error)
	// WipeData removes the node's AOF dir and RDB file, keeping nodes.conf:
	// the node restarts with the same identity and an empty dataset. It
	// returns the files it removed.
	WipeData(ctx context.Context, c *Cluster, node string) (DiskReport, error)
}

// DiskChecker says, before a run, why the disk primitives cannot work here
// (CanFault answers only the abilities its backend's file lists).
type DiskChecker interface {
	CanDisk() error
}

// DiskReport is what a disk primitive did to a node's files, for the
// history.
type DiskReport struct {
	// Dir is the node's data dir as this machine sees it.
	Dir string `json:"dir"`
	// Files are the files touched (truncated or removed), relative to Dir.
	Files []string `json:"files"`
	// Size is the truncated file's size before the cut.
	Size int64 `json:"size,omitempty"`
	// Truncated is how many bytes TruncateAOF cut.
	Truncated int64 `json:"truncated,omitempty"`
}

var (
	_ Disk        = (*Local)(nil)
	_ Disk        = (*Docker)(nil)
	_ DiskChecker = (*Local)(nil)
	_ DiskChecker = (*Docker)(nil)
)

// The names Redis gives its files unless configured otherwise (the harness
// never overrides them).
const (
	aofDirName  = "appendonlydir"
	rdbFileName = "dump.rdb"
	// dockerDataDir is where a node container keeps its data.
	dockerDataDir = "/data"
)

// newestIncrAOF finds the newest incremental file of the multi-part AOF in
// aofDir: the type-i file of highest seq in the manifest, or, without a
// manifest, the *.incr.aof file of highest seq.
func newestIncrAOF(aofDir string) (string, error) {
	manifests, _ := filepath.Glob(filepath.Join(aofDir, "*.manifest"))
	best, bestSeq := "", int64(-1)
	if len(manifests) == 1 {
		f, err := os.Open(manifests[0])
		if err != nil {
			return "", fmt.Errorf("read the AOF manifest: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// file appendonly.aof.3.incr.aof seq 3 type i
			fields := strings.Fields(sc.Text())
			kv := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				kv[fields[i]] = fields[i+1]
			}
			if kv["type"] != "i" || kv["file"] == "" {
				continue
			}
			seq, err := strconv.ParseInt(kv["seq"], 10, 64)
			if err == nil && seq > bestSeq {
				best, bestSeq = kv["file"], seq
			}
		}
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("read the AOF manifest %s: %w", manifests[0], err)
		}
	} else {
		files, _ := filepath.Glob(filepath.Join(aofDir, "*.incr.aof"))
		for _, f := range files {
			parts := strings.Split(filepath.Base(f), ".")
			if len(parts) < 3 {
				continue
			}
			seq, err := strconv.ParseInt(parts[len(parts)-3], 10, 64)
			if err == nil && seq > bestSeq {
				best, bestSeq = filepath.Base(f), seq
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("no incremental AOF file in %s (is appendonly yes?)", aofDir)
	}
	if strings.ContainsAny(best, "/\\") {
		return "", fmt.Errorf("the AOF manifest in %s names %q, not a file of that dir", aofDir, best)
	}
	return filepath.Join(aofDir, best), nil
}

// truncateAOFIn cuts bytes off the newest incremental AOF file under dir.
func truncateAOFIn(dir string, bytes int64) (DiskReport, error) {
	rep := DiskReport{Dir: dir}
	if bytes < 0 {
		return rep, fmt.Errorf("truncate AOF: %d bytes: want ≥ 0", bytes)
	}
	path, err := newestIncrAOF(filepath.Join(dir, aofDirName))
	if err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	cut := min(bytes, st.Size())
	if err := os.Truncate(path, st.Size()-cut); err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	rel, _ := filepath.Rel(dir, path)
	rep.Files, rep.Size, rep.Truncated = []string{rel}, st.Size(), cut
	return rep, nil
}

// wipeDataIn removes the AOF dir and the RDB file under dir (and the temp
// files of a save or rewrite cut short), leaving nodes.conf and the rest.
func wipeDataIn(dir string) (DiskReport, error) {
	rep := DiskReport{Dir: dir}
	if _, err := os.Stat(filepath.Join(dir, "nodes.conf")); err != nil {
		return rep, fmt.Errorf("wipe data: %s has no nodes.conf, so it is not a node's data dir: %w", dir, err)
	}
	targets := []string{aofDirName, rdbFileName}
	tmps, _ := filepath.Glob(filepath.Join(dir, "temp-*"))
	for _, t := range tmps {
		targets = append(targets, filepath.Base(t))
	}
	var errs []error
	for _, t := range targets {
		p := filepath.Join(dir, t)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Files = append(rep.Files, t)
	}
	sort.Strings(rep.Files)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("wipe data in %s: %w", dir, err)
	}
	return rep, nil
}

// CanDisk: local nodes' files are this machine's.
func (l *Local) CanDisk() error { return nil }

// localStoppedDir is the stopped node's data dir.
func localStoppedDir(c *Cluster, name, what string) (Node, error) {
	n, err := localNode(c, name)
	if err != nil {
		return n, err
	}
	if n.Dir == "" {
		return n, fmt.Errorf("%s node %s: it has no data dir on record", what, n.Name)
	}
	if pid := nodePID(n); pid > 0 {
		return n, fmt.Errorf("%s node %s (%s): its server runs (pid %d); kill it first", what, n.Name, n.Addr, pid)
	}
	return n, nil
}

// TruncateAOF cuts the tail of the stopped node's newest incremental AOF.
func (l *Local) TruncateAOF(ctx context.Context, c *Cluster, name string, bytes int64) (DiskReport, error) {
	n, err := localStoppedDir(c, name, "truncate the AOF of")
	if err != nil {
		return DiskReport{}, err
	}
	rep, err := truncateAOFIn(n.Dir, bytes)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}

// WipeData removes the stopped node's AOF dir and RDB, keeping nodes.conf.
func (l *Local) WipeData(ctx context.Context, c *Cluster, name string) (DiskReport, error) {
	n, err := localStoppedDir(c, name, "wipe the data of")
	if err != nil {
		return DiskReport{}, err
	}
	rep, err := wipeDataIn(n.Dir)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}

// dockerLayerDrivers are the storage drivers whose container layer is a
// plain directory on the engine's machine (GraphDriver.Data["UpperDir"]).
var dockerLayerDrivers = []string{"overlay2", "fuse-overlayfs"}

// CanDisk: the disk faults edit a stopped container's files in its
// writable layer on this machine, so they need an engine here whose storage
// driver keeps that layer as a directory, and root to write it.
func (d *Docker) CanDisk() error {
	if h, ok := d.api.(interface{ DaemonHost() string }); ok && !strings.HasPrefix(h.DaemonHost(), "unix://") {
		return fmt.Errorf("disk faults on the docker backend edit the node containers' files in their layer on the engine's machine, so they need the engine here, not at %s", h.DaemonHost())
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("disk faults on the docker backend write the containers' layers under the engine's root dir, which needs root; this harness runs as uid %d", os.Geteuid())
	}
	in, ok := d.api.(interface {
		Info(ctx context.Context) (system.Info, error)
	})
	if !ok {
		return nil // a fake engine: the primitives themselves will say
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingWithin)
	defer cancel()
	info, err := in.Info(ctx)
	if err != nil {
		return fmt.Errorf("disk faults on the docker backend: ask the engine for its storage driver: %w", err)
	}
	if !isLayerDriver(info.Driver) {
		return fmt.Errorf("disk faults on the docker backend need the containers' /data reachable on this machine through their layer, and the engine's storage driver %q does not keep it as a directory (want %s)", info.Driver, strings.Join(dockerLayerDrivers, " or "))
	}
	if info.DockerRootDir != "" {
		if _, err := os.Stat(info.DockerRootDir); err != nil {
			return fmt.Errorf("disk faults on the docker backend need the engine's root dir %s on this machine (the engine runs elsewhere, or in a VM): %v", info.DockerRootDir, err)
		}
	}
	return nil
}

func isLayerDriver(name string) bool {
	for _, d := range dockerLayerDrivers {
		if d == name {
			return true
		}
	}
	return false
}

// dockerStoppedDir is the stopped node container's /data as this machine
// sees it: /data under the UpperDir of its writable layer.
func (d *Docker) dockerStoppedDir(ctx context.Context, c *Cluster, name, what string) (Node, string, error) {
	n, id, err := dockerNode(c, name)
	if err != nil {
		return n, "", err
	}
	info, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return n, "", fmt.Errorf("%s node %s: inspect container %s: %w", what, n.Name, id, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return n, "", fmt.Errorf("%s node %s: container %s has no state", what, n.Name, id)
	}
	if info.State.Running || info.State.Paused || info.State.Restarting {
		return n, "", fmt.Errorf("%s node %s (%s): its container runs; kill it first", what, n.Name, n.Addr)
	}
	for _, m := range info.Mounts {
		if m.Destination == dockerDataDir {
			return n, "", fmt.Errorf("%s node %s: its %s is a %s mount, not in the container's layer; disk faults reach only data kept in the layer", what, n.Name, dockerDataDir, m.Type)
		}
	}
	driver := info.GraphDriver.Name
	upper := info.GraphDriver.Data["UpperDir"]
	if !isLayerDriver(driver) || upper == "" {
		return n, "", fmt.Errorf("%s node %s: the data of container %s is not reachable from this machine: its storage driver is %q, and disk faults need %s (a layer with an UpperDir)", what, n.Name, shortID(id), driver, strings.Join(dockerLayerDrivers, " or "))
	}
	dir := filepath.Join(upper, dockerDataDir)
	if _, err := os.Stat(dir); err != nil {
		return n, "", fmt.Errorf("%s node %s: the data of container %s is not reachable from this machine through its layer (%s): %v; disk faults need the engine on this machine and the harness as root", what, n.Name, shortID(id), dir, err)
	}
	return n, dir, nil
}

// TruncateAOF cuts the tail of the stopped container's newest incremental
// AOF, in its layer.
func (d *Docker) TruncateAOF(ctx context.Context, c *Cluster, name string, bytes int64) (DiskReport, error) {
	n, dir, err := d.dockerStoppedDir(ctx, c, name, "truncate the AOF of")
	if err != nil {
		return DiskReport{}, err
	}
	rep, err := truncateAOFIn(dir, bytes)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}

// WipeData removes the stopped container's AOF dir and RDB from its layer,
// keeping nodes.conf. The image's /data is empty, so the files live only in
// the upper layer and removing them there leaves no lower copy showing.
func (d *Docker) WipeData(ctx context.Context, c *Cluster, name string) (DiskReport, error) {
	n, dir, err := d.dockerStoppedDir(ctx, c, name, "wipe the data of")
	if err != nil {
		return DiskReport{}, err
	}
	rep, err := wipeDataIn(dir)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}
