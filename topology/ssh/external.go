package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/wait"
)

// External gives the faults of the ssh backend to a cluster the harness
// did not make (--addr with --hosts): its nodes are found on the hosts of
// a hosts file by their address, and their server processes over SSH.
// Kill, pause, partition and disk faults are the Backend's own (they
// find a node's server by its working directory, which for a server the
// harness did not start is its data dir); Restart re-executes the command
// line a node was found running with. It never starts, stops or removes
// anything but through those faults: Up, AddNode and RemoveNode refuse,
// and Down only heals the network.
type External struct {
	*Backend
	nodes map[string]Found // node addr → what was found
}

// Found is what was found of one node of an external cluster.
type Found struct {
	Addr, Host string
	PID        int
	// Dir is its data dir (CONFIG GET dir), which is its working dir.
	Dir string
	// Config is its config file ("" when it was started without one).
	Config string
	// Command is the command line Restart runs, in Dir; Source says
	// where it came from.
	Command []string
	Source  string
	// UID and GID own the process; Restart runs the command as them.
	UID, GID int
	// Logfile is its log file as CONFIG GET logfile says ("" for stdout).
	Logfile string
}

// String is the line the run's log says about the node.
func (f Found) String() string {
	cfg := f.Config
	if cfg == "" {
		cfg = "(none)"
	}
	return fmt.Sprintf("node %s: host %s, pid %d, data dir %s, config %s, restart with %q (%s)", f.Addr, f.Host, f.PID, f.Dir, cfg, strings.Join(f.Command, " "), f.Source)
}

var (
	_ topology.Backend      = (*External)(nil)
	_ topology.Lifecycle    = (*External)(nil)
	_ topology.Network      = (*External)(nil)
	_ topology.FaultChecker = (*External)(nil)
	_ topology.Disk         = (*External)(nil)
)

