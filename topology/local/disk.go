package local

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
)

var (
	_ topology.Disk        = (*Backend)(nil)
	_ topology.DiskChecker = (*Backend)(nil)
)

// CanDisk: local nodes' files are this machine's.
func (l *Backend) CanDisk() error { return nil }

// localStoppedDir is the stopped node's data dir.
func localStoppedDir(c *topology.Cluster, name, what string) (topology.Node, error) {
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
func (l *Backend) TruncateAOF(ctx context.Context, c *topology.Cluster, name string, bytes int64) (topology.DiskReport, error) {
	n, err := localStoppedDir(c, name, "truncate the AOF of")
	if err != nil {
		return topology.DiskReport{}, err
	}
	rep, err := backendkit.TruncateAOF(n.Dir, bytes)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}

// WipeData removes the stopped node's AOF dir and RDB, keeping nodes.conf.
func (l *Backend) WipeData(ctx context.Context, c *topology.Cluster, name string) (topology.DiskReport, error) {
	n, err := localStoppedDir(c, name, "wipe the data of")
	if err != nil {
		return topology.DiskReport{}, err
	}
	rep, err := backendkit.WipeData(n.Dir)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	return rep, nil
}
