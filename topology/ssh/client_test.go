package ssh_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology/internal/sshtest"
	"github.com/redis-harness/harness/topology/ssh"
)

func writeInventory(t *testing.T, text string) *ssh.Inventory {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := ssh.LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestRunAndUpload logs in to two real sshd daemons with host keys
// checked, runs commands, uploads a file and reads it back.
func TestRunAndUpload(t *testing.T) {
	hs := sshtest.Start(t, 2)
	inv := writeInventory(t, hs.Inventory())
	ctx := context.Background()
	for i, h := range inv.Hosts {
		c, err := ssh.Dial(ctx, inv, h)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		out, err := c.Run(ctx, "echo $SSH_CONNECTION", nil)
		if err != nil {
			t.Fatal(err)
		}
		// The server's side of the connection is the host's address.
		if f := strings.Fields(string(out.Stdout)); len(f) != 4 || f[2] != hs.Addrs[i] {
			t.Fatalf("SSH_CONNECTION %q, want the server address %s", out.Stdout, hs.Addrs[i])
		}
		out, err = c.Run(ctx, "echo oops >&2; exit 3", nil)
		if err == nil || out.Code != 3 || !strings.Contains(err.Error(), "oops") {
			t.Fatalf("exit 3: code %d, err %v", out.Code, err)
		}
		dest := filepath.Join(hs.Dir, "up", "it's here", "file")
		payload := bytes.Repeat([]byte("redis\x00\n"), 100_000)
		if err := c.Upload(ctx, dest, 0o750, bytes.NewReader(payload)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dest) // the hosts are this machine
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("uploaded %d bytes, read back %d (%v)", len(payload), len(got), err)
		}
		if st, _ := os.Stat(dest); st.Mode().Perm() != 0o750 {
			t.Fatalf("mode %v, want 0750", st.Mode().Perm())
		}
	}
}

// TestRunCancelled: a command outliving its context is killed and Run
// returns at once.
func TestRunCancelled(t *testing.T) {
	hs := sshtest.Start(t, 1)
	inv := writeInventory(t, hs.Inventory())
	c, err := ssh.Dial(context.Background(), inv, inv.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// A child of the shell: sshd leaves it running when the session
	// closes; the command's process group must be killed.
	_, err = c.Run(ctx, "sleep 31.5; true", nil)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Run of sleep under a 300 ms context: %v after %s", err, time.Since(start))
	}
	// The hosts are this machine: the sleep must be gone.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("pgrep", "-f", "sleep 31.5").Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled command still runs: pids %s", out)
		}
	}
	// The connection is still usable.
	if _, err := c.Run(context.Background(), "true", nil); err != nil {
		t.Fatal(err)
	}
}

// TestHostKeyChecked: a host missing from known_hosts, or presenting
// another key, is refused with what to do; insecure_ignore_host_key
// lets it in.
func TestHostKeyChecked(t *testing.T) {
	hs := sshtest.Start(t, 2)
	// known_hosts with only the first host's line.
	b, err := os.ReadFile(hs.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	partial := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(partial, []byte(lines[0]), 0o600)
	inv := writeInventory(t, strings.Replace(hs.Inventory(), hs.KnownHosts, partial, 1))
	ctx := context.Background()
	if c, err := ssh.Dial(ctx, inv, inv.Hosts[0]); err != nil {
		t.Fatalf("known host: %v", err)
	} else {
		c.Close()
	}
	_, err = ssh.Dial(ctx, inv, inv.Hosts[1])
	if err == nil || !strings.Contains(err.Error(), "host key unknown") || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Fatalf("unknown host: %v", err)
	}
	// The second host's key under the first host's name: a mismatch.
	swapped := filepath.Join(t.TempDir(), "known_hosts")
	first := strings.Fields(lines[0])[0]
	second := strings.Fields(lines[1])
	os.WriteFile(swapped, []byte(first+" "+strings.Join(second[1:], " ")+"\n"), 0o600)
	inv = writeInventory(t, strings.Replace(hs.Inventory(), hs.KnownHosts, swapped, 1))
	_, err = ssh.Dial(ctx, inv, inv.Hosts[0])
	if err == nil || !strings.Contains(err.Error(), "MISMATCH") {
		t.Fatalf("changed host key: %v", err)
	}
	inv = writeInventory(t, strings.Replace(hs.Inventory(), "  known_hosts: "+hs.KnownHosts+"\n", "  insecure_ignore_host_key: true\n", 1))
	c, err := ssh.Dial(ctx, inv, inv.Hosts[1])
	if err != nil {
		t.Fatalf("insecure_ignore_host_key: %v", err)
	}
	c.Close()
}

