package netfilter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// Locks serializes the read-modify-write of one namespace's rules within
// this process (iptables -w serializes against other processes). The zero
// value is ready to use; its owner shares it among the Tables it makes.
type Locks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex // netns → its lock
}

func (l *Locks) lock(netns string) func() {
	if l == nil {
		return func() {}
	}
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	m, ok := l.m[netns]
	if !ok {
		m = new(sync.Mutex)
		l.m[netns] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Table is the iptables filter table of one network namespace: this
// process's when NetNS is empty, else the one at NetNS
// (/proc/<pid>/ns/net), entered with nsenter, so that the namespace needs
// no iptables of its own; or wherever Exec runs the commands.
type Table struct {
	// NetNS is the namespace nsenter enters; with Exec set, it only names
	// the namespace for Locks.
	NetNS string
	// Where names the namespace in messages.
	Where string
	// Locks, when not nil, serializes this process's edits of the namespace.
	Locks *Locks
	// Exec, when not nil, runs the table's commands (bin is "iptables" or
	// "iptables-restore") where the namespace is, e.g. in a container that
	// shares it, instead of this process running them. It returns the
	// command's standard output; a failure's error carries its standard error.
	Exec func(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error)
}

// run runs one command in the table's namespace.
func (t Table) run(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error) {
	if t.Exec != nil {
		return t.Exec(ctx, bin, args, stdin)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if t.NetNS != "" {
		cmd = exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + t.NetNS, "--", bin}, args...)...)
	}
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = stdin, &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Rules lists the filter table as iptables -S prints it.
func (t Table) Rules(ctx context.Context) ([]string, error) {
	out, err := t.run(ctx, "iptables", []string{"-w", "5", "-t", "filter", "-S"}, nil)
	if err != nil {
		return nil, fmt.Errorf("list iptables rules in %s: %w", t.Where, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// Apply runs the lines (iptables commands without the program name) as one
// iptables-restore transaction that leaves every other rule alone.
func (t Table) Apply(ctx context.Context, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	in := "*filter\n" + strings.Join(lines, "\n") + "\nCOMMIT\n"
	if _, err := t.run(ctx, "iptables-restore", []string{"-w", "5", "--noflush"}, strings.NewReader(in)); err != nil {
		return fmt.Errorf("iptables-restore in %s: %w (input: %s)", t.Where, err, strings.Join(lines, "; "))
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

// Chains lists the names of the chains in a listing that start with prefix.
func Chains(listing []string, prefix string) []string {
	var out []string
	for _, l := range listing {
		if name, ok := strings.CutPrefix(l, "-N "); ok && strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	return out
}

// Rules are rules Add made sure of in one chain; Remove undoes the Add.
type Rules struct {
	Table Table
	Chain string
	Specs []string
}

// Remove deletes the rules; those already gone are no error.
func (r Rules) Remove(ctx context.Context) error {
	return r.Table.Remove(ctx, r.Chain, r.Specs, nil)
}

// Add makes sure the chain exists, is jumped to first thing from hook, and
// holds the rules: top ones (drops) first, bottom ones (queues, which accept
// what they release) last, so that a cut node's packets never reach a queue.
// Rules already there stay once.
func (t Table) Add(ctx context.Context, chain, hook string, top, bottom []string) (Rules, error) {
	made := Rules{Table: t, Chain: chain, Specs: append(append([]string(nil), top...), bottom...)}
	defer t.Locks.lock(t.NetNS)()
	listing, err := t.Rules(ctx)
	if err != nil {
		return made, err
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
	return made, t.Apply(ctx, lines)
}

// Remove deletes the rules of the chain that match: listed exactly, or
// accepted by match when it is not nil. Absent rules are no error.
func (t Table) Remove(ctx context.Context, chain string, specs []string, match func(spec string) bool) error {
	defer t.Locks.lock(t.NetNS)()
	listing, err := t.Rules(ctx)
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
	return t.Apply(ctx, lines)
}

// RemoveChain deletes the chain, its rules and every jump to it: it undoes
// every Add to the chain at once.
func (t Table) RemoveChain(ctx context.Context, chain string) error {
	defer t.Locks.lock(t.NetNS)()
	listing, err := t.Rules(ctx)
	if err != nil {
		return err
	}
	return t.Apply(ctx, DropChainLines(listing, chain))
}

// DropChainLines are the restore lines that delete chain from the listing.
func DropChainLines(listing []string, chain string) []string {
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

// DropSpec is the rule that drops packets from one address to another; an
// empty dst matches any (the rule then lives in dst's own namespace).
func DropSpec(src, dst string) string {
	if dst == "" {
		return "-s " + src + "/32 -j DROP"
	}
	return "-s " + src + "/32 -d " + dst + "/32 -j DROP"
}

// QueueSpec is the rule that hands packets to a delay line's queue; match is
// "-d <ip>/32" or "-i eth0". --queue-bypass lets packets through when no
// delay line listens (the process that made it died), so a leftover rule
// cuts nothing.
func QueueSpec(match string, queue uint16) string {
	return fmt.Sprintf("%s -j NFQUEUE --queue-num %d --queue-bypass", match, queue)
}

// IsQueueSpec reports whether spec hands packets matching match to a queue.
func IsQueueSpec(spec, match string) bool {
	return strings.HasPrefix(spec, match+" -j NFQUEUE ")
}

// NeedTools says which of the commands is missing from PATH, naming the
// Debian packages that bring them.
func NeedTools(tools ...string) error {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s, which is not on PATH (apt-get install iptables util-linux)", t)
		}
	}
	return nil
}
