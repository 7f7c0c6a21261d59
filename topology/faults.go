package topology

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The fault primitives the nemesis composes its faults from. They are
// optional abilities of a backend, found by type assertion (b.(Lifecycle),
// b.(Network)), so that a backend without them (a cluster reached only by
// address) simply lacks them. Each primitive records nothing, does one thing,
// is idempotent, and says in its errors what it attempted.

// Lifecycle stops, starts and freezes a node's server.
type Lifecycle interface {
	// Kill stops the node's server at once (SIGKILL; docker kill), leaving
	// its data dir and nodes.conf as they were. A node already down is left so.
	Kill(ctx context.Context, c *Cluster, node string) error
	// Restart starts a killed node again with its own config, data dir and
	// nodes.conf, at the same address, and returns once it answers PING. A
	// running node is left as it is.
	Restart(ctx context.Context, c *Cluster, node string) error
	// Pause freezes the node's server (SIGSTOP; docker pause): its
	// connections stay open and nothing answers on them.
	Pause(ctx context.Context, c *Cluster, node string) error
	// Resume undoes Pause; a node not paused is left as it is.
	Resume(ctx context.Context, c *Cluster, node string) error
}

// Cut is a one-way cut: every packet from From's address to To's address
// (the client port and the cluster bus alike) is dropped. From and To are
// node names or addresses. Traffic from the harness's own clients, which run
// on this machine, is never cut, so a node cut off from the rest of the
// cluster still serves them.
type Cut struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// String is "from->to".
func (c Cut) String() string { return c.From + "->" + c.To }

// Network cuts links between nodes and degrades a node's network. The rules
// live in a chain of the cluster's own (ChainName), which HealNetwork and
// Cleanup remove whole.
type Network interface {
	// Partition adds the cuts; cuts already in place stay once.
	Partition(ctx context.Context, c *Cluster, cuts []Cut) error
	// Unpartition removes the cuts; cuts not in place are no error.
	Unpartition(ctx context.Context, c *Cluster, cuts []Cut) error
	// HealNetwork removes every rule of the cluster: all cuts and all netem.
	HealNetwork(ctx context.Context, c *Cluster) error
	// Netem delays and drops the packets addressed to the node (from its
	// clients and its peers alike), replacing what an earlier Netem set.
	Netem(ctx context.Context, c *Cluster, node string, q NetemSpec) error
	// ClearNetem removes the node's netem; a node without one is no error.
	ClearNetem(ctx context.Context, c *Cluster, node string) error
}

