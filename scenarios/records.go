package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/workloads"
)

// The run's records in its dir: the history and the topology samples
// (records), what the nemesis did (nemesis.json) and where the final reads
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

// healer heals every fault of the nemesis once, whoever asks first: the
// end of runCtx (at once, while the clients wind down), the normal end,
// or an interruption.
type healer struct {
	nem  *nemesis.Runner // nil: the run has no nemesis
	say  func(string, ...any)
	once sync.Once
	err  error
}

// heal heals every open fault (the first call; later ones wait for it)
// and says whether every heal worked.
func (h *healer) heal(ctx context.Context) error {
	if h == nil {
		return nil
	}
	h.once.Do(func() {
		if h.nem == nil {
			return
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if h.err = h.nem.HealAll(hctx); h.err != nil {
			h.say("heal: %v", h.err)
		}
	})
	return h.err
}

// runner is the nemesis's runner, nil when there is none.
func (h *healer) runner() *nemesis.Runner {
	if h == nil {
		return nil
	}
	return h.nem
}

// records are the run's history, written as ops happen, and its topology
// samples, taken by a monitor beside it.
type records struct {
	hw    *history.Writer
	rec   *countingRecorder
	start time.Time
	tf    *os.File
	tenc  *json.Encoder
	terr  error // the first topology.jsonl write error
	stop  context.CancelFunc
	wg    sync.WaitGroup
	admin *topology.Admin
	addrs func() []string
	once  sync.Once
	err   error
}

// openRecords creates history.jsonl and topology.jsonl and starts the
// topology monitor.
func openRecords(ctx context.Context, dir string, admin *topology.Admin, addrs func() []string) (*records, error) {
	hf, err := os.Create(filepath.Join(dir, history.File))
	if err != nil {
		return nil, harnessErr("%s: %w", history.File, err)
	}
	start := time.Now()
	hw := history.NewWriter(hf, start)
	tf, err := os.Create(filepath.Join(dir, checker.TopologyFile))
	if err != nil {
		hw.Close()
		return nil, harnessErr("%s: %w", checker.TopologyFile, err)
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	rs := &records{hw: hw, rec: &countingRecorder{Writer: hw}, start: start, tf: tf, tenc: json.NewEncoder(tf),
		stop: stop, admin: admin, addrs: addrs}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		admin.Monitor(mctx, 250*time.Millisecond, addrs, hw.Now, rs.sample)
	}()
	return rs, nil
}

// sample writes one topology sample, keeping the first write error for
// close (the monitor calls it from one goroutine, close after it ended).
func (rs *records) sample(smp topology.Sample) {
	if err := rs.tenc.Encode(smp); err != nil && rs.terr == nil {
		rs.terr = err
	}
}

// close ends the records, once: the last topology sample (after every
// heal), then the history. It says what could not be written.
func (rs *records) close(ctx context.Context) error {
	rs.once.Do(func() {
		rs.stop()
		rs.wg.Wait()
		// The last sample is the converged view the slots checker judges:
		// take it now, after the heals (and, at the normal end, the health
		// gate and the final reads).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		rs.sample(topology.SampleOf(rs.admin.Snapshot(sctx, rs.addrs()), rs.hw.Now()))
		cancel()
		terr := rs.terr
		if err := rs.tf.Close(); err != nil && terr == nil {
			terr = err
		}
		var errs []error
		if terr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", checker.TopologyFile, terr))
		}
		if err := rs.hw.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", history.File, err))
		}
		rs.err = errors.Join(errs...)
	})
	return rs.err
}
