package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dialTimeout bounds connecting and the SSH handshake when ctx has no
// earlier deadline.
const dialTimeout = 15 * time.Second

// maxOutput caps what Run keeps of a command's stdout and of its stderr.
const maxOutput = 4 << 20

// Conn is one SSH connection to a host; Run and Upload open a session each
// on it, so they may be used from several goroutines.
type Conn struct {
	Host     Host
	Endpoint string
	client   *gossh.Client
	closeFn  func() error
}

// Dial connects to h as inv says, checking its host key unless the
// inventory turns that off.
func Dial(ctx context.Context, inv *Inventory, h Host) (*Conn, error) {
	ep := inv.Endpoint(h)
	cfg, closeAgent, err := clientConfig(inv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep)
	if err != nil {
		closeAgent()
		return nil, fmt.Errorf("ssh %s: %w", ep, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// A cancelled ctx must end a handshake that hangs: closing the
	// connection does.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c, chans, reqs, err := gossh.NewClientConn(raw, ep, cfg)
	stop()
	if err != nil {
		raw.Close()
		closeAgent()
		return nil, fmt.Errorf("ssh %s: %w", ep, explainHandshake(err, inv, ep))
	}
	_ = raw.SetDeadline(time.Time{})
	client := gossh.NewClient(c, chans, reqs)
	return &Conn{Host: h, Endpoint: ep, client: client, closeFn: func() error {
		closeAgent()
		return client.Close()
	}}, nil
}

// Close ends the connection.
func (c *Conn) Close() error { return c.closeFn() }

// clientConfig is the login: user, key file or agent, host-key check.
func clientConfig(inv *Inventory) (*gossh.ClientConfig, func(), error) {
	noop := func() {}
	cfg := &gossh.ClientConfig{User: inv.SSH.User, Timeout: dialTimeout}
	closeAgent := noop
	switch {
	case inv.SSH.Key != "":
		b, err := os.ReadFile(inv.SSH.Key)
		if err != nil {
			return nil, noop, fmt.Errorf("%s: ssh.key: %w", inv.where(0), err)
		}
		signer, err := gossh.ParsePrivateKey(b)
		var pass *gossh.PassphraseMissingError
		if errors.As(err, &pass) {
			return nil, noop, fmt.Errorf("%s: ssh.key %s is encrypted: load it into an agent (ssh-add %s) and leave ssh.key out", inv.where(0), inv.SSH.Key, inv.SSH.Key)
		}
		if err != nil {
			return nil, noop, fmt.Errorf("%s: ssh.key %s: %w", inv.where(0), inv.SSH.Key, err)
		}
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(signer)}
	default:
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, noop, fmt.Errorf("%s: no ssh.key and no agent (SSH_AUTH_SOCK is not set): give ssh.key or start ssh-agent", inv.where(0))
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, noop, fmt.Errorf("ssh agent at %s: %w", sock, err)
		}
		ag := agent.NewClient(conn)
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeysCallback(ag.Signers)}
		closeAgent = func() { conn.Close() }
	}
	if inv.SSH.InsecureIgnoreHostKey {
		cfg.HostKeyCallback = gossh.InsecureIgnoreHostKey()
		return cfg, closeAgent, nil
	}
	cb, err := knownhosts.New(inv.SSH.KnownHosts)
	if err != nil {
		closeAgent()
		return nil, noop, fmt.Errorf("%s: ssh.known_hosts %s: %w (or set insecure_ignore_host_key: true for throwaway machines)", inv.where(0), inv.SSH.KnownHosts, err)
	}
	cfg.HostKeyCallback = cb
	return cfg, closeAgent, nil
}

// explainHandshake turns a host-key or auth failure into what to do.
func explainHandshake(err error, inv *Inventory, ep string) error {
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		host, port, _ := net.SplitHostPort(ep)
		if len(ke.Want) == 0 {
			return fmt.Errorf("host key unknown: %s has no entry in %s; check the key and add it (ssh-keyscan -p %s %s >> %s), or set insecure_ignore_host_key: true for throwaway machines", ep, inv.SSH.KnownHosts, port, host, inv.SSH.KnownHosts)
		}
		return fmt.Errorf("host key MISMATCH: %s presents a key that %s (line %d) does not hold for it: the host was reinstalled or this is not the host you meant; fix the entry after checking", ep, ke.Want[0].Filename, ke.Want[0].Line)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		who := "the agent's keys"
		if inv.SSH.Key != "" {
			who = inv.SSH.Key
		}
		return fmt.Errorf("%s@%s refused %s: add its public key to the user's authorized_keys on the host: %w", inv.SSH.User, ep, who, err)
	}
	return err
}

// Output is what a command printed and how it ended.
type Output struct {
	Stdout, Stderr []byte
	// Code is the exit status (-1 when it ended by a signal or the
	// connection broke).
	Code int
}

// capped keeps the first max bytes written to it.
type capped struct {
	buf bytes.Buffer
	max int
	cut int64
}