// NetemSpec is a network quality fault: every packet addressed to the node
// is held for Delay ± Jitter (uniform) and dropped with probability Loss
// percent.
type NetemSpec struct {
	Delay  time.Duration `json:"delay"`
	Jitter time.Duration `json:"jitter,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
}

// maxNetemDelay bounds Delay+Jitter: packets are held in the kernel's queue
// meanwhile, and a longer hold is better done with a partition.
const maxNetemDelay = 10 * time.Second

// Validate says what is wrong with q.
func (q NetemSpec) Validate() error {
	switch {
	case q.Delay < 0 || q.Jitter < 0:
		return fmt.Errorf("netem %s: delay and jitter must not be negative", q)
	case q.Jitter > q.Delay:
		return fmt.Errorf("netem %s: jitter must not exceed the delay", q)
	case q.Delay+q.Jitter > maxNetemDelay:
		return fmt.Errorf("netem %s: delay plus jitter must stay within %s (use a partition for longer)", q, maxNetemDelay)
	case q.Loss < 0 || q.Loss > 100:
		return fmt.Errorf("netem %s: loss is a percentage, 0 to 100", q)
	case q.Delay == 0 && q.Loss == 0:
		return fmt.Errorf("netem %s: give a delay, a loss, or both", q)
	}
	return nil
}

// String is "delay 100ms ± 10ms loss 1%".
func (q NetemSpec) String() string {
	s := "delay " + q.Delay.String()
	if q.Jitter > 0 {
		s += " ± " + q.Jitter.String()
	}
	if q.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", q.Loss)
	}
	return s
}

// Ability is a kind of fault primitive a backend may be unable to do here.
type Ability string

// The abilities CanFault is asked about.
const (
	// AbilityLifecycle is Kill, Restart, Pause and Resume.
	AbilityLifecycle Ability = "lifecycle"
	// AbilityPartition is Partition, Unpartition and HealNetwork.
	AbilityPartition Ability = "partition"
	// AbilityNetem is Netem and ClearNetem.
	AbilityNetem Ability = "netem"
)

// FaultChecker is implemented by backends whose fault primitives depend on
// this machine (root, iptables, a local docker engine): CanFault says, before
// a run starts, why an ability cannot be used here, or nil.
type FaultChecker interface {
	CanFault(a Ability) error
}

// ChainPrefix starts the name of every iptables chain the harness makes;
// Cleanup removes the chains that carry it.
const ChainPrefix = "RH-"

// ChainName is the iptables chain of the cluster's rules: ChainPrefix and a
// hash of its name and state dir, so that clusters of the same name in two
// stores (two test runs) on one machine do not share rules.
func ChainName(c *Cluster) string {
	sum := sha256.Sum256([]byte(c.Name + "\x00" + c.Dir))
	return ChainPrefix + hex.EncodeToString(sum[:5])
}

// needRoot is the error of a network fault attempted without root.
func needRoot(backend string, a Ability) error {
	if os.Geteuid() == 0 {
		return nil
	}
	how := "iptables rules for the nodes' loopback addresses"
	if backend == "docker" {
		how = "iptables rules entered into each node container's network namespace with nsenter"
	}
	return fmt.Errorf("%s faults on the %s backend need root (they are %s); this harness runs as uid %d: run it as root", a, backend, how, os.Geteuid())
}

// needTools says which of the commands a fault runs is missing.
func needTools(a Ability, tools ...string) error {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s faults need %s, which is not on PATH (apt-get install iptables util-linux)", a, t)
		}
	}
	return nil
}

// probeIptables says whether iptables answers here (it fails without
// CAP_NET_ADMIN, or on a kernel without the filter table).
func probeIptables(a Ability) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := (netfilter{where: "this machine's network namespace"}).rules(ctx); err != nil {
		return fmt.Errorf("%s faults need iptables to work here: %w", a, err)
	}
	return nil
}

// netfilter runs iptables in one network namespace: this process's when
// netns is empty, else the one at netns (/proc/<pid>/ns/net), entered with
// nsenter, so that node images need no iptables of their own.
type netfilter struct {
	netns string
	// where names the namespace in messages.
	where string
}

// netfilterLocks serializes read-modify-write of one namespace's rules
// within this process; iptables -w serializes against other processes.
var netfilterLocks sync.Map // netns → *sync.Mutex

func (f netfilter) lock() func() {
	m, _ := netfilterLocks.LoadOrStore(f.netns, new(sync.Mutex))
	m.(*sync.Mutex).Lock()
	return m.(*sync.Mutex).Unlock
}

func (f netfilter) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if f.netns == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + f.netns, "--", bin}, args...)...)
}

// rules lists the filter table as iptables -S prints it.
func (f netfilter) rules(ctx context.Context) ([]string, error) {
	var stderr bytes.Buffer
	cmd := f.command(ctx, "iptables", "-w", "5", "-t", "filter", "-S")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list iptables rules in %s: %v: %s", f.where, err, strings.TrimSpace(stderr.String()))
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// apply runs the lines (iptables commands without the program name) as one
// iptables-restore transaction that leaves every other rule alone.
func (f netfilter) apply(ctx context.Context, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	in := "*filter\n" + strings.Join(lines, "\n") + "\nCOMMIT\n"
	cmd := f.command(ctx, "iptables-restore", "-w", "5", "--noflush")
	cmd.Stdin = strings.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore in %s: %v: %s (input: %s)", f.where, err, strings.TrimSpace(string(out)), strings.Join(lines, "; "))
	}
	return nil
}

// chainRules is what a filter table listing says about one chain.
type chainRules struct {
	exists bool
	jumps  []string // the hooks' jumps to it: "-A INPUT -j RH-…"
	specs  []string // its rules without "-A <chain> "
}

func parseChain(listing []string, chain string) chainRules {
	var r chainRules
	for _, l := range listing {
		switch {
		case l == "-N "+chain:
			r.exists = true
		case strings.HasPrefix(l, "-A "+chain+" "):
			r.specs = append(r.specs, strings.TrimPrefix(l, "-A "+chain+" "))
		case strings.HasPrefix(l, "-A ") && strings.HasSuffix(l, " -j "+chain):
			r.jumps = append(r.jumps, l)
		}
	}
	return r
}

// add makes sure the chain exists, is jumped to first thing from hook, and
// holds the rules: top ones (drops) first, bottom ones (queues, which accept
// what they release) last, so that a cut node's packets never reach a queue.
func (f netfilter) add(ctx context.Context, chain, hook string, top, bottom []string) error {
	defer f.lock()()
	listing, err := f.rules(ctx)
	if err != nil {
		return err
	}
	r := parseChain(listing, chain)
	var lines []string
	if !r.exists {
		lines = append(lines, ":"+chain+" - [0:0]")
	}
	if len(r.jumps) == 0 {
		lines = append(lines, "-I "+hook+" 1 -j "+chain)
	}
	have := map[string]bool{}
	for _, s := range r.specs {
		have[s] = true
	}
	for _, s := range top {
		if !have[s] {
			lines = append(lines, "-I "+chain+" 1 "+s)
			have[s] = true
		}
	}
	for _, s := range bottom {
		if !have[s] {
			lines = append(lines, "-A "+chain+" "+s)
			have[s] = true
		}
	}
	return f.apply(ctx, lines)
}

// remove deletes the rules of the chain that match: listed exactly, or
// accepted by match when it is not nil. Absent rules are no error.
func (f netfilter) remove(ctx context.Context, chain string, specs []string, match func(spec string) bool) error {
	defer f.lock()()
	listing, err := f.rules(ctx)
	if err != nil {
		return err
	}
	r := parseChain(listing, chain)
	want := map[string]bool{}
	for _, s := range specs {
		want[s] = true
	}
	var lines []string
	for _, s := range r.specs {
		if want[s] || match != nil && match(s) {
			lines = append(lines, "-D "+chain+" "+s)
		}
	}
	return f.apply(ctx, lines)
}

// removeChain deletes the chain, its rules and every jump to it.
func (f netfilter) removeChain(ctx context.Context, chain string) error {
	defer f.lock()()
	listing, err := f.rules(ctx)
	if err != nil {
		return err
	}
	return f.apply(ctx, dropChainLines(listing, chain))
}

// dropChainLines are the restore lines that delete chain from the listing.
func dropChainLines(listing []string, chain string) []string {
	r := parseChain(listing, chain)
	var lines []string
	for _, j := range r.jumps {
		lines = append(lines, "-D "+strings.TrimPrefix(j, "-A "))
	}
	if r.exists {
		lines = append(lines, "-F "+chain, "-X "+chain)
	}
	return lines
}

// dropSpec is the rule that drops packets from one address to another; an
// empty dst matches any (the rule then lives in dst's own namespace).
func dropSpec(src, dst string) string {
	if dst == "" {
		return "-s " + src + "/32 -j DROP"
	}
	return "-s " + src + "/32 -d " + dst + "/32 -j DROP"
}

// queueSpec is the rule that hands packets to a delay line's queue; match is
// "-d <ip>/32" or "-i eth0". --queue-bypass lets packets through when no
// delay line listens (the harness died), so a leftover rule cuts nothing.
func queueSpec(match string, queue uint16) string {
	return fmt.Sprintf("%s -j NFQUEUE --queue-num %d --queue-bypass", match, queue)
}

// isQueueSpec reports whether spec hands packets matching match to a queue.
func isQueueSpec(spec, match string) bool {
	return strings.HasPrefix(spec, match+" -j NFQUEUE ")
}

// delayLines are a backend's open delay lines by key (the backend's name
// for the node, then NUL). They live in the backend value that opened them,
// so that its HealNetwork finds and closes them; nothing of them is kept in
// a package variable. The zero value is ready to use.
type delayLines struct {
	mu sync.Mutex
	m  map[string]*delayLine
}

// take removes and returns the delay lines whose key has prefix.
func (ls *delayLines) take(prefix string) []*delayLine {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []*delayLine
	for k, d := range ls.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, d)
			delete(ls.m, k)
		}
	}
	return out
}

func (ls *delayLines) put(key string, d *delayLine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = map[string]*delayLine{}
	}
	ls.m[key] = d
}

// closeDelayLines drains and closes the lines (their rules already removed).
func closeDelayLines(ctx context.Context, lines []*delayLine) error {
	var errs []error
	for _, d := range lines {
		errs = append(errs, d.close(ctx))
	}
	return errors.Join(errs...)
}

// netem installs a delay line for one node: the line first, then the rule
// that feeds it (in the namespace f, chain chain hooked from hook). The old
// line of the same key, if any, goes once the new one is in place.
func netem(ctx context.Context, lines *delayLines, f netfilter, chain, hook, key, match string, q NetemSpec) error {
	if err := q.Validate(); err != nil {
		return err
	}
	d, err := openDelayLine(f.netns, queueBase(key), q)
	if err != nil {
		return fmt.Errorf("netem %s in %s: %w", q, f.where, err)
	}
	old := lines.take(key + "\x00")
	lines.put(key+"\x00", d)
	if err := f.add(ctx, chain, hook, nil, []string{queueSpec(match, d.queue)}); err != nil {
		lines.take(key + "\x00")
		d.close(ctx)
		return fmt.Errorf("netem %s in %s: %w", q, f.where, err)
	}
	var oldSpecs []string
	for _, o := range old {
		oldSpecs = append(oldSpecs, queueSpec(match, o.queue))
	}
	if len(oldSpecs) > 0 {
		if err := f.remove(ctx, chain, oldSpecs, nil); err != nil {
			return err
		}
	}
	return closeDelayLines(ctx, old)
}

// clearNetem removes every queue rule for match in the chain (whoever made
// it) and closes this process's delay line of key.
func clearNetem(ctx context.Context, lines *delayLines, f netfilter, chain, key, match string) error {
	err := f.remove(ctx, chain, nil, func(spec string) bool { return isQueueSpec(spec, match) })
	if err != nil {
		return fmt.Errorf("clear netem in %s: %w", f.where, err)
	}
	return closeDelayLines(ctx, lines.take(key+"\x00"))
}

// queueBase is where the search for a free queue number starts for key:
// spread by hash, so that nodes sharing a namespace rarely collide.
func queueBase(key string) uint16 {
	sum := sha256.Sum256([]byte(key))
	return 0x5248 + uint16(sum[0])<<4 + uint16(sum[1]&0xf)
}

// A delay line is how Netem works without tc: the node's packets go, by an
// iptables NFQUEUE rule, to a queue that this process reads (nfnetlink_queue)
// and releases each packet after its delay, or drops it. It needs no qdisc
// (many kernels, this one included, lack sch_netem), works per address on a
// shared loopback, and in a container's namespace without tools in the
// image. It lives as long as the harness: if the harness dies, the rule's
// --queue-bypass lets packets through undelayed until cleanup removes it.
type delayLine struct {
	file  *os.File
	queue uint16
	spec  NetemSpec

	mu     sync.Mutex
	held   int // packets waiting for their verdict
	closed bool
	once   sync.Once
	done   chan struct{} // the reader has returned
}

// nfnetlink_queue's protocol numbers (linux/netfilter/nfnetlink_queue.h).
const (
	netlinkNetfilter   = 12
	nfqMsgPacket       = 3<<8 | 0
	nfqMsgVerdict      = 3<<8 | 1
	nfqMsgConfig       = 3<<8 | 2
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaCfgMask        = 4
	nfqaCfgFlags       = 5
	nfqCmdBind         = 1
	nfqCopyMeta        = 1
	nfqFailOpen        = 1
	nfDrop             = 0
	nfAccept           = 1
	solNetlink         = 270
	netlinkNoENOBUFS   = 5
	// delayQueueLen is how many packets a line may hold; past it the kernel
	// lets packets through undelayed (fail-open) rather than dropping them.
	delayQueueLen = 16384
)

// openDelayLine binds the first free queue from base on in the namespace
// netns ("" for this process's) and starts releasing its packets.
func openDelayLine(netns string, base uint16, q NetemSpec) (*delayLine, error) {
	fd, err := netlinkSocket(netns)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "nfqueue")
	d := &delayLine{file: f, spec: q, done: make(chan struct{})}
	// A queue bound by another socket answers EPERM (or EBUSY): try the next.
	for i := uint16(0); i < 256; i++ {
		err = d.bind(base + i)
		if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EBUSY) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bind an nfnetlink queue (CONFIG_NETFILTER_NETLINK_QUEUE): %w", err)
	}
	go d.run()
	return d, nil
}

// netlinkSocket opens a netfilter netlink socket in netns. A socket stays
// in the namespace it was made in, so it is made on a thread that enters the
// namespace and is never used again (its goroutine exits locked, and the
// runtime ends the thread with it).
func netlinkSocket(netns string) (int, error) {
	open := func() (int, error) {
		fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, netlinkNetfilter)
		if err != nil {
			return -1, fmt.Errorf("netlink socket: %w", err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("netlink bind: %w", err)
		}
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
		syscall.SetsockoptInt(fd, solNetlink, netlinkNoENOBUFS, 1)
		return fd, nil
	}
	if netns == "" {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		ns, err := os.Open(netns)
		if err != nil {
			ch <- result{-1, fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, fmt.Errorf("enter network namespace %s: %w", netns, err)}
			return
		}
		fd, err := open()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// nlAttr encodes one netlink attribute.
func nlAttr(typ uint16, data []byte) []byte {
	n := 4 + len(data)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], data)
	return b
}

// nfqMessage encodes one nfnetlink_queue message for queue.
func nfqMessage(typ, flags uint16, seq uint32, queue uint16, attrs ...[]byte) []byte {
	body := []byte{syscall.AF_UNSPEC, 0, 0, 0} // nfgenmsg: family, version, res_id
	binary.BigEndian.PutUint16(body[2:], queue)
	for _, a := range attrs {
		body = append(body, a...)
	}
	b := make([]byte, syscall.NLMSG_HDRLEN, syscall.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(b[0:], uint32(syscall.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return append(b, body...)
}

// bind asks for queue with one config message and reads the kernel's answer.
func (d *delayLine) bind(queue uint16) error {
	cmd := []byte{nfqCmdBind, 0, 0, syscall.AF_INET}
	params := []byte{0, 0, 0, 0, nfqCopyMeta} // copy_range 0, copy_mode META: ids only
	maxlen := binary.BigEndian.AppendUint32(nil, delayQueueLen)
	flags := binary.BigEndian.AppendUint32(nil, nfqFailOpen)
	msg := nfqMessage(nfqMsgConfig, syscall.NLM_F_REQUEST|syscall.NLM_F_ACK, uint32(queue), queue,
		nlAttr(nfqaCfgCmd, cmd), nlAttr(nfqaCfgParams, params), nlAttr(nfqaCfgQueueMaxlen, maxlen),
		nlAttr(nfqaCfgMask, flags), nlAttr(nfqaCfgFlags, flags))
	if _, err := d.file.Write(msg); err != nil {
		return fmt.Errorf("queue %d: %w", queue, err)
	}
	d.file.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer d.file.SetReadDeadline(time.Time{})
	buf := make([]byte, 8192)
	for {
		n, err := d.file.Read(buf)
		if err != nil {
			return fmt.Errorf("queue %d: no answer from the kernel: %w", queue, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("queue %d: %w", queue, err)
		}
		for _, m := range msgs {
			if m.Header.Type != syscall.NLMSG_ERROR || m.Header.Seq != uint32(queue) || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return fmt.Errorf("queue %d: %w", queue, syscall.Errno(-code))
			}
			d.queue = queue
			return nil
		}
	}
}

// run reads queued packets until the line is closed.
func (d *delayLine) run() {
	defer close(d.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := d.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // a transient error (ENOBUFS…): packets stay queued, TCP resends
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != nfqMsgPacket || len(m.Data) < 4 {
				continue
			}
			id, ok := packetID(m.Data[4:])
			if !ok {
				continue
			}
			if d.spec.Loss > 0 && rand.Float64()*100 < d.spec.Loss {
				d.verdict(id, nfDrop, false)
				continue
			}
			hold := d.spec.Delay
			if d.spec.Jitter > 0 {
				hold += time.Duration(rand.Int64N(int64(2*d.spec.Jitter)+1)) - d.spec.Jitter
			}
			d.mu.Lock()
			d.held++
			d.mu.Unlock()
			time.AfterFunc(hold, func() { d.verdict(id, nfAccept, true) })
		}
	}
}

// packetID finds NFQA_PACKET_HDR's packet id among the attributes.
func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		n := int(binary.NativeEndian.Uint16(attrs))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & 0x3fff
		if n < 4 || n > len(attrs) {
			return 0, false
		}
		if typ == nfqaPacketHdr && n >= 8 {
			return binary.BigEndian.Uint32(attrs[4:8]), true
		}
		attrs = attrs[min((n+3)&^3, len(attrs)):]
	}
	return 0, false
}

func (d *delayLine) verdict(id uint32, v uint32, held bool) {
	hdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, v), id)
	msg := nfqMessage(nfqMsgVerdict, syscall.NLM_F_REQUEST, 0, d.queue, nlAttr(nfqaVerdictHdr, hdr))
	d.mu.Lock()
	defer d.mu.Unlock()
	if held {
		d.held--
	}
	if !d.closed {
		d.file.Write(msg)
	}
}

// close waits (bounded) for the packets still held to be released, then
// closes the socket, which unbinds the queue. The rule feeding the line
// must be gone first, or packets arriving meanwhile are dropped.
func (d *delayLine) close(ctx context.Context) error {
	var err error
	d.once.Do(func() {
		wctx, cancel := context.WithTimeout(ctx, d.spec.Delay+d.spec.Jitter+time.Second)
		defer cancel()
		poll(wctx, 5*time.Millisecond, func() (bool, string, error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.held == 0, "", nil
		})
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		err = d.file.Close()
		<-d.done
	})
	return err
}

// probeDelayLine says whether a delay line can be made here (root, and a
// kernel with nfnetlink_queue), by binding one queue and closing it.
func probeDelayLine() error {
	d, err := openDelayLine("", 0x7e00, NetemSpec{Delay: time.Millisecond})
	if err != nil {
		return err
	}
	return d.close(context.Background())
}