// DiscoverExternal finds the cluster's nodes (addrs, from CLUSTER NODES)
// on the hosts of inv, and each node's server process there. The returned
// cluster names its nodes by address; chain names its iptables chains
// (topology.ChainName reads it as the cluster's state dir), so that each
// run has its own.
func DiscoverExternal(ctx context.Context, a *topology.Admin, inv *Inventory, addrs []string, chain string) (*External, *topology.Cluster, error) {
	b, err := New(topology.Store{}, inv)
	if err != nil {
		return nil, nil, err
	}
	// Its servers are in no cgroup of the harness, so cuts are made by
	// address and port (cutRules): no host is looked at for cgroups.
	for _, h := range inv.Hosts {
		b.cgroots[h.Addr] = ""
	}
	e := &External{Backend: b, nodes: map[string]Found{}}
	c := &topology.Cluster{Name: "external", Backend: e.Name(), Dir: chain}
	var errs []error
	for _, addr := range addrs {
		f, err := e.find(ctx, a, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.nodes[addr] = f
		c.Nodes = append(c.Nodes, topology.Node{Name: addr, Addr: addr, Host: f.Host, PID: f.PID, Dir: f.Dir})
	}
	if err := errors.Join(errs...); err != nil {
		b.Close()
		return nil, nil, err
	}
	return e, c, nil
}

// Found lists what was found of each node, by address.
func (e *External) Found() []Found {
	var out []Found
	for _, f := range e.nodes {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// hostOf is the host of the hosts file whose addr is the node's IP.
func (e *External) hostOf(addr string) (string, error) {
	ip, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", addr, err)
	}
	want := net.ParseIP(ip)
	for _, h := range e.Inv.Hosts {
		if h.Addr == ip || want != nil && want.Equal(net.ParseIP(h.Addr)) {
			return h.Addr, nil
		}
	}
	return "", fmt.Errorf("node %s: no host with addr %s in the hosts file %s (list every node's host there, by the address the cluster announces)", addr, ip, e.Inv.where(0))
}

// findScript prints, for process pid: its exe, its cwd, "uid gid", the
// login's uid, then its command line as it is now (NUL-separated).
func findScript(pid int) string {
	p := "/proc/" + strconv.Itoa(pid)
	return fmt.Sprintf(`[ -d %[1]s ] || { echo "no process %[2]d" >&2; exit 1; }
readlink %[1]s/exe && readlink %[1]s/cwd && awk '/^Uid:/{u=$2} /^Gid:/{g=$2} END{print u" "g}' %[1]s/status && id -u && cat %[1]s/cmdline`, p, pid)
}

// find asks the node for its pid, data dir, executable, config file and
// log file, and its host for the process.
func (e *External) find(ctx context.Context, a *topology.Admin, addr string) (Found, error) {
	f := Found{Addr: addr}
	host, err := e.hostOf(addr)
	if err != nil {
		return f, err
	}
	f.Host = host
	info, err := a.DoText(ctx, addr, "INFO", "server")
	if err != nil {
		return f, fmt.Errorf("node %s: INFO server: %w", addr, err)
	}
	fields := infoFields(info)
	if f.PID, err = strconv.Atoi(fields["process_id"]); err != nil {
		return f, fmt.Errorf("node %s: INFO server has no process_id", addr)
	}
	f.Config = fields["config_file"]
	if f.Dir, err = configGet(ctx, a, addr, "dir"); err != nil {
		return f, err
	}
	if f.Logfile, err = configGet(ctx, a, addr, "logfile"); err != nil {
		return f, err
	}
	out, err := e.pool.run(ctx, host, findScript(f.PID), nil)
	if err != nil {
		return f, fmt.Errorf("node %s: its process (pid %d, as it says) on host %s: %w", addr, f.PID, host, err)
	}
	lines := bytes.SplitN(out.Stdout, []byte("\n"), 5)
	if len(lines) != 5 {
		return f, fmt.Errorf("node %s: pid %d on host %s: unexpected output %q", addr, f.PID, host, out.Stdout)
	}
	exe, cwd := string(lines[0]), string(lines[1])
	ids := strings.Fields(string(lines[2]))
	login, _ := strconv.Atoi(strings.TrimSpace(string(lines[3])))
	if len(ids) == 2 {
		f.UID, _ = strconv.Atoi(ids[0])
		f.GID, _ = strconv.Atoi(ids[1])
	}
	// The pid a server reports is in its own pid namespace: in a
	// container it names another process of the host, or none.
	if cwd != f.Dir || !isServerExe(exe) {
		return f, fmt.Errorf("node %s: pid %d on host %s is %s in %s, not a server in the node's data dir %s (is the node in a container? faults over SSH need it to run on the host itself)", addr, f.PID, host, exe, cwd, f.Dir)
	}
	f.Command, f.Source = restartCommand(bytes.TrimRight(lines[4], "\x00"), fields["executable"], exe, f.Config)
	if f.UID == login {
		f.UID, f.GID = -1, -1 // no change of user needed
	}
	return f, nil
}

// isServerExe says whether exe is a Redis or Valkey server.
func isServerExe(exe string) bool {
	b := exe[strings.LastIndexByte(exe, '/')+1:]
	return strings.Contains(b, "redis") || strings.Contains(b, "valkey")
}

// restartCommand is the command line that starts the node again. Redis
// rewrites its command line into its process title ("redis-server
// 10.0.0.1:6379 [cluster]"), which keeps no config file and no option:
// where cmdline is such a title, the server's executable and config file
// (which INFO server reports for this) are run instead.
func restartCommand(cmdline []byte, executable, exe, config string) ([]string, string) {
	args := strings.Split(string(cmdline), "\x00")
	if len(args) > 0 && args[0] != "" && !isProcTitle(args) {
		return args, "/proc/<pid>/cmdline"
	}
	bin := executable
	if bin == "" {
		bin = exe
	}
	cmd := []string{bin}
	if config != "" {
		cmd = append(cmd, config)
	}
	return cmd, "executable and config_file of INFO server (the command line is the process title)"
}

// isProcTitle says whether args is a title Redis wrote over its command
// line: one argument with spaces in it, or a trailing "[cluster]" mode.
func isProcTitle(args []string) bool {
	last := args[len(args)-1]
	return len(args) == 1 && strings.Contains(args[0], " ") || strings.HasSuffix(last, "]") && strings.Contains(last, "[")
}

func infoFields(info string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// configGet is the value of one config parameter.
func configGet(ctx context.Context, a *topology.Admin, addr, key string) (string, error) {
	v, err := a.Do(ctx, addr, "CONFIG", "GET", key)
	if err != nil {
		return "", fmt.Errorf("node %s: CONFIG GET %s: %w", addr, key, err)
	}
	switch kv := v.(type) {
	case []any:
		if len(kv) == 2 {
			return fmt.Sprint(kv[1]), nil
		}
	case map[any]any:
		return fmt.Sprint(kv[key]), nil
	}
	return "", fmt.Errorf("node %s: CONFIG GET %s: unexpected reply %v", addr, key, v)
}

// Name says what it is.
func (e *External) Name() string { return "ssh (a cluster given by address)" }

var errExternal = errors.New("a cluster given by address is not the harness's to change: it neither starts nor removes nodes there")

// Up refuses: the cluster exists.
func (e *External) Up(context.Context, topology.Spec) (*topology.Cluster, error) {
	return nil, errExternal
}

// AddNode refuses.
func (e *External) AddNode(context.Context, *topology.Cluster) (topology.Node, error) {
	return topology.Node{}, errExternal
}

// RemoveNode refuses.
func (e *External) RemoveNode(context.Context, *topology.Cluster, string) error {
	return errExternal
}

// Down removes nothing of the cluster: it heals the network (the run's
// chain on every host) and ends the SSH connections.
func (e *External) Down(ctx context.Context, c *topology.Cluster) error {
	return e.HealNetwork(ctx, c)
}

// maxLog bounds the log read from a node's host.
const maxLog = 16 << 20

// Logs returns the last maxLog bytes of the node's log file.
func (e *External) Logs(ctx context.Context, c *topology.Cluster, name string) ([]byte, error) {
	n, err := sshNode(c, name)
	if err != nil {
		return nil, err
	}
	f := e.nodes[n.Addr]
	if f.Logfile == "" {
		return nil, fmt.Errorf("logs of node %s: it logs to its standard output, which the harness cannot read", n.Addr)
	}
	out, err := e.pool.run(ctx, n.Host, fmt.Sprintf("cd %s && tail -c %d %s", Quote(f.Dir), maxLog, Quote(f.Logfile)), nil)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", n.Addr, err)
	}
	return bytes.Clone(out.Stdout), nil
}

// CanFault: lifecycle faults need a command to restart every node with;
// partitions, one node per host (its servers are in no cgroup of the
// harness, so cuts match addresses and ports, which cannot tell two nodes
// of one host apart: cutRules); the rest is the ssh backend's.
func (e *External) CanFault(a topology.Ability) error {
	switch a {
	case topology.AbilityLifecycle:
		for _, f := range e.Found() {
			if len(f.Command) == 0 {
				return fmt.Errorf("node %s: no command line to restart it with", f.Addr)
			}
		}
		return nil
	case topology.AbilityPartition:
		on := map[string]string{}
		for _, f := range e.Found() {
			if o, ok := on[f.Host]; ok {
				return fmt.Errorf("partitions of a cluster given by address need one node per host: nodes %s and %s share host %s, and iptables cannot tell their connections apart", o, f.Addr, f.Host)
			}
			on[f.Host] = f.Addr
		}
	}
	return e.Backend.CanFault(a)
}

// running is the node's server process, nil when none runs: the one in
// its data dir exactly (a node's dir may hold another's).
func (e *External) running(ctx context.Context, n topology.Node) (*proc, error) {
	ps, err := e.pool.procs(ctx, n.Host, n.Dir)
	if err != nil {
		return nil, err
	}
	var in []proc
	for _, p := range ps {
		if p.Cwd == n.Dir {
			in = append(in, p)
		}
	}
	return mainProc(in), nil
}

// Restart runs the node's command line again in its data dir, as the
// user it ran as, in a session of its own (it outlives the SSH session),
// and waits until it answers PING; a running node is left so.
func (e *External) Restart(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	f, ok := e.nodes[n.Addr]
	if !ok || len(f.Command) == 0 {
		return fmt.Errorf("restart node %s: no command line was found for it", n.Addr)
	}
	if p, err := e.running(ctx, n); err != nil {
		return fmt.Errorf("restart node %s: %w", n.Addr, err)
	} else if p != nil {
		return nil
	}
	var words []string
	for _, w := range f.Command {
		words = append(words, Quote(w))
	}
	cmd := strings.Join(words, " ")
	if f.UID >= 0 {
		cmd = fmt.Sprintf("%ssetpriv --reuid=%d --regid=%d --clear-groups %s", e.pool.sudo(), f.UID, f.GID, cmd)
	}
	// A server that logs to its standard output logged to one the
	// harness never had: the restarted one's goes nowhere either.
	script := fmt.Sprintf("cd %s && { setsid %s >/dev/null 2>&1 </dev/null & }", Quote(n.Dir), cmd)
	if _, err := e.pool.run(ctx, n.Host, script, nil); err != nil {
		return fmt.Errorf("restart node %s on %s: %w", n.Addr, n.Host, err)
	}
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rc.Close()
	wctx, cancel := context.WithTimeout(ctx, startWithin)
	defer cancel()
	err = wait.Poll(wctx, 20*time.Millisecond, func() (bool, string, error) {
		if err := rc.Ping(wctx).Err(); err != nil {
			return false, fmt.Sprintf("node %s restarted with %q in %s on %s does not answer PING: %v", n.Addr, cmd, n.Dir, n.Host, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("restart node %s: %w", n.Addr, err)
	}
	return nil
}
