package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/scenarios"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/workloads"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run scenarios: provision a cluster, drive workloads, record the history, check it",
		Description: "Each run writes store/<scenario>/<UTC time>-<seed>/ (history.jsonl, topology.jsonl,\n" +
			"scenario.yaml, results.json, junit.xml, nodes/*/redis.log, harness.log) and points\n" +
			"store/latest at it. Exit: 0 valid (or the scenario's expectation met), 1 anomalies,\n" +
			"2 unknown, 3 the harness could not do its job.",
		UsageText: "harness run [SCENARIO|FILE …] [--backend auto|docker|local|ssh] [--hosts FILE] [--addr HOST:PORT] [--time-limit 60s]\n" +
			"   [--concurrency 10] [--seed N] [--store DIR] [--keep] [--workload W] [--test-count K]\n" +
			"harness run --replay RUN_DIR [--backend …] [--store DIR] [--keep]",
		Flags: append(scenarioFlags(),
			addrFlag,
			&cli.BoolFlag{Name: "keep", Usage: "leave the cluster running after the run"},
			&cli.IntFlag{Name: "test-count", Usage: "run each scenario this many times", Value: 1},
			replayFlag,
		),
		Action: func(c *cli.Context) error {
			if c.IsSet("replay") {
				return runReplay(c)
			}
			names := c.Args().Slice()
			if len(names) == 0 {
				names = []string{"smoke"}
			}
			if c.Int("test-count") < 1 {
				return usageErr("--test-count %d: want at least 1", c.Int("test-count"))
			}
			var list []*scenarios.Scenario
			for _, n := range names {
				s, err := scenarios.Load(n)
				if err != nil {
					return withCode(exitHarness, err)
				}
				if err := applyRunFlags(c, s); err != nil {
					return err
				}
				list = append(list, s)
			}
			worst := exitValid
			for _, s := range list {
				for i := 0; i < c.Int("test-count"); i++ {
					run := *s
					code, err := runOne(c, &run)
					if err != nil {
						return err
					}
					if code > worst {
						worst = code
					}
				}
			}
			if worst != exitValid {
				return silentExit(worst)
			}
			return nil
		},
	}
}

// scenarioFlags are the flags that shape each run, shared by run and soak
// (applyRunFlags reads them).
func scenarioFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "backend", Usage: "auto, docker, local or ssh (default: the scenario's, else auto)", EnvVars: []string{"HARNESS_BACKEND"}},
		hostsFlag,
		serverFlag,
		&cli.DurationFlag{Name: "time-limit", Usage: "how long the clients run (default: the scenario's)"},
		&cli.IntFlag{Name: "concurrency", Usage: "client workers (default: the scenario's)"},
		&cli.Int64Flag{Name: "seed", Usage: "fix every random choice (default: the scenario's, else random; recorded in the run dir)"},
		&cli.StringFlag{Name: "store", Usage: "where runs are stored", Value: "store", EnvVars: []string{"HARNESS_STORE"}},
		&cli.StringFlag{Name: "workload", Usage: "replace the scenario's workloads with this one (" + joinNames(workloads.Names()) + ")"},
		&cli.IntFlag{Name: "ops-per-key", Usage: "ops per key before moving to a fresh key (default: the scenario's, else 1000)"},
		&cli.DurationFlag{Name: "check-timeout", Usage: "linearizability budget; past it the verdict is unknown"},
		checkMemoryFlag(),
		&cli.StringSliceFlag{Name: "nemesis", Usage: "faults to alternate with heals, replacing the scenario's (" + joinNames(nemesis.Names()) + "; a target after @, e.g. partition@primary)"},
		&cli.DurationFlag{Name: "nemesis-interval", Usage: "how long each fault lasts, and the healed time between faults", Value: nemesis.DefaultInterval},
	}
}