func (c *capped) Write(p []byte) (int, error) {
	room := max(c.max-c.buf.Len(), 0)
	c.buf.Write(p[:min(len(p), room)])
	if len(p) > room {
		c.cut += int64(len(p) - room)
	}
	return len(p), nil
}

func (c *capped) bytes() []byte {
	if c.cut > 0 {
		return append(c.buf.Bytes(), fmt.Sprintf("\n…(output cut at %d bytes)", c.max)...)
	}
	return c.buf.Bytes()
}

// pidMark starts the line a command's shell writes its pid on, first, on
// stderr: sshd makes the shell the leader of a process group of its own,
// so killing that group ends the command and everything it started.
const pidMark = "harness-remote-pid:"

// pidWriter takes the pid line off the front of stderr.
type pidWriter struct {
	next    io.Writer
	line    []byte
	done    bool
	pid     chan int
	pending []byte
}

func (w *pidWriter) Write(p []byte) (int, error) {
	n := len(p)
	if !w.done {
		w.line = append(w.line, p...)
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 && len(w.line) < 64 {
			return n, nil
		}
		w.done = true
		rest := w.line
		if i >= 0 {
			if v, ok := strings.CutPrefix(string(w.line[:i]), pidMark); ok {
				if pid, err := strconv.Atoi(v); err == nil {
					w.pid <- pid
				}
				rest = w.line[i+1:]
			}
		}
		close(w.pid)
		p = rest
	}
	_, err := w.next.Write(p)
	return n, err
}

// errNoSession is Run's error when the connection could not open a
// session (it broke): the command did not start, so running it again on
// a new connection is safe.
var errNoSession = errors.New("open a session")

// killWait bounds waiting for a killed command's session to end.
const killWait = 5 * time.Second

// Run runs cmd (a shell command line) on the host with stdin (nil for
// none) and waits for it, or for ctx: then the command's process group is
// killed (from another session: sshd does not end a command whose
// channel closes) and Run returns. A command that exits non-zero is an
// error that holds its stderr; Output is returned either way.
func (c *Conn) Run(ctx context.Context, cmd string, stdin io.Reader) (Output, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return Output{Code: -1}, fmt.Errorf("ssh %s: %w: %w", c.Endpoint, errNoSession, err)
	}
	defer s.Close()
	out, errOut := &capped{max: maxOutput}, &capped{max: maxOutput}
	pw := &pidWriter{next: errOut, pid: make(chan int, 1)}
	s.Stdout, s.Stderr, s.Stdin = out, pw, stdin
	if err := s.Start("echo " + pidMark + "$$ >&2; " + cmd); err != nil {
		return Output{Code: -1}, fmt.Errorf("ssh %s: start %q: %w", c.Endpoint, short(cmd), err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.kill(pw.pid)
		_ = s.Signal(gossh.SIGKILL)
		s.Close()
		select {
		case <-done:
		case <-time.After(killWait):
		}
		return Output{Stdout: out.bytes(), Stderr: errOut.bytes(), Code: -1}, fmt.Errorf("ssh %s: %q: %w", c.Endpoint, short(cmd), ctx.Err())
	}
	o := Output{Stdout: out.bytes(), Stderr: errOut.bytes()}
	var exit *gossh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		o.Code = exit.ExitStatus()
		if exit.Signal() != "" {
			o.Code = -1
		}
		msg := strings.TrimSpace(string(o.Stderr))
		if msg == "" {
			msg = strings.TrimSpace(string(o.Stdout))
		}
		return o, fmt.Errorf("ssh %s: %q exited %d: %s", c.Endpoint, short(cmd), exit.ExitStatus(), short(msg))
	default:
		o.Code = -1
		return o, fmt.Errorf("ssh %s: %q: %w", c.Endpoint, short(cmd), err)
	}
	return o, nil
}

// kill ends a cancelled command's process group, from a session of its
// own, when the command got as far as saying its pid.
func (c *Conn) kill(pids <-chan int) {
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(100 * time.Millisecond):
	}
	if pid <= 1 {
		return
	}
	s, err := c.client.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.Start(fmt.Sprintf("kill -KILL -- -%d 2>/dev/null || kill -KILL %d", pid, pid))
	waited := make(chan struct{})
	go func() { _ = s.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(killWait):
	}
}

// Upload writes r to path on the host with mode, atomically (a temporary
// file renamed into place), creating the directory.
func (c *Conn) Upload(ctx context.Context, path string, mode os.FileMode, r io.Reader) error {
	// A name of its own: two uploads to one path (hosts that share a
	// file system) must not rename each other's half-written file.
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	tmp := path + ".upload-" + hex.EncodeToString(tag[:])
	cmd := fmt.Sprintf("mkdir -p %s && cat > %s && chmod %o %s && mv -f %s %s",
		Quote(dirOf(path)), Quote(tmp), mode.Perm(), Quote(tmp), Quote(tmp), Quote(path))
	if _, err := c.Run(ctx, cmd, r); err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}

// Quote makes s one word for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// short cuts a command or message for an error line.
func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
