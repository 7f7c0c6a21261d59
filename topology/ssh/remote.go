package ssh

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Root is the directory on every host under which the harness keeps its
// clusters: Root/<cluster>-<hash>/<node>/ holds a node's config, data and
// log; Root/<cluster>-<hash>/server/ a fetched build uploaded there.
// Cleanup looks for servers and dirs under it and nowhere else.
const Root = "/var/tmp/redis-harness"

// ownerFile, in a cluster's dir on a host, names the harness state dir
// the cluster's record lives in, so that cleanup on this machine can tell
// a cluster a running harness holds and name its iptables chain.
const ownerFile = "owner"

// RemoteDir is the cluster's dir on every host: its name and a hash of
// its name and state dir, so that two stores' clusters of the same name
// (two test runs) do not share a dir.
func RemoteDir(c *topology.Cluster) string {
	sum := sha256.Sum256([]byte(c.Name + "\x00" + c.Dir))
	return Root + "/" + c.Name + "-" + hex.EncodeToString(sum[:5])
}

// pool holds one connection per host, dialled on first use.
type pool struct {
	inv   *Inventory
	mu    sync.Mutex
	conns map[string]*Conn
}

// host is the inventory's host with addr.
func (p *pool) host(addr string) (Host, error) {
	for _, h := range p.inv.Hosts {
		if h.Addr == addr {
			return h, nil
		}
	}
	return Host{}, fmt.Errorf("host %s is not in the hosts file %s", addr, p.inv.where(0))
}

// conn is the connection to the host at addr.
func (p *pool) conn(ctx context.Context, addr string) (*Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	h, err := p.host(addr)
	if err != nil {
		return nil, err
	}
	c, err := Dial(ctx, p.inv, h)
	if err != nil {
		return nil, err
	}
	if p.conns == nil {
		p.conns = map[string]*Conn{}
	}
	p.conns[addr] = c
	return c, nil
}

// run runs cmd on the host at addr. A connection that broke (the host
// rebooted, sshd restarted) is dropped and dialled again once.
func (p *pool) run(ctx context.Context, addr, cmd string, stdin io.Reader) (Output, error) {
	c, err := p.conn(ctx, addr)
	if err != nil {
		return Output{Code: -1}, err
	}
	out, err := c.Run(ctx, cmd, stdin)
	if errors.Is(err, errNoSession) && ctx.Err() == nil {
		p.drop(addr, c)
		if c, err2 := p.conn(ctx, addr); err2 == nil {
			return c.Run(ctx, cmd, stdin)
		}
	}
	return out, err
}

func (p *pool) drop(addr string, c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[addr] == c {
		delete(p.conns, addr)
		c.Close()
	}
}

// close ends every connection.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		c.Close()
		delete(p.conns, a)
	}
}

// sudo prefixes the commands that need root (iptables) when the login is
// not root: sudo -n, which fails at once, saying so, where a password
// would be asked.
func (p *pool) sudo() string {
	if p.inv.SSH.User == "root" {
		return ""
	}
	return "sudo -n "
}

// table is the host's iptables filter table, edited over SSH.
func (p *pool) table(addr string, locks *netfilter.Locks) netfilter.Table {
	return netfilter.Table{
		Where: "host " + addr,
		Locks: locks,
		Exec: func(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error) {
			words := []string{Quote(bin)}
			for _, a := range args {
				words = append(words, Quote(a))
			}
			out, err := p.run(ctx, addr, p.sudo()+strings.Join(words, " "), stdin)
			return out.Stdout, err
		},
	}
}

// proc is a server process on a host.
type proc struct {
	PID, PPID int
	State     byte
	Cwd       string
	Exe       string
}

// procsScript lists the redis and valkey server processes whose working
// directory is dir or under it, one per line: pid state ppid exe cwd.
// Zombies are left out: they are gone but for their parent's wait.
func procsScript(dir string) string {
	return `find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname ` + Quote(dir) + ` -o -lname ` + Quote(dir+"/*") + ` \) 2>/dev/null | while read -r f; do
  p=${f#/proc/}; p=${p%/cwd}
  e=$(readlink /proc/$p/exe 2>/dev/null) || continue
  case ${e##*/} in *redis*|*valkey*) ;; *) continue ;; esac
  s=$(cat /proc/$p/stat 2>/dev/null) || continue
  set -- ${s##*) }
  [ "$1" = Z ] && continue
  c=$(readlink /proc/$p/cwd 2>/dev/null) || continue
  echo "$p $1 $2 $e $c"
done; true`
}

// parseProcs reads procsScript's output.
func parseProcs(out []byte) []proc {
	var ps []proc
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 5)
		if len(f) != 5 || len(f[1]) == 0 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		ps = append(ps, proc{PID: pid, State: f[1][0], PPID: ppid, Exe: f[3], Cwd: f[4]})
	}
	return ps
}

// procs lists the server processes under dir on the host at addr.
func (p *pool) procs(ctx context.Context, addr, dir string) ([]proc, error) {
	out, err := p.run(ctx, addr, procsScript(dir), nil)
	if err != nil {
		return nil, fmt.Errorf("list the servers under %s on %s: %w", dir, addr, err)
	}
	return parseProcs(out.Stdout), nil
}

// mainProc is the node's server among ps, the processes in its dir: the
// one whose parent is not one of them (the others are the children it
// forked for an AOF rewrite or an RDB save); nil when none runs.
func mainProc(ps []proc) *proc {
	in := map[int]bool{}
	for _, p := range ps {
		in[p.PID] = true
	}
	for i := range ps {
		if !in[ps[i].PPID] {
			return &ps[i]
		}
	}
	return nil
}

// listeningPorts are the TCP ports something listens on at ip (or on
// every address) on the host, read from /proc/net/tcp and tcp6.
func (p *pool) listeningPorts(ctx context.Context, addr string) (map[int]bool, error) {
	out, err := p.run(ctx, addr, "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true", nil)
	if err != nil {
		return nil, fmt.Errorf("list the listening ports of %s: %w", addr, err)
	}
	return parseListening(string(out.Stdout), net.ParseIP(addr)), nil
}

// parseListening reads /proc/net/tcp{,6} lines: a port counts when a
// socket in state LISTEN (0A) holds it on ip or on the wildcard address.
func parseListening(text string, ip net.IP) map[int]bool {
	used := map[int]bool{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		if strings.Trim(hexAddr, "0") == "" || procAddr(hexAddr).Equal(ip) {
			used[int(port)] = true
		}
	}
	return used
}

// procAddr decodes an IPv4 address as /proc/net/tcp writes it (hex, in
// the host's byte order, little-endian here); other forms decode to nil.
func procAddr(h string) net.IP {
	if len(h) != 8 {
		return nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil
	}
	return net.IPv4(b[3], b[2], b[1], b[0])
}