// applyRunFlags overrides the scenario with the flags given, and validates the result.
func applyRunFlags(c *cli.Context, s *scenarios.Scenario) error {
	if w := c.String("workload"); w != "" && !contains(workloads.Names(), w) {
		return usageErr("--workload %q: want one of %s", w, joinNames(workloads.Names()))
	}
	if c.IsSet("time-limit") {
		if c.Duration("time-limit") <= 0 {
			return usageErr("--time-limit %s: want a positive duration, e.g. 60s", c.Duration("time-limit"))
		}
		s.TimeLimit = c.Duration("time-limit")
	}
	if c.IsSet("concurrency") {
		// The flag has no "0 means the default" (leaving it out does that):
		// one range, one message, whichever end is crossed.
		if n := c.Int("concurrency"); n < 1 || n > workloads.MaxConcurrency {
			return usageErr("--concurrency %d: want 1 to %d workers", n, workloads.MaxConcurrency)
		}
		s.Client.Concurrency = c.Int("concurrency")
	}
	if b := c.String("backend"); b != "" {
		if !contains(backends.Names, b) {
			return usageErr("--backend %q: want auto, docker, local or ssh", b)
		}
		s.Backend = b
	}
	if s.Backend == "ssh" && c.String("hosts") == "" {
		return usageErr("--backend ssh needs --hosts FILE (or HARNESS_HOSTS): the machines the nodes run on and how to log in (see README, \"The ssh backend\")")
	}
	if c.IsSet("seed") {
		s.Seed = c.Int64("seed")
	}
	if v := c.String("server"); v != "" {
		s.Cluster.Server = v
	}
	if c.IsSet("ops-per-key") {
		if c.Int("ops-per-key") < 1 {
			return usageErr("--ops-per-key %d: want at least 1 op per key", c.Int("ops-per-key"))
		}
		s.Client.OpsPerKey = c.Int("ops-per-key")
	}
	if c.IsSet("check-timeout") {
		s.Check.Timeout = c.Duration("check-timeout")
	}
	if err := applyCheckMemory(c, s); err != nil {
		return err
	}
	if w := c.String("workload"); w != "" {
		s.Client.Workloads = []workloads.Spec{{Name: w}}
	}
	if f := c.StringSlice("nemesis"); len(f) > 0 {
		if c.Duration("nemesis-interval") <= 0 {
			return usageErr("--nemesis-interval %s: want a positive duration, e.g. 10s", c.Duration("nemesis-interval"))
		}
		faults := splitList(f)
		if len(faults) == 1 && faults[0] == "none" {
			faults = nil
		}
		s.Nemesis = nemesis.Spec{Faults: faults, Interval: c.Duration("nemesis-interval")}
	}
	if err := s.Validate(); err != nil {
		return usageErr("scenario %s: %v", s.Name, err)
	}
	return nil
}

func runOne(c *cli.Context, s *scenarios.Scenario) (int, error) {
	tty := term.IsTerminal(int(os.Stdout.Fd())) && c.App.Writer == os.Stdout
	out, err := scenarios.Run(c.Context, s, scenarios.Options{
		Backend: c.String("backend"), Hosts: c.String("hosts"), Addr: c.String("addr"), Store: c.String("store"),
		Keep: c.Bool("keep"), Progress: c.App.Writer, TTY: tty, Servers: serversOf(c).Dir,
	})
	if err != nil {
		if out != nil && out.Dir != "" {
			return exitHarness, withCode(exitHarness, fmt.Errorf("run %s: %w (run dir %s)", s.Name, err, out.Dir))
		}
		return exitHarness, withCode(exitHarness, fmt.Errorf("run %s: %w", s.Name, err))
	}
	printOutcome(c, s.Name, out)
	return out.Code, nil
}

// printOutcome says the verdict of each checker and whether the expectation held.
func printOutcome(c *cli.Context, name string, out *scenarios.Outcome) {
	w := c.App.Writer
	rep := out.Report
	for _, n := range rep.Names {
		fmt.Fprintf(w, "  %-14s %s\n", n, rep.Checkers[n].Verdict())
	}
	if st := rep.Stats; st != nil {
		fmt.Fprintf(w, "  %d ops: ok %d, fail %d, info %d; %.0f ops/s; %d redirects followed\n", st.Ops, st.OK, st.Fail, st.Info, st.OpsPerSec, st.Redirects)
	}
	printRecovery(w, rep)
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	verdict := rep.Valid.String()
	if out.Interrupted != "" {
		// The checkers above judged a history without its end.
		fmt.Fprintf(w, "%s: unknown, interrupted: %s (%s)\n", name, out.Interrupted, out.Dir)
		return
	}
	switch {
	case len(out.Expected.Checkers) > 0 && out.Expected.Met:
		fmt.Fprintf(w, "%s: %s — as the scenario expects (%s)\n", name, verdict, out.Dir)
	case out.Expected.Met:
		fmt.Fprintf(w, "%s: %s (%s)\n", name, verdict, out.Dir)
	default:
		fmt.Fprintf(w, "%s: %s; expectation not met:\n", name, verdict)
		for _, f := range out.Expected.Failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		fmt.Fprintf(w, "  run dir: %s\n", out.Dir)
	}
}

