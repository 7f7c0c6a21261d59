package ssh

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/backendkit"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Netem on the ssh backend is the harness's own delay line (no host here
// has sch_netem, so a tc netem could not be tested): the running harness
// binary is uploaded to the host once per build (AgentPrefix and a hash
// of its content) and run there as an agent, `harness agent delay-line`,
// in an SSH session that lasts as long as the netem. The agent binds an
// NFQUEUE queue and says so; then a rule in the cluster's chain hands it
// the node's packets. The agent ends when its stdin closes (the session
// ended: clear, heal, or the harness died) or on a signal.

// AgentPrefix starts the path of every agent binary on a host; cleanup
// finds leftover agents by their command line starting with it.
const AgentPrefix = Root + "/harness-agent-"

// agentReadyWithin bounds an agent's start until it says "ready"; it
// covers the start of a large binary on a slow host.
const agentReadyWithin = 30 * time.Second

// uploadWithin bounds uploading the agent binary to a host.
const uploadWithin = 5 * time.Minute

// AgentArgs are an agent's arguments: what it delays, and the words that
// name it on its host's process list (the cluster's dir and the node).
type AgentArgs struct {
	// Dir is the cluster's dir on the host (RemoteDir), Node the node.
	Dir, Node string
	// Base is the first queue number tried.
	Base uint16
	netfilter.Impairment
	// Probe binds a queue, closes it and exits: it tells whether the
	// host can run the agent.
	Probe bool
}

// agentWords are the subcommand that runs an agent.
var agentWords = []string{"agent", "delay-line"}

// Args are the command-line words after the binary. Each flag is one
// word (--name=value), so no reordering of the CLI can part a flag from
// its value.
func (a AgentArgs) Args() []string {
	out := append([]string(nil), agentWords...)
	out = append(out,
		"--dir="+a.Dir, "--node="+a.Node, "--base="+strconv.Itoa(int(a.Base)),
		"--delay="+a.Delay.String(), "--jitter="+a.Jitter.String(),
		"--loss="+strconv.FormatFloat(a.Loss, 'g', -1, 64))
	if a.Probe {
		out = append(out, "--probe")
	}
	return out
}

// ParseAgentArgs reads the words after `agent delay-line`.
func ParseAgentArgs(args []string) (AgentArgs, error) {
	var a AgentArgs
	fs := flag.NewFlagSet("delay-line", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	base := fs.Uint("base", 0, "")
	fs.StringVar(&a.Dir, "dir", "", "")
	fs.StringVar(&a.Node, "node", "", "")
	fs.DurationVar(&a.Delay, "delay", 0, "")
	fs.DurationVar(&a.Jitter, "jitter", 0, "")
	fs.Float64Var(&a.Loss, "loss", 0, "")
	fs.BoolVar(&a.Probe, "probe", false, "")
	if err := fs.Parse(args); err != nil {
		return a, fmt.Errorf("agent delay-line: %w", err)
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("agent delay-line: unexpected arguments %q", fs.Args())
	}
	if *base > 0xffff {
		return a, fmt.Errorf("agent delay-line: --base %d is not a queue number", *base)
	}
	a.Base = uint16(*base)
	if a.Delay < 0 || a.Jitter < 0 || a.Loss < 0 || a.Loss > 100 {
		return a, fmt.Errorf("agent delay-line: %s is not a valid impairment", a.Impairment)
	}
	return a, nil
}

// ServeDelayLine is the agent: it opens the delay line, writes "ready
// <queue> <pid>" to out once the queue is bound, and holds it until in
// ends (EOF: the session that started it is gone) or ctx is done (a
// signal); then it releases the packets it holds and unbinds.
func ServeDelayLine(ctx context.Context, a AgentArgs, in io.Reader, out io.Writer) error {
	d, err := netfilter.OpenDelayLine("", a.Base, a.Impairment)
	if err != nil {
		return err
	}
	if a.Probe {
		if err := d.Close(ctx); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, "ok")
		return err
	}
	if _, err := fmt.Fprintf(out, "ready %d %d\n", d.Queue(), os.Getpid()); err != nil {
		d.Close(context.WithoutCancel(ctx))
		return err
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return d.Close(context.WithoutCancel(ctx))
}

// delayAgent is a delay line running on a host for one node.
type delayAgent struct {
	host  string
	pid   int
	queue uint16
	match string
	spec  netfilter.Impairment
	sess  *gossh.Session
	stdin io.WriteCloser
	done  chan struct{} // the session ended
}

// agentSet holds the backend's running agents by agentKey. The zero value
// is ready to use.
type agentSet struct {
	mu sync.Mutex
	m  map[string]*delayAgent

	binOnce sync.Once
	binPath string // this harness's executable
	binHash string // and its content's hash, which names it on the hosts
	binErr  error
}

func agentKey(c *topology.Cluster, node string) string { return RemoteDir(c) + "\x00" + node }

// swap puts a under key (nil removes it) and returns the agent it replaces.
func (s *agentSet) swap(key string, a *delayAgent) *delayAgent {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m[key]
	if a == nil {
		delete(s.m, key)
		return old
	}
	if s.m == nil {
		s.m = map[string]*delayAgent{}
	}
	s.m[key] = a
	return old
}

// take removes and returns the agents whose key starts with prefix.
func (s *agentSet) take(prefix string) []*delayAgent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*delayAgent
	for k, a := range s.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, a)
			delete(s.m, k)
		}
	}
	return out
}

