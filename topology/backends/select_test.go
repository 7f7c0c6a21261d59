package backends

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis-harness/harness/topology"
)

// TestSelectSSH: --backend ssh without --hosts says what to give; with a
// hosts file it is the ssh backend, and a cluster's record reopens it.
func TestSelectSSH(t *testing.T) {
	ctx := context.Background()
	store := topology.Store{Dir: t.TempDir()}
	if _, _, err := SelectWith(ctx, "ssh", store, Options{}); err == nil || !strings.Contains(err.Error(), "--hosts") {
		t.Fatalf("ssh without hosts: %v", err)
	}
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(path, []byte("ssh: {insecure_ignore_host_key: true, key: id}\nhosts:\n  - {addr: 10.0.0.11}\n  - {addr: 10.0.0.12, ssh_port: 2222}\n"), 0o600)
	b, why, err := SelectWith(ctx, "ssh", store, Options{Hosts: path})
	if err != nil || b.Name() != "ssh" || !strings.Contains(why, "2 hosts") || !strings.Contains(why, "NOT checked") {
		t.Fatalf("ssh with hosts: %v %q %v", b, why, err)
	}
	os.WriteFile(path, []byte("hosts:\n  - {addr: db1}\n"), 0o600)
	if _, _, err := SelectWith(ctx, "ssh", store, Options{Hosts: path}); err == nil || !strings.Contains(err.Error(), path+":2") {
		t.Fatalf("bad hosts file: %v", err)
	}
	if _, err := Open(ctx, &topology.Cluster{Name: "x", Backend: "ssh"}, store); err == nil || !strings.Contains(err.Error(), "names no hosts") {
		t.Fatalf("open an ssh record without hosts: %v", err)
	}
}
