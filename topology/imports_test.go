package topology

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestImportsPointDown holds topology and its subpackages to DESIGN.md's
// table: the model imports no backend, the backends import no selection,
// and netfilter nothing of ours at all (beyond the standard library, only
// golang.org/x/sys).
func TestImportsPointDown(t *testing.T) {
	const mod = "github.com/redis-harness/harness/"
	listed := map[string]bool{}
	defer func() {
		// A package the table does not name would be held to nothing.
		_ = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || d.Name() == "testdata" || strings.HasPrefix(path, "internal/testcluster") || strings.HasPrefix(path, "internal/sshtest") {
				return nil
			}
			if _, err := build.ImportDir(path, 0); err == nil && !listed[path] {
				t.Errorf("package topology/%s is not in this test's table: add the imports DESIGN.md allows it", path)
			}
			return nil
		})
	}()
	for _, tt := range []struct {
		dir   string
		allow []string // of ours, by path below the module
	}{
		{".", []string{"checker/history", "topology/internal/wait", "topology/internal/flock", "topology/internal/logtail"}},
		{"local", []string{"topology", "topology/netfilter", "topology/internal/"}},
		{"docker", []string{"topology", "topology/netfilter", "topology/internal/"}},
		{"ssh", []string{"topology", "topology/netfilter", "topology/internal/"}},
		{"backends", []string{"topology", "topology/local", "topology/docker", "topology/ssh"}},
		{"netfilter", nil},
		{"internal/backendkit", []string{"topology", "topology/netfilter"}},
		{"internal/wait", nil},
		{"internal/flock", nil},
		{"internal/logtail", nil},
	} {
		listed[tt.dir] = true
		pkg, err := build.ImportDir(tt.dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.dir, err)
		}
		for _, imp := range pkg.Imports {
			ours, isOurs := strings.CutPrefix(imp, mod)
			switch {
			case isOurs:
				if !slices.ContainsFunc(tt.allow, func(a string) bool {
					return ours == a || strings.HasSuffix(a, "/") && strings.HasPrefix(ours, a)
				}) {
					t.Errorf("%s imports %s; DESIGN.md allows only %v", tt.dir, ours, tt.allow)
				}
			case tt.dir == "netfilter" && strings.Contains(strings.Split(imp, "/")[0], ".") && imp != "golang.org/x/sys/unix":
				t.Errorf("netfilter imports %s; it may import only the standard library and golang.org/x/sys", imp)
			}
		}
	}
}