// self is this harness's executable and the hash of its content.
func (s *agentSet) self() (string, string, error) {
	s.binOnce.Do(func() {
		s.binPath, s.binErr = os.Executable()
		if s.binErr != nil {
			return
		}
		f, err := os.Open(s.binPath)
		if err != nil {
			s.binErr = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			s.binErr = err
			return
		}
		s.binHash = hex.EncodeToString(h.Sum(nil))[:16]
	})
	if s.binErr != nil {
		return "", "", fmt.Errorf("the harness's own binary, to run as an agent on the hosts: %w", s.binErr)
	}
	return s.binPath, s.binHash, nil
}

// goarch maps `uname -m` to the GOARCH whose binaries run there.
var goarch = map[string]string{
	"x86_64": "amd64", "amd64": "amd64", "i386": "386", "i686": "386",
	"aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
	"ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
	"mips64": "mips64", "loongarch64": "loong64",
}

// agentBinary makes sure the host has this harness's binary, uploading it
// once (its path names its content's hash), and returns its path there.
// A host of another OS or architecture is refused, saying so.
func (b *Backend) agentBinary(ctx context.Context, h string) (string, error) {
	local, hash, err := b.agents.self()
	if err != nil {
		return "", err
	}
	path := AgentPrefix + hash
	out, err := b.pool.run(ctx, h, "uname -sm; [ -x "+Quote(path)+" ] && echo present; true", nil)
	if err != nil {
		return "", fmt.Errorf("host %s: %w", h, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Stdout)), "\n")
	f := strings.Fields(lines[0])
	if len(f) != 2 || f[0] != "Linux" || runtime.GOOS != "linux" || goarch[f[1]] != runtime.GOARCH {
		return "", fmt.Errorf("host %s is %q, and this harness is a %s/%s binary: the delay line agent cannot run there (run the harness built for the hosts' architecture)", h, strings.TrimSpace(lines[0]), runtime.GOOS, runtime.GOARCH)
	}
	if len(lines) > 1 && lines[1] == "present" {
		return path, nil
	}
	conn, err := b.pool.conn(ctx, h)
	if err != nil {
		return "", err
	}
	src, err := os.Open(local)
	if err != nil {
		return "", fmt.Errorf("upload the agent to %s: %w", h, err)
	}
	defer src.Close()
	uctx, cancel := context.WithTimeout(ctx, uploadWithin)
	defer cancel()
	if err := conn.Upload(uctx, path, 0o755, src); err != nil {
		return "", fmt.Errorf("upload the agent to %s: %w", h, err)
	}
	return path, nil
}

// agentCommand is the shell command that runs the agent with a.
func (b *Backend) agentCommand(bin string, a AgentArgs) string {
	words := []string{Quote(bin)}
	for _, w := range a.Args() {
		words = append(words, Quote(w))
	}
	return "exec " + b.pool.sudo() + strings.Join(words, " ")
}

