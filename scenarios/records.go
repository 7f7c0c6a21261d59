package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/workloads"
)

// The run's own records in its dir, besides the history and the topology
// samples: what the nemesis did (nemesis.json) and where the final reads
// begin (final.json). Judge and replay read them back.

// writeNemesis writes nemesis.json: what the nemesis did and how long the
// cluster took to recover after the final heal; Judge puts it into
// results.json as "nemesis".
func writeNemesis(dir string, results []nemesis.Result, recovery time.Duration, healthy bool) error {
	r := checker.NemesisReport{Actions: faultResults(results), RecoveryS: recovery.Seconds(), Healthy: healthy}
	for _, a := range results {
		if ms := float64(a.Latency) / 1e6; ms > r.MaxLatencyMS {
			r.MaxLatencyMS = ms
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, checker.NemesisFile), append(b, '\n'), 0o644)
}

// readNemesis reads dir's nemesis.json; nil when the run had no nemesis
// (or the file does not parse: the report then shows no nemesis facts).
func readNemesis(dir string) *checker.NemesisReport {
	b, err := os.ReadFile(filepath.Join(dir, checker.NemesisFile))
	if err != nil {
		return nil
	}
	var r checker.NemesisReport
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

// faultResults copies the nemesis's results into results.json's shape
// (TestFaultResultsKeepEveryField holds the two shapes together).
func faultResults(rs []nemesis.Result) []checker.FaultResult {
	out := make([]checker.FaultResult, len(rs))
	for i, r := range rs {
		out[i] = checker.FaultResult{
			Action: checker.FaultAction{At: r.Action.At, For: r.Action.For, Do: r.Action.Do, Target: r.Action.Target, Params: r.Action.Params},
			Fault:  r.Fault, Nodes: r.Nodes,
			Scheduled: r.Scheduled, Started: r.Started, Effect: r.Effect, Latency: r.Latency, Error: r.Error,
			Healed: r.Healed, HealTook: r.HealTook, HealError: r.HealError,
		}
	}
	return out
}

// finalFile records where the run's final reads begin, written once the
// clients have stopped (so every run that got that far has it, interrupted
// or not): every client process from first_process on is a final read's
// (workloads.Final), every one below it the clients' (workloads.Run).
const finalFile = "final.json"

// finalRecord is final.json.
type finalRecord struct {
	// FirstProcess is workloads.Summary.Used.NextProcess.
	FirstProcess int `json:"first_process"`
}

func writeFinal(dir string, used workloads.Used) error {
	b, err := json.Marshal(finalRecord{FirstProcess: used.NextProcess})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, finalFile), append(b, '\n'), 0o644)
}

// readFinal reads dir's final.json; ok is false when the run dir has none
// (written before the record existed, or the harness died mid-run).
func readFinal(dir string) (rec finalRecord, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, finalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return finalRecord{}, false, nil
	}
	if err != nil {
		return finalRecord{}, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return finalRecord{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, finalFile), err)
	}
	return rec, true, nil
}
