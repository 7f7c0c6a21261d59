package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseServerVersion(t *testing.T) {
	for _, tc := range []struct{ out, kind, version string }{
		{"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=c0f1d4f5d1c9bb0c\n", "redis", "7.0.15"},
		{"Redis server v=8.0.2 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=b843bbd074c0e1da\n", "redis", "8.0.2"},
		{"Valkey server v=8.1.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=384b3c0d511f998a\n", "valkey", "8.1.1"},
	} {
		kind, v, err := ParseServerVersion(tc.out)
		if err != nil || kind != tc.kind || v != tc.version {
			t.Errorf("ParseServerVersion(%q) = %s %s, %v; want %s %s", tc.out, kind, v, err, tc.kind, tc.version)
		}
	}
	for _, bad := range []string{"", "valkey-cli 8.1.1", "Usage: ./redis-server [/path/to/redis.conf]"} {
		if _, _, err := ParseServerVersion(bad); err == nil {
			t.Errorf("ParseServerVersion(%q): no error", bad)
		}
	}
}

// TestParseServerIdentity: Valkey says redis_version:7.2.4 (the Redis it
// is compatible with); its own version is valkey_version.
func TestParseServerIdentity(t *testing.T) {
	for _, tc := range []struct{ info, label string }{
		{"# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n", "Redis 7.0.15"},
		{"# Server\r\nredis_version:8.0.2\r\nredis_git_sha1:00000000\r\n", "Redis 8.0.2"},
		{"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.1\r\nvalkey_release_stage:ga\r\n", "Valkey 8.1.1"},
	} {
		id, err := ParseServerIdentity(tc.info)
		if err != nil || id.Label() != tc.label {
			t.Errorf("ParseServerIdentity(%q) = %+v, %v; want %s", tc.info, id, err, tc.label)
		}
	}
	if _, err := ParseServerIdentity("# Server\r\nos:Linux\r\n"); err == nil {
		t.Error("INFO server with no version: no error")
	}
}

func TestServerExe(t *testing.T) {
	for exe, want := range map[string]bool{
		"/usr/bin/redis-check-rdb":                         true,
		"/state/servers/valkey-8.1.1/launch/valkey-server": true,
		"/state/servers/redis-8.0.2/launch/redis-server":   true,
		"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2":   false,
		"/usr/bin/python3":                                 false,
	} {
		if got := ServerExe(exe); got != want {
			t.Errorf("ServerExe(%s) = %v, want %v", exe, got, want)
		}
	}
}

func TestMirrorIn(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ text, want string }{
		"debian.sources":   {"Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n", "http://deb.debian.org/debian"},
		"security.sources": {"Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n", ""},
		"one.list":         {"# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n", "http://mirror.example/debian"},
		"other.list":       {"deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n", ""},
		"ignored.txt":      {"deb http://deb.debian.org/debian bookworm main\n", ""},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mirrorIn(p); got != tc.want {
			t.Errorf("mirrorIn(%s) = %q, want %q", name, got, tc.want)
		}
	}
}

func TestSourcesListAndLists(t *testing.T) {
	list := sourcesList("http://deb.debian.org/debian", map[string]bool{"trixie": true, "bookworm-backports": true, "": true})
	want := "deb [signed-by=" + debianKeyring + "] http://deb.debian.org/debian bookworm-backports main\n" +
		"deb [signed-by=" + debianKeyring + "] http://deb.debian.org/debian trixie main\n"
	if !strings.HasSuffix(list, want) || strings.Count(list, "\ndeb ") != 2 {
		t.Errorf("sources list:\n%s\nwant it to end with:\n%s", list, want)
	}
	lists := t.TempDir()
	if haveLists(lists, "trixie") {
		t.Error("haveLists of an empty dir")
	}
	os.WriteFile(filepath.Join(lists, "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages.lz4"), nil, 0o644)
	if !haveLists(lists, "trixie") || haveLists(lists, "trixie", "bookworm") {
		t.Error("haveLists does not tell the suites apart")
	}
	if got := debSource("/x/libcap2_1%3a2.75-10+deb13u1+b3_amd64.deb"); got != "libcap2 1:2.75-10+deb13u1+b3" {
		t.Errorf("debSource = %q", got)
	}
}