// startAgent runs the agent on the host in a session of its own and
// waits until it says its queue is bound.
func (b *Backend) startAgent(ctx context.Context, h string, a AgentArgs) (*delayAgent, error) {
	bin, err := b.agentBinary(ctx, h)
	if err != nil {
		return nil, err
	}
	conn, err := b.pool.conn(ctx, h)
	if err != nil {
		return nil, err
	}
	sess, err := conn.client.NewSession()
	if err != nil {
		// A broken connection: dial again once, as pool.run does.
		b.pool.drop(h, conn)
		if conn, err = b.pool.conn(ctx, h); err == nil {
			sess, err = conn.client.NewSession()
		}
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %w: %w", h, errNoSession, err)
		}
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ssh %s: %w", h, err)
	}
	stderr := &capped{max: 64 << 10}
	sess.Stderr = stderr
	if err := sess.Start(b.agentCommand(bin, a)); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ssh %s: start the delay line agent: %w", h, err)
	}
	ag := &delayAgent{host: h, spec: a.Impairment, sess: sess, stdin: stdin, done: make(chan struct{})}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		line := ""
		if sc.Scan() {
			line = sc.Text()
		}
		first <- line
		_, _ = io.Copy(io.Discard, stdout) // never let the agent block writing
	}()
	go func() {
		_ = sess.Wait()
		close(ag.done)
	}()
	// fail ends an agent that did not start, and says what it printed.
	fail := func(why string) (*delayAgent, error) {
		stdin.Close()
		said := "(it said nothing more)"
		select {
		case <-ag.done: // its stderr is all copied
			said = short(strings.TrimSpace(string(stderr.bytes())))
		case <-time.After(killWait):
		}
		sess.Close()
		return nil, fmt.Errorf("host %s: the delay line agent %s: %s", h, why, said)
	}
	timer := time.NewTimer(agentReadyWithin)
	defer timer.Stop()
	select {
	case line := <-first:
		f := strings.Fields(line)
		q, err1 := strconv.ParseUint(get(f, 1), 10, 16)
		pid, err2 := strconv.Atoi(get(f, 2))
		if get(f, 0) != "ready" || err1 != nil || err2 != nil {
			return fail(fmt.Sprintf("did not start (said %q)", line))
		}
		ag.queue, ag.pid = uint16(q), pid
		return ag, nil
	case <-timer.C:
		return fail(fmt.Sprintf("did not say ready within %v", agentReadyWithin))
	case <-ctx.Done():
		return fail(ctx.Err().Error())
	}
}

func get(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// stop ends the agent: its stdin closes, so it releases what it holds and
// exits; past a bound, the session is closed and the agent killed by pid.
func (b *Backend) stopAgent(ctx context.Context, ag *delayAgent) error {
	ag.stdin.Close()
	grace := time.NewTimer(ag.spec.Delay + ag.spec.Jitter + 5*time.Second)
	defer grace.Stop()
	select {
	case <-ag.done:
		ag.sess.Close()
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	ag.sess.Close()
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signalWithin)
	defer cancel()
	return b.pool.killAgents(kctx, ag.host, func(p agentProc) bool { return p.PID == ag.pid })
}

// nodeMatch is the iptables match of the packets addressed to node n: to
// its host's address, at its client or bus port (nodes share their host's
// address).
func nodeMatch(n topology.Node) (string, error) {
	port, err := portOf(n)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("-d %s/32 -p tcp -m multiport --dports %d,%d", n.Host, port, port+10000), nil
}

// Netem delays and drops the packets addressed to the node's ports with
// a delay line agent on its host, fed by a rule in the cluster's chain.
// A netem already on the node is replaced once the new one is in place.
func (b *Backend) Netem(ctx context.Context, c *topology.Cluster, name string, q topology.NetemSpec) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Name, n.Addr, err)
	}
	match, err := nodeMatch(n)
	if err != nil {
		return err
	}
	key := agentKey(c, n.Name)
	ag, err := b.startAgent(ctx, n.Host, AgentArgs{Dir: RemoteDir(c), Node: n.Name, Base: netfilter.QueueBase(key), Impairment: backendkit.Impairment(q)})
	if err != nil {
		return fmt.Errorf("netem on node %s (%s): %w", n.Name, n.Addr, err)
	}
	ag.match = match
	t := b.pool.table(n.Host, &b.locks)
	if _, err := t.Add(ctx, topology.ChainName(c), "INPUT", nil, []string{netfilter.QueueSpec(match, ag.queue)}); err != nil {
		b.stopAgent(context.WithoutCancel(ctx), ag)
		return fmt.Errorf("netem on node %s (%s): %w", n.Name, n.Addr, err)
	}
	old := b.agents.swap(key, ag)
	if old == nil {
		return nil
	}
	if err := t.Remove(ctx, topology.ChainName(c), []string{netfilter.QueueSpec(old.match, old.queue)}, nil); err != nil {
		return fmt.Errorf("netem on node %s (%s): remove the old rule: %w", n.Name, n.Addr, err)
	}
	return b.stopAgent(ctx, old)
}

