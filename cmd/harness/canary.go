package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/scenarios"
	"github.com/urfave/cli/v2"
)

func canaryCommand() *cli.Command {
	return &cli.Command{
		Name:  "canary",
		Usage: "prove the checkers still see: plant known anomalies in a real recorded run, require each caught",
		Description: "Records a short run of every workload on one real cluster, requires it valid with every\n" +
			"workload's ops judged, then plants every known anomaly (a lost write, a stale read, a\n" +
			"torn MGET, a lost increment, uncovered or open slots…) in copies of it and requires the\n" +
			"right checker to report exactly that anomaly. Prints the matrix mutation × key space:\n" +
			"caught, MISSED, or NO TARGET (nothing in the history to plant it in, a failure too).\n" +
			"Exit: 0 all caught, 1 something missed, 3 the run could not be recorded.",
		UsageText: "harness canary [--backend local|docker] [--time-limit 4s] [--seed N] [--store DIR] [--skip-unavailable]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backend", Usage: "local or docker", Value: "local"},
			&cli.DurationFlag{Name: "time-limit", Usage: "how long the workloads run", Value: 4 * time.Second},
			&cli.Int64Flag{Name: "seed", Usage: "the workloads' seed (0: pick one)"},
			&cli.StringFlag{Name: "store", Usage: "keep the recorded run here (default: a temporary directory, removed unless something was missed)"},
			&cli.BoolFlag{Name: "skip-unavailable", Usage: "where the backend cannot run here (no redis-server), say so and exit 0, as the tests skip"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("canary takes no arguments (got %q)", c.Args().First())
			}
			backend := c.String("backend")
			if backend != "local" && backend != "docker" {
				return usageErr("--backend %q: want local or docker", backend)
			}
			if c.Duration("time-limit") <= 0 {
				return usageErr("--time-limit %s: want a positive duration, e.g. 4s", c.Duration("time-limit"))
			}
			if why := scenarios.CanaryUnavailable(backend); why != "" {
				if c.Bool("skip-unavailable") {
					fmt.Fprintf(c.App.Writer, "canary: skipped: %s\n", why)
					return nil
				}
				return withCode(exitHarness, fmt.Errorf("canary: %s", why))
			}
			start := time.Now()
			rep, err := scenarios.Canary(c.Context, scenarios.CanaryOptions{
				Backend: backend, Store: c.String("store"), TimeLimit: c.Duration("time-limit"),
				Seed: c.Int64("seed"), Progress: c.App.ErrWriter,
			})
			if err != nil {
				return withCode(exitHarness, err)
			}
			w := c.App.Writer
			rep.PrintMatrix(w)
			fmt.Fprintf(w, "canary: recorded in %.1fs, %d mutants judged in %.1fs, %.1fs in all\n", rep.RecordS, len(rep.Cells), rep.CheckS, time.Since(start).Seconds())
			if !rep.OK() {
				if rep.Dir != "" {
					fmt.Fprintf(w, "canary: FAILED: the checkers missed what they must see (the recorded run is in %s)\n", rep.Dir)
				} else {
					fmt.Fprintln(w, "canary: FAILED: the checkers missed what they must see")
				}
				return silentExit(exitInvalid)
			}
			fmt.Fprintln(w, "canary: every planted anomaly was caught")
			return nil
		},
	}
}
