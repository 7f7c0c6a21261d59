// Package sshtest starts real OpenSSH daemons for tests: each on its own
// loopback address (127.0.102.N), with host and user keys made by the
// test, and writes the hosts file, key and known_hosts that reach them.
// Tests that need it skip, saying why, where sshd is not installed.
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is the daemon binary; OpenSSH re-executes itself, so the path must
// be absolute.
const SSHD = "/usr/sbin/sshd"

// Hosts is a set of running daemons and the files that reach them.
type Hosts struct {
	// Addrs are the hosts' addresses (127.0.102.N), Ports their SSH ports.
	Addrs []string
	Ports []int
	// Dir holds the keys, known_hosts and each daemon's files.
	Dir string
	// Key is the user's private key, KnownHosts the hosts' keys.
	Key, KnownHosts string
	// HostKeys are the daemons' public keys.
	HostKeys []gossh.PublicKey
	// User is the user the daemons let in (the one running the test).
	User string
}

// next hands out the addresses' last byte, so that tests of one binary
// running in parallel do not share an address.
var next atomic.Int32

// Available says why daemons cannot start here, or "" when they can.
func Available() string {
	if _, err := os.Stat(SSHD); err != nil {
		return "no " + SSHD + " (Debian's openssh-server): " + err.Error()
	}
	if os.Geteuid() != 0 {
		return "sshd needs root here (its privilege-separation directory and logging in as this user)"
	}
	return ""
}

// Start starts n daemons and stops them when the test ends; it skips the
// test, saying why, where sshd cannot run.
func Start(t testing.TB, n int) *Hosts {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip("skipped: " + why)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("privilege-separation directory: %v", err)
	}
	dir := t.TempDir()
	h := &Hosts{Dir: dir, Key: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts"), User: "root"}
	userPub, err := writeKey(h.Key)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, gossh.MarshalAuthorizedKey(userPub), 0o600); err != nil {
		t.Fatal(err)
	}
	base := int(next.Add(int32(n))) - n + 1 + os.Getpid()%50*4
	var known bytes.Buffer
	for i := range n {
		addr := "127.0.102." + strconv.Itoa(1+(base+i)%250)
		port, err := freePort(addr)
		if err != nil {
			t.Fatal(err)
		}
		hd := filepath.Join(dir, fmt.Sprintf("host%d", i+1))
		if err := os.MkdirAll(hd, 0o700); err != nil {
			t.Fatal(err)
		}
		hostKey := filepath.Join(hd, "ssh_host_ed25519_key")
		pub, err := writeKey(hostKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(hd, "sshd_config")
		conf := strings.Join([]string{
			"ListenAddress " + net.JoinHostPort(addr, strconv.Itoa(port)),
			"HostKey " + hostKey,
			"PidFile " + filepath.Join(hd, "sshd.pid"),
			"AuthorizedKeysFile " + auth,
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"UsePAM no",
			"StrictModes no",
			"PermitRootLogin prohibit-password",
			"LogLevel ERROR",
			"MaxStartups 100",
			"MaxSessions 100",
		}, "\n") + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(SSHD, "-D", "-e", "-f", cfg)
		logf, err := os.Create(filepath.Join(hd, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
		})
		if err := waitListening(net.JoinHostPort(addr, strconv.Itoa(port)), 10*time.Second); err != nil {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("sshd on %s:%d: %v; its log: %s", addr, port, err, b)
		}
		known.WriteString(knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(addr, strconv.Itoa(port)))}, pub) + "\n")
		h.Addrs = append(h.Addrs, addr)
		h.Ports = append(h.Ports, port)
		h.HostKeys = append(h.HostKeys, pub)
	}
	if err := os.WriteFile(h.KnownHosts, known.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// Inventory is the hosts file that reaches the daemons, with key and
// known_hosts given; extra lines go under ssh:.
func (h *Hosts) Inventory(extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh:\n  user: %s\n  key: %s\n  known_hosts: %s\n", h.User, h.Key, h.KnownHosts)
	for _, e := range extra {
		b.WriteString("  " + e + "\n")
	}
	b.WriteString("hosts:\n")
	for i, a := range h.Addrs {
		fmt.Fprintf(&b, "  - {addr: %s, ssh_port: %d}\n", a, h.Ports[i])
	}
	return b.String()
}

// writeKey makes an ed25519 key pair, writes the private key in OpenSSH's
// format to path and returns the public key.
func writeKey(path string) (gossh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return gossh.NewPublicKey(pub)
}

func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %s: %w", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
