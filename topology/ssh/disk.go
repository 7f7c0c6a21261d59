package ssh

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
)

var (
	_ topology.Disk        = (*Backend)(nil)
	_ topology.DiskChecker = (*Backend)(nil)
)

// CanDisk: the nodes' files are edited over SSH with the hosts' own
// coreutils (stat, truncate, rm).
func (b *Backend) CanDisk() error { return nil }

// stoppedNode is the node, refused while its server runs.
func (b *Backend) stoppedNode(ctx context.Context, c *topology.Cluster, name, what string) (topology.Node, error) {
	n, err := sshNode(c, name)
	if err != nil {
		return n, err
	}
	ps, err := b.pool.procs(ctx, n.Host, n.Dir)
	if err != nil {
		return n, fmt.Errorf("%s node %s: %w", what, n.Name, err)
	}
	if p := mainProc(ps); p != nil {
		return n, fmt.Errorf("%s node %s (%s): its server runs (pid %d on %s); kill it first", what, n.Name, n.Addr, p.PID, n.Host)
	}
	return n, nil
}

// aofScript prints the AOF dir's manifest, a separator line, and its
// incremental files' names.
func aofScript(aofDir string) string {
	return "cd " + Quote(aofDir) + " && { for m in *.manifest; do [ -f \"$m\" ] && cat \"$m\"; break; done; echo " + aofSeparator + "; ls -1 | grep '\\.incr\\.aof$'; true; }"
}

const aofSeparator = "--harness-incr-files--"

// TruncateAOF cuts the tail of the stopped node's newest incremental AOF
// on its host.
func (b *Backend) TruncateAOF(ctx context.Context, c *topology.Cluster, name string, bytes int64) (topology.DiskReport, error) {
	n, err := b.stoppedNode(ctx, c, name, "truncate the AOF of")
	rep := topology.DiskReport{Dir: n.Dir}
	if err != nil {
		return rep, err
	}
	if bytes < 0 {
		return rep, fmt.Errorf("truncate AOF: %d bytes: want ≥ 0", bytes)
	}
	aofDir := n.Dir + "/" + backendkit.AOFDirName
	out, err := b.pool.run(ctx, n.Host, aofScript(aofDir), nil)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): truncate AOF: %w", n.Name, n.Addr, err)
	}
	manifest, files, _ := strings.Cut(string(out.Stdout), aofSeparator+"\n")
	file, err := backendkit.NewestIncrAOF(aofDir, strings.TrimSpace(manifest), strings.Fields(files))
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): truncate AOF: %w", n.Name, n.Addr, err)
	}
	path := aofDir + "/" + file
	// Size and cut in one command, so that nothing writes between them
	// (the server is stopped; this is for the report's truth).
	script := fmt.Sprintf("s=$(stat -c %%s %s) && c=$(( s < %d ? s : %d )) && truncate -s $(( s - c )) %s && echo $s $c", Quote(path), bytes, bytes, Quote(path))
	out, err = b.pool.run(ctx, n.Host, script, nil)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): truncate AOF %s: %w", n.Name, n.Addr, path, err)
	}
	f := strings.Fields(string(out.Stdout))
	if len(f) != 2 {
		return rep, fmt.Errorf("node %s (%s): truncate AOF %s: unexpected output %q", n.Name, n.Addr, path, out.Stdout)
	}
	rep.Size, _ = strconv.ParseInt(f[0], 10, 64)
	rep.Truncated, _ = strconv.ParseInt(f[1], 10, 64)
	rep.Files = []string{backendkit.AOFDirName + "/" + file}
	return rep, nil
}

// WipeData removes the stopped node's AOF dir and RDB (and the temp files
// of a save cut short) on its host, keeping nodes.conf.
func (b *Backend) WipeData(ctx context.Context, c *topology.Cluster, name string) (topology.DiskReport, error) {
	n, err := b.stoppedNode(ctx, c, name, "wipe the data of")
	rep := topology.DiskReport{Dir: n.Dir}
	if err != nil {
		return rep, err
	}
	script := fmt.Sprintf(`cd %s || exit 1
[ -f nodes.conf ] || { echo "%s has no nodes.conf, so it is not a node's data dir" >&2; exit 1; }
for f in %s %s temp-*; do [ -e "$f" ] || continue; rm -rf -- "$f" && echo "$f"; done; true`, Quote(n.Dir), n.Dir, backendkit.AOFDirName, backendkit.RDBFileName)
	out, err := b.pool.run(ctx, n.Host, script, nil)
	if err != nil {
		return rep, fmt.Errorf("node %s (%s): wipe data: %w", n.Name, n.Addr, err)
	}
	rep.Files = strings.Fields(string(out.Stdout))
	sort.Strings(rep.Files)
	return rep, nil
}