// ClearNetem removes every queue rule for the node in the cluster's
// chain, then stops its agent.
func (b *Backend) ClearNetem(ctx context.Context, c *topology.Cluster, name string) error {
	n, err := sshNode(c, name)
	if err != nil {
		return err
	}
	match, err := nodeMatch(n)
	if err != nil {
		return err
	}
	err = b.pool.table(n.Host, &b.locks).Remove(ctx, topology.ChainName(c), nil, func(spec string) bool { return netfilter.IsQueueSpec(spec, match) })
	if err != nil {
		return fmt.Errorf("clear netem on node %s (%s): %w", n.Name, n.Addr, err)
	}
	if ag := b.agents.swap(agentKey(c, n.Name), nil); ag != nil {
		if err := b.stopAgent(ctx, ag); err != nil {
			return fmt.Errorf("clear netem on node %s (%s): %w", n.Name, n.Addr, err)
		}
	}
	return nil
}

// stopAgents stops every agent of the cluster, on every host: those this
// backend started (their rules must be gone), then any other found there
// by its command line (one a harness that died left running).
func (b *Backend) stopAgents(ctx context.Context, c *topology.Cluster) error {
	ags := b.agents.take(RemoteDir(c) + "\x00")
	errs := make([]error, len(ags))
	_ = wait.Parallel(len(ags), func(i int) error {
		errs[i] = b.stopAgent(ctx, ags[i])
		return nil
	})
	hosts := b.hostsOf(c)
	dir := RemoteDir(c)
	errs = append(errs, wait.Parallel(len(hosts), func(i int) error {
		return b.pool.killAgents(ctx, hosts[i], func(p agentProc) bool { return p.Dir == dir })
	}))
	return errors.Join(errs...)
}

// agentProc is an agent running on a host.
type agentProc struct {
	PID int
	AgentArgs
}

// agentProcsScript lists the processes whose binary is an agent's, one
// per line: the pid, then the command line's words, tab-separated.
const agentProcsScript = `for f in /proc/[0-9]*/cmdline; do
  c=$(tr '\0' '\t' < "$f" 2>/dev/null) || continue
  case $c in ` + AgentPrefix + `*) ;; *) continue ;; esac
  p=${f#/proc/}; printf '%s\t%s\n' "${p%/cmdline}" "$c"
done; true`

// parseAgentProcs reads agentProcsScript's output.
func parseAgentProcs(out string) []agentProc {
	var ps []agentProc
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimRight(l, "\t"), "\t")
		if len(f) < 4 || f[2] != agentWords[0] || f[3] != agentWords[1] {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		a, err := ParseAgentArgs(f[4:])
		if err != nil {
			continue
		}
		ps = append(ps, agentProc{PID: pid, AgentArgs: a})
	}
	return ps
}

// agentProcs lists the agents running on host h.
func (p *pool) agentProcs(ctx context.Context, h string) ([]agentProc, error) {
	out, err := p.run(ctx, h, agentProcsScript, nil)
	if err != nil {
		return nil, fmt.Errorf("list the delay line agents on %s: %w", h, err)
	}
	return parseAgentProcs(string(out.Stdout)), nil
}

// killAgents SIGKILLs the agents on host h that match, and waits until
// none is left.
func (p *pool) killAgents(ctx context.Context, h string, match func(agentProc) bool) error {
	var left []string
	err := wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
		ps, err := p.agentProcs(ctx, h)
		if err != nil {
			return false, "", err
		}
		left = left[:0]
		for _, p := range ps {
			if match(p) {
				left = append(left, strconv.Itoa(p.PID))
			}
		}
		if len(left) == 0 {
			return true, "", nil
		}
		if _, err := p.run(ctx, h, p.sudo()+"kill -KILL "+strings.Join(left, " ")+" 2>/dev/null; true", nil); err != nil {
			return false, "", err
		}
		return false, fmt.Sprintf("delay line agents on %s: pids %v still running", h, left), nil
	})
	if err != nil {
		return fmt.Errorf("stop the delay line agents on %s: %w", h, err)
	}
	return nil
}

