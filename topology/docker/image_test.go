package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/redis-harness/harness/topology"
)

func TestParseLDD(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{
			name: "debian redis-server",
			out: `	linux-vdso.so.1 (0x00007fcb66bd1000)
	libatomic.so.1 => /lib/x86_64-linux-gnu/libatomic.so.1 (0x00007fcb66bb6000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fcb65c1e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007fcb66bd3000)
	libcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007fcb66aa0000)
`,
			want: []string{
				"/lib/x86_64-linux-gnu/libatomic.so.1",
				"/lib/x86_64-linux-gnu/libc.so.6",
				"/lib64/ld-linux-x86-64.so.2",
				"/lib/x86_64-linux-gnu/libcap.so.2",
			},
		},
		{
			name: "several files with headings",
			out: `/usr/bin/redis-cli:
	linux-vdso.so.1 (0x00007fb2d0169000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fb2d0008000)
/usr/bin/other:
	linux-gate.so.1 =>  (0xb7707000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fb2d0008000)
`,
			want: []string{"/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"},
		},
		{
			name: "musl, no addresses",
			out:  "\t/lib/ld-musl-x86_64.so.1 (0x7f0000000000)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1\n",
			want: []string{"/lib/ld-musl-x86_64.so.1", "/lib/ld-musl-x86_64.so.1"},
		},
		{name: "static", out: "\tnot a dynamic executable\n"},
		{name: "static pie", out: "\tstatically linked\n"},
		{
			name:    "missing library",
			out:     "\tlibjemalloc.so.2 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n\tliblzf.so.1 => not found\n",
			wantErr: "libraries not found: libjemalloc.so.2, liblzf.so.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLDD(tt.out)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseLDD error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLDD: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseLDD = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRedisVersion(t *testing.T) {
	tests := []struct {
		out, want string
	}{
		{"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n", "7.0.15"},
		{"Redis server v=7.2.4-rc1 sha=abc:1 malloc=libc bits=64", "7.2.4-rc1"},
		{"Redis server v=255.255.255 sha=00000000:0", "255.255.255"},
	}
	for _, tt := range tests {
		got, err := parseRedisVersion(tt.out)
		if err != nil || got != tt.want {
			t.Errorf("parseRedisVersion(%q) = %q, %v; want %q", tt.out, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "redis-cli 7.0.15", "Redis server sha=1"} {
		if v, err := parseRedisVersion(bad); err == nil {
			t.Errorf("parseRedisVersion(%q) = %q, want an error", bad, v)
		}
	}
}

func TestRedisServerVersionMissing(t *testing.T) {
	_, err := redisServerVersion(filepath.Join(t.TempDir(), "redis-server"))
	if !errors.Is(err, errNoRedisServer) || !strings.Contains(err.Error(), "apt-get install redis-server") || !strings.Contains(err.Error(), "--image") {
		t.Fatalf("error = %v, want one that says to install redis-server or pass --image", err)
	}
}

// imageTestEntry is what the tests check of one entry of a build context.
type imageTestEntry struct {
	Type byte
	Mode int64
	Body string
}

func imageTestReadTar(t *testing.T, b []byte) map[string]imageTestEntry {
	t.Helper()
	out := map[string]imageTestEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar %s: %v", h.Name, err)
		}
		if _, dup := out[h.Name]; dup {
			t.Errorf("tar has %s twice", h.Name)
		}
		out[h.Name] = imageTestEntry{Type: h.Typeflag, Mode: h.Mode, Body: string(body)}
	}
}

func TestImageContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("redis-check-rdb", "server bytes", 0o755)
	link := filepath.Join(dir, "redis-server")
	if err := os.Symlink("redis-check-rdb", link); err != nil {
		t.Fatal(err)
	}
	lib := write("libc.so.6", "libc bytes", 0o644)
	resolved, err := filepath.EvalSymlinks(link)
	if err != nil {
		t.Fatal(err)
	}
	files := []topology.ServerFile{
		{Path: "/lib/x86_64-linux-gnu/libc.so.6", Source: lib},
		{Path: "/lib64/ld-linux-x86-64.so.2", Source: lib},
		{Path: "/usr/bin/redis-server", Source: resolved},
	}
	b, err := imageContext(files, imageDockerfile("/usr/bin/redis-server", "redis", "7.0.15"))
	if err != nil {
		t.Fatal(err)
	}
	got := imageTestReadTar(t, b)
	want := map[string]imageTestEntry{
		"Dockerfile":                            {Type: tar.TypeReg, Mode: 0o644, Body: imageDockerfile("/usr/bin/redis-server", "redis", "7.0.15")},
		"rootfs/data/":                          {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/tmp/":                           {Type: tar.TypeDir, Mode: 0o1777},
		"rootfs/lib/":                           {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/lib/x86_64-linux-gnu/":          {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/lib64/":                         {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/usr/":                           {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/usr/bin/":                       {Type: tar.TypeDir, Mode: 0o755},
		"rootfs/lib/x86_64-linux-gnu/libc.so.6": {Type: tar.TypeReg, Mode: 0o644, Body: "libc bytes"},
		"rootfs/lib64/ld-linux-x86-64.so.2":     {Type: tar.TypeReg, Mode: 0o644, Body: "libc bytes"},
		"rootfs/usr/bin/redis-server":           {Type: tar.TypeReg, Mode: 0o755, Body: "server bytes"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("build context:\n got %v\nwant %v", got, want)
	}
	again, err := imageContext(files, imageDockerfile("/usr/bin/redis-server", "redis", "7.0.15"))
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("the same inputs gave a different context (err %v)", err)
	}
	for _, line := range []string{"FROM scratch", "WORKDIR /data", `ENTRYPOINT ["/usr/bin/redis-server"]`, LabelManaged + `="true"`} {
		if !strings.Contains(imageDockerfile("/usr/bin/redis-server", "redis", "7.0.15"), line) {
			t.Errorf("Dockerfile lacks %q", line)
		}
	}
}

func TestImageContextRefusesNonRegular(t *testing.T) {
	_, err := imageContext([]topology.ServerFile{{Path: "/usr/bin/x", Source: t.TempDir()}}, "FROM scratch\n")
	if err == nil {
		t.Fatal("a directory as a file's source was accepted")
	}
}

// TestImageFilesHere lists what the node image would hold on this machine.
func TestImageFilesHere(t *testing.T) {
	if _, err := os.Stat(nodeServer); err != nil {
		t.Skipf("no %s on this machine (apt-get install redis-server): %v", nodeServer, err)
	}
	files, err := imageFiles(context.Background(), []string{nodeServer, nodeCLI})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, f := range files {
		if _, dup := paths[f.Path]; dup {
			t.Errorf("%s listed twice", f.Path)
		}
		paths[f.Path] = f.Source
	}
	for _, p := range []string{nodeServer, nodeCLI} {
		if paths[p] == "" {
			t.Errorf("image lacks %s (has %v)", p, paths)
		}
	}
	var libc, loader bool
	for p := range paths {
		libc = libc || strings.HasSuffix(p, "/libc.so.6")
		loader = loader || strings.Contains(p, "/ld-linux")
	}
	if !libc || !loader {
		t.Errorf("image lacks libc or the dynamic loader: %v", paths)
	}
}