// maxRecoveryLines caps the per-action recovery lines of a run's outcome.
const maxRecoveryLines = 10

// printRecovery says, per nemesis action, how soon the clients were served
// by the node that took its slots over, and their ok rate meanwhile.
func printRecovery(w io.Writer, rep *checker.Report) {
	r, ok := rep.Checkers[history.CheckRecovery].(*checker.RecoveryResult)
	if !ok {
		return
	}
	for i, a := range r.Actions {
		if i == maxRecoveryLines {
			fmt.Fprintf(w, "  … %d more actions in results.json\n", len(r.Actions)-i)
			break
		}
		rec := "none (" + a.Reason + ")"
		if a.ClientRecoveryS != nil {
			rec = fmt.Sprintf("%.3f s", *a.ClientRecoveryS)
		}
		rate := "—"
		if a.RateRatio != nil {
			rate = fmt.Sprintf("%.0f %% of before", *a.RateRatio*100)
		}
		fmt.Fprintf(w, "  %s at %.1f s: client recovery %s; ok rate %s\n", cmp.Or(a.Fault, a.F), float64(a.Start)/1e9, rec, rate)
	}
}

func joinNames(n []string) string {
	s := ""
	for i, x := range n {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

var replayFlag = &cli.StringFlag{Name: "replay", Usage: "rerun RUN_DIR's resolved scenario.yaml (same seed, cluster, op streams and fault timeline), then write the new run's replay.json: where its history diverged from RUN_DIR's"}

// runReplay is run --replay RUN_DIR: the run again, then the comparison.
func runReplay(c *cli.Context) error {
	dir := c.String("replay")
	if c.Args().Len() > 0 {
		return usageErr("--replay %s: give no scenarios with --replay (it reruns the run dir's own scenario.yaml)", dir)
	}
	// Only where the run goes may change; everything else would make it another run.
	for _, f := range []string{"addr", "time-limit", "concurrency", "seed", "workload", "ops-per-key", "check-timeout", "check-memory", "test-count", "nemesis", "nemesis-interval"} {
		if c.IsSet(f) {
			return usageErr("--%s with --replay: a replay keeps the original run's settings (only --backend, --server, --store and --keep may be given); run the scenario file %s with --%s instead for a different run", f, filepath.Join(dir, "scenario.yaml"), f)
		}
	}
	s, err := scenarios.LoadReplay(dir)
	if err != nil {
		return withCode(exitHarness, err)
	}
	if v := c.String("server"); v != "" {
		// The same seed and fault timeline on another server: the
		// comparison then shows where that server behaved otherwise.
		s.Cluster.Server, s.Cluster.Image = v, ""
		if err := s.Validate(); err != nil {
			return usageErr("--server %s with --replay: %v", v, err)
		}
	}
	if b := c.String("backend"); b != "" && !contains(backends.Names, b) {
		return usageErr("--backend %q: want auto, docker, local or ssh", b)
	}
	fmt.Fprintf(c.App.Writer, "replaying %s: scenario %s, seed %d, %d nemesis actions\n", dir, s.Name, s.Seed, len(s.Nemesis.Timeline))
	tty := term.IsTerminal(int(os.Stdout.Fd())) && c.App.Writer == os.Stdout
	out, err := scenarios.Run(c.Context, s, scenarios.Options{
		Backend: c.String("backend"), Hosts: c.String("hosts"), Store: c.String("store"), Keep: c.Bool("keep"), Progress: c.App.Writer, TTY: tty,
		Servers: serversOf(c).Dir,
	})
	if err != nil {
		if out != nil && out.Dir != "" {
			return withCode(exitHarness, fmt.Errorf("replay %s: %w (run dir %s)", s.Name, err, out.Dir))
		}
		return withCode(exitHarness, fmt.Errorf("replay %s: %w", s.Name, err))
	}
	printOutcome(c, s.Name, out)
	rep, err := scenarios.CompareRuns(dir, out.Dir)
	if err == nil {
		err = scenarios.WriteReplay(out.Dir, rep)
	}
	if err != nil {
		return withCode(exitHarness, fmt.Errorf("replay: compare %s with %s: %w", dir, out.Dir, err))
	}
	fmt.Fprint(c.App.Writer, rep.Summary())
	if rep.DeterminismBug {
		return withCode(exitHarness, fmt.Errorf("replay: the harness generated different ops for the same seed (a harness bug): see %s", filepath.Join(out.Dir, scenarios.ReplayFile)))
	}
	if out.Code != exitValid {
		return silentExit(out.Code)
	}
	return nil
}
