package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/system"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
)

// dockerDataDir is where a node container keeps its data.
const dockerDataDir = "/data"

var (
	_ topology.Disk        = (*Backend)(nil)
	_ topology.DiskChecker = (*Backend)(nil)
)

// dockerLayerDrivers are the storage drivers whose container layer is a
// plain directory on the engine's machine (GraphDriver.Data["UpperDir"]).
var dockerLayerDrivers = []string{"overlay2", "fuse-overlayfs"}

// CanDisk: the disk faults edit a stopped container's files in its
// writable layer on this machine, so they need an engine here whose storage
// driver keeps that layer as a directory, and root to write it.
func (d *Backend) CanDisk() error {
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
func (d *Backend) dockerStoppedDir(ctx context.Context, c *topology.Cluster, name, what string) (topology.Node, string, error) {
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
func (d *Backend) TruncateAOF(ctx context.Context, c *topology.Cluster, name string, bytes int64) (topology.DiskReport, error) {
	n, dir, err := d.dockerStoppedDir(ctx, c, name, "truncate the AOF of")
	if err != nil {
		return topology.DiskReport{}, err
	}
	rep, err := backendkit.TruncateAOF(dir, bytes)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}

// WipeData removes the stopped container's AOF dir and RDB from its layer,
// keeping nodes.conf. The image's /data is empty, so the files live only in
// the upper layer and removing them there leaves no lower copy showing.
func (d *Backend) WipeData(ctx context.Context, c *topology.Cluster, name string) (topology.DiskReport, error) {
	n, dir, err := d.dockerStoppedDir(ctx, c, name, "wipe the data of")
	if err != nil {
		return topology.DiskReport{}, err
	}
	rep, err := backendkit.WipeData(dir)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}