func TestResolveServerErrors(t *testing.T) {
	sv := Servers{Dir: t.TempDir()}
	ctx := context.Background()
	if _, err := sv.Resolve(ctx, "redis-9.9"); err == nil || !strings.Contains(err.Error(), "not a known build") {
		t.Errorf("unknown build: %v", err)
	}
	if _, err := sv.Resolve(ctx, "valkey-8.1.1"); !errors.Is(err, ErrNotFetched) || !strings.Contains(err.Error(), "harness servers fetch valkey-8.1.1") {
		t.Errorf("build not fetched: %v", err)
	}
	if _, err := sv.Resolve(ctx, "/bin/true"); err == nil || !strings.Contains(err.Error(), "not a Redis or Valkey server") {
		t.Errorf("a binary that is no server: %v", err)
	}
	if _, err := sv.Fetch(ctx, "redis-9.9", FetchOptions{}); err == nil {
		t.Error("fetch of an unknown build: no error")
	}
	// A damaged build (its binary gone) says how to repair it.
	dir := filepath.Join(sv.Dir, "redis-8.0.2")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, buildFile), []byte(`{"name":"redis-8.0.2","bin":"/nonexistent/redis-check-rdb","loader":"/nonexistent/redis-server"}`), 0o644)
	if _, err := sv.Resolve(ctx, "redis-8.0.2"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("damaged build: %v", err)
	}
}

// TestFetchRefusesWrongVersion: a build whose server reports another
// version than its name is an error, and nothing is left in its place.
// The "archive" here is a fake apt that packs this machine's redis-server
// (7.0.15) and its libraries as if they were redis-8.0.2's packages.
func TestFetchRefusesWrongVersion(t *testing.T) {
	host, err := HostServer(context.Background())
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if host.Version == "8.0.2" {
		t.Skip("skipping: the host's redis-server is 8.0.2 itself")
	}
	for _, tool := range []string{"dpkg-deb", "ldd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found", tool)
		}
	}
	b, _ := LookupServerBuild("redis-8.0.2")
	sv := Servers{Dir: t.TempDir(), Apt: func(ctx context.Context, dir string, args ...string) ([]byte, error) {
		if args[0] != "download" {
			return nil, nil // update: nothing to do
		}
		return nil, fakeDebs(ctx, t, dir, host.Bin, b)
	}}
	_, err = sv.Fetch(context.Background(), "redis-8.0.2", FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "reports redis "+host.Version+", not redis 8.0.2") {
		t.Fatalf("fetch of a mislabelled build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sv.Dir, "redis-8.0.2")); !os.IsNotExist(err) {
		t.Errorf("a refused build left %s: %v", filepath.Join(sv.Dir, "redis-8.0.2"), err)
	}
	if _, err := os.Stat(filepath.Join(sv.Dir, "redis-8.0.2.tmp")); !os.IsNotExist(err) {
		t.Errorf("a refused build left its temporary tree: %v", err)
	}
}

// fakeDebs writes into dir one package per name the build downloads: the
// server's with bin as redis-check-rdb and the libraries it loads, with
// the loader, from this machine's /usr/lib/x86_64-linux-gnu, the others
// empty.
func fakeDebs(ctx context.Context, t *testing.T, dir, bin string, b ServerBuild) error {
	const hostLibs = "/usr/lib/x86_64-linux-gnu"
	libs, err := closure(bin, hostLibs)
	if err != nil {
		return err
	}
	interp, err := elfInterp(bin)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return err
	}
	files := []ServerFile{{Path: bin, Source: real}}
	for _, l := range append(libs, filepath.Base(interp)) {
		src, err := filepath.EvalSymlinks(filepath.Join(hostLibs, l))
		if err != nil {
			return err
		}
		files = append(files, ServerFile{Path: filepath.Join(hostLibs, l), Source: src})
	}
	for i, pkg := range append([]string{b.Package}, b.Libs...) {
		tree := filepath.Join(t.TempDir(), pkg)
		os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)
		os.WriteFile(filepath.Join(tree, "DEBIAN", "control"), []byte("Package: "+pkg+"\nVersion: 1.0\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: fake\n"), 0o644)
		if i == 0 {
			libDir := filepath.Join(tree, "usr", "lib", "x86_64-linux-gnu")
			os.MkdirAll(libDir, 0o755)
			os.MkdirAll(filepath.Join(tree, "usr", "bin"), 0o755)
			for _, f := range files {
				dst := filepath.Join(libDir, filepath.Base(f.Path))
				if f.Path == bin {
					dst = filepath.Join(tree, "usr", "bin", "redis-check-rdb")
				}
				if err := copyFile(f.Source, dst, 0o755); err != nil {
					return err
				}
			}
			copyFile(filepath.Join(tree, "usr", "bin", "redis-check-rdb"), filepath.Join(tree, "usr", "bin", "redis-cli"), 0o755)
		}
		out, err := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-Znone", "-b", tree, filepath.Join(dir, pkg+"_1.0_amd64.deb")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("dpkg-deb -b: %v: %s", err, out)
		}
	}
	return nil
}