// canNetem says whether every host can run the agent: this binary's OS
// and architecture, iptables with the NFQUEUE target (as root or through
// sudo -n), and a kernel with nfnetlink_queue, probed by the agent
// binding a queue there.
func (b *Backend) canNetem() error {
	ctx, cancel := context.WithTimeout(context.Background(), uploadWithin)
	defer cancel()
	hosts := b.hostsOf(nil)
	return wait.Parallel(len(hosts), func(i int) error {
		h := hosts[i]
		probe := "*filter\n:" + topology.ChainPrefix + "probe - [0:0]\n-A " + topology.ChainPrefix + "probe " + netfilter.QueueSpec("-d 127.0.0.1/32", 1) + "\nCOMMIT\n"
		if _, err := b.pool.table(h, nil).Exec(ctx, "iptables-restore", []string{"-w", "5", "--test"}, strings.NewReader(probe)); err != nil {
			return fmt.Errorf("netem faults on the ssh backend need iptables with the NFQUEUE target on every host (as root, or through sudo -n): %w", err)
		}
		bin, err := b.agentBinary(ctx, h)
		if err != nil {
			return fmt.Errorf("netem faults on the ssh backend: %w", err)
		}
		if _, err := b.pool.run(ctx, h, b.agentCommand(bin, AgentArgs{Base: 0x7e00, Impairment: netfilter.Impairment{Delay: time.Millisecond}, Probe: true}), nil); err != nil {
			return fmt.Errorf("netem faults on the ssh backend: the delay line agent cannot bind a queue on %s (a kernel with nfnetlink_queue, and root): %w", h, err)
		}
		return nil
	})
}

// cleanupAgents stops the delay line agents on host h that a cleanup
// takes: those of the named cluster (or of every cluster when cluster is
// ""), but never those of a held dir; then, in a cleanup of every
// cluster where no cluster is held, the agent binaries too.
func cleanupAgents(ctx context.Context, p *pool, h, cluster string, dirs []string, held map[string]bool, dryRun bool, rep *Leftovers) error {
	ps, err := p.agentProcs(ctx, h)
	if err != nil {
		return fmt.Errorf("cleanup on %s: %w", h, err)
	}
	take := map[string]bool{}
	for _, d := range dirs {
		take[d] = true
	}
	// An agent whose dir is gone already (a half-done down) is the named
	// cluster's when the dir's name says so.
	ofCluster := func(dir string) bool {
		base := strings.TrimPrefix(dir, Root+"/")
		i := strings.LastIndexByte(base, '-')
		return i > 0 && base[:i] == cluster
	}
	match := func(a agentProc) bool {
		if held[a.Dir] {
			return false
		}
		return take[a.Dir] || cluster == "" || ofCluster(a.Dir)
	}
	for _, a := range ps {
		if match(a) {
			rep.Processes = append(rep.Processes, fmt.Sprintf("host %s: pid %d (delay line agent of node %s in %s)", h, a.PID, a.Node, a.Dir))
		}
	}
	if !dryRun {
		if err := p.killAgents(ctx, h, match); err != nil {
			return fmt.Errorf("cleanup on %s: %w", h, err)
		}
	}
	if cluster != "" || len(held) > 0 {
		return nil
	}
	out, err := p.run(ctx, h, "for f in "+AgentPrefix+"*; do [ -f \"$f\" ] && echo \"$f\"; done; true", nil)
	if err != nil {
		return fmt.Errorf("cleanup on %s: %w", h, err)
	}
	for _, f := range strings.Fields(string(out.Stdout)) {
		rep.Dirs = append(rep.Dirs, fmt.Sprintf("host %s: %s (the agent binary)", h, f))
		if dryRun {
			continue
		}
		if _, err := p.run(ctx, h, "rm -f "+Quote(f), nil); err != nil {
			return fmt.Errorf("cleanup on %s: %w", h, err)
		}
	}
	return nil
}
