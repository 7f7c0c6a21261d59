package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// NewRunDir makes store/<scenario>/<UTC yyyymmddThhmmss>-<seed>/ and points
// store/<scenario>/latest and store/latest at it (relative links, so the
// store can be moved or uploaded as a whole).
func NewRunDir(store, scenario string, seed int64, now time.Time) (string, error) {
	name := fmt.Sprintf("%s-%d", now.UTC().Format("20060102T150405"), seed)
	dir := filepath.Join(store, scenario, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("run dir: %w", err)
	}
	if err := relink(filepath.Join(store, scenario, "latest"), name); err != nil {
		return "", err
	}
	if err := relink(filepath.Join(store, "latest"), filepath.Join(scenario, name)); err != nil {
		return "", err
	}
	return dir, nil
}

// relink points link at target, replacing an older link atomically.
func relink(link, target string) error {
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}