// TestWrongKeyRefused: a key the host does not authorize is refused with
// where to put the public key.
func TestWrongKeyRefused(t *testing.T) {
	hs := sshtest.Start(t, 1)
	other := sshtest.Start(t, 1) // its user key is not authorized by hs
	inv := writeInventory(t, strings.Replace(hs.Inventory(), hs.Key, other.Key, 1))
	_, err := ssh.Dial(context.Background(), inv, inv.Hosts[0])
	if err == nil || !strings.Contains(err.Error(), "authorized_keys") {
		t.Fatalf("unauthorized key: %v", err)
	}
}

// TestDialUnreachable: nothing listening is an error naming the address,
// within the dial's bound.
func TestDialUnreachable(t *testing.T) {
	inv, err := ssh.ParseInventory([]byte("ssh: {insecure_ignore_host_key: true, key: /nonexistent}\nhosts:\n  - {addr: 127.0.102.254, ssh_port: 1}\n"), "hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ssh.Dial(context.Background(), inv, inv.Hosts[0])
	if err == nil || !strings.Contains(err.Error(), "ssh.key") {
		t.Fatalf("missing key file: %v", err)
	}
}

// TestInventoryErrors: each mistake is named with its file and line and
// what to write instead.
func TestInventoryErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "empty"},
		{"hosts: []\n", "no hosts"},
		{"ssh: {user: root}\nhosts:\n  - {addr: 10.0.0.1}\n  - {ssh_port: 22}\n", "hosts.yaml:4: host 2 has no addr"},
		{"hosts:\n  - {addr: db1.example}\n", "hosts.yaml:2: host addr \"db1.example\": want an IP address"},
		{"hosts:\n  - {addr: 10.0.0.1}\n  - {addr: 10.0.0.1}\n", "hosts.yaml:3: host 10.0.0.1:22 is listed twice"},
		{"hosts:\n  - {addr: 10.0.0.1, sshport: 22}\n", "field sshport not found"},
		{"ssh: {port: 70000}\nhosts:\n  - {addr: 10.0.0.1}\n", "ssh.port 70000"},
		{"ssh: {key: ~bob/.ssh/id}\nhosts:\n  - {addr: 10.0.0.1}\n", "~user paths are not expanded"},
		{"- just a list\n", "known fields"},
	} {
		_, err := ssh.ParseInventory([]byte(tc.text), "hosts.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
	inv, err := ssh.ParseInventory([]byte("ssh: {key: keys/id, known_hosts: kh}\nhosts:\n  - {addr: 10.0.0.1}\n  - {addr: 10.0.0.2, ssh_port: 2222}\n"), "/etc/harness/hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if inv.SSH.User != "root" || inv.SSH.Key != "/etc/harness/keys/id" || inv.SSH.KnownHosts != "/etc/harness/kh" ||
		inv.Endpoint(inv.Hosts[0]) != "10.0.0.1:22" || inv.Endpoint(inv.Hosts[1]) != "10.0.0.2:2222" {
		t.Fatalf("defaults and paths: %+v", inv)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "": "''", "a b": "'a b'", "it's": `'it'\''s'`, "/x/y-1.conf": "/x/y-1.conf", "$HOME": "'$HOME'"} {
		if got := ssh.Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
