package scenarios

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStagesImportDown holds the stage packages to DESIGN.md's table of
// what each may import (topology and its subpackages have their own test,
// in topology): reports only receives data, checker re-judges a stored run
// with nothing else running, workloads and nemesis meet only in scenarios.
func TestStagesImportDown(t *testing.T) {
	const mod = "github.com/redis-harness/harness/"
	for dir, allow := range map[string][]string{
		"reports":         {"checker", "checker/history"},
		"checker":         {"checker/history", "topology"},
		"checker/history": nil,
		"workloads":       {"checker/history"},
		"nemesis":         {"topology", "checker/history"},
	} {
		pkg, err := build.ImportDir(filepath.Join("..", dir), 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			if ours, ok := strings.CutPrefix(imp, mod); ok && !slices.Contains(allow, ours) {
				t.Errorf("%s imports %s; DESIGN.md allows it only %v", dir, ours, allow)
			}
		}
	}
}
