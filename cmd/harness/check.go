package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/scenarios"
	"github.com/redis-harness/harness/workloads"
	"github.com/urfave/cli/v2"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "re-judge a stored history and rewrite results.json, junit.xml and index.html",
		Description: "RUN_DIR is a run dir (its scenario.yaml says which checkers apply) or any directory\n" +
			"holding a history.jsonl (or history.jsonl.gz) in the harness's format: then --workload says\n" +
			"how to read it.\n" +
			"A truncated last line (a crashed run) is tolerated with a warning.",
		UsageText: "harness check store/latest\n   harness check ./foreign --workload register",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workload", Usage: "judge every client op as this workload (" + joinNames(checker.KnownWorkloads()) + ")"},
			&cli.DurationFlag{Name: "check-timeout", Usage: "linearizability budget; past it the verdict is unknown"},
			checkMemoryFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("check: give one RUN_DIR, e.g. harness check store/latest")
			}
			dir := c.Args().First()
			if _, err := history.Locate(dir); err != nil {
				return usageErr("check %s: no history.jsonl (or history.jsonl.gz) there (%v)", dir, errors.Unwrap(err))
			}
			only := c.String("workload")
			if only != "" && !contains(checker.KnownWorkloads(), only) {
				return usageErr("--workload %q: want one of %s", only, joinNames(checker.KnownWorkloads()))
			}
			s, err := scenarios.Load(filepath.Join(dir, "scenario.yaml"))
			switch {
			case err == nil:
			case errors.Is(err, fs.ErrNotExist) && only != "":
				s = &scenarios.Scenario{Name: filepath.Base(dir), Client: workloads.Config{Workloads: []workloads.Spec{{Name: only}}}}
				if err := s.Resolve(); err != nil {
					return withCode(exitHarness, err)
				}
			case errors.Is(err, fs.ErrNotExist):
				return usageErr("check %s: no scenario.yaml to say which checkers apply; give --workload W (%s)", dir, joinNames(checker.KnownWorkloads()))
			default:
				return withCode(exitHarness, err)
			}
			if c.IsSet("check-timeout") {
				s.Check.Timeout = c.Duration("check-timeout")
			}
			if err := applyCheckMemory(c, s); err != nil {
				return err
			}
			out, err := scenarios.Judge(c.Context, dir, s, only)
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("check %s: %w", dir, err))
			}
			printOutcome(c, s.Name, out)
			if out.Code != exitValid {
				return silentExit(out.Code)
			}
			return nil
		},
	}
}

// checkMemoryFlag is --check-memory, for every command that judges a history.
func checkMemoryFlag() cli.Flag {
	return &cli.StringFlag{Name: "check-memory", EnvVars: []string{"HARNESS_CHECK_MEMORY"},
		Usage: "memory ceiling of the linearizability search, e.g. 4GiB or 512MiB; past it the keys being searched are unknown (default: the scenario's, else the smaller of 4 GiB and half the machine's memory)"}
}

// applyCheckMemory sets the scenario's check.memory from --check-memory.
func applyCheckMemory(c *cli.Context, s *scenarios.Scenario) error {
	v := c.String("check-memory")
	if v == "" {
		return nil
	}
	if _, err := checker.ParseSize(v); err != nil {
		return usageErr("--check-memory: %v", err)
	}
	s.Check.Memory = v
	return nil
}
