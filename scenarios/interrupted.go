package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/redis-harness/harness/checker/history"
)

// InterruptedFile is written into a run dir whose run stopped early (a
// signal, a failed inject, the clients' error, a panic), once every fault
// was healed and the history closed.
const InterruptedFile = "interrupted.json"

// Interruption is interrupted.json: why the run stopped early.
type Interruption struct {
	Reason string `json:"reason"`
	// At is the history time (ns since the run started) when the records
	// were closed.
	At int64 `json:"at_ns"`
	// Healed is false when a heal failed (HealError says which): a fault
	// may still have been in effect at the last topology sample.
	Healed    bool   `json:"healed"`
	HealError string `json:"heal_error,omitempty"`
	// HistoryError is why the history could not be closed, if it could not.
	HistoryError string `json:"history_error,omitempty"`
}

func writeInterruption(dir string, it Interruption) error {
	b, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, InterruptedFile), append(b, '\n'), 0o644)
}

// interruption says why the run stored in dir did not finish, or "" when
// nothing says it did not: its interrupted.json, or else faults its
// history shows in effect and never healed, which only a harness killed
// mid-run (SIGKILL) leaves behind. Either way the last topology sample
// and the final reads are not what a finished run would have, so no
// checker's false there can be blamed on Redis.
func interruption(dir string, ops []history.Op) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, InterruptedFile))
	switch {
	case err == nil:
		var it Interruption
		if err := json.Unmarshal(b, &it); err != nil {
			return "", fmt.Errorf("%s: %w", InterruptedFile, err)
		}
		reason := it.Reason
		if reason == "" {
			reason = "the run stopped early"
		}
		if !it.Healed && it.HealError != "" {
			reason += "; a heal failed: " + firstLine(it.HealError)
		}
		return reason, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	if left := unhealed(ops); len(left) > 0 {
		return fmt.Sprintf("the harness stopped with faults in effect, never healed (killed?): %s", strings.Join(left, ", ")), nil
	}
	return "", nil
}

// unhealed lists the nemesis actions a history shows in effect (an inject
// record without error) and never healed (no heal record without error
// after it), as "action 2 (pause)".
func unhealed(ops []history.Op) []string {
	open := map[int64]string{}
	for _, o := range ops {
		if o.IsClient() || o.Type != history.Info {
			continue
		}
		v, ok := o.Value.(map[string]any)
		if !ok {
			continue
		}
		a, ok := history.Int(v["action"])
		if !ok {
			continue
		}
		if heal, _ := v["heal"].(bool); heal {
			if o.Error == "" {
				delete(open, a)
			}
		} else if o.Error == "" {
			open[a] = o.F
		}
	}
	var keys []int64
	for a := range open {
		keys = append(keys, a)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]string, len(keys))
	for i, a := range keys {
		out[i] = fmt.Sprintf("action %d (%s)", a+1, open[a])
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
