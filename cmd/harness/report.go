package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/reports"
	"github.com/urfave/cli/v2"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "regenerate a run's report (index.html and plots) or the store's index of runs",
		Description: "RUN_DIR's index.html and plots are rebuilt from what is on disk: history.jsonl (or\n" +
			"history.jsonl.gz), topology.jsonl, results.json and scenario.yaml (run harness check first to re-judge).\n" +
			"--index STORE writes STORE/index.html, listing every run newest first.",
		UsageText: "harness report store/latest\n   harness report --index store",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "index", Usage: "write the index of every run in this store", EnvVars: []string{"HARNESS_REPORT_INDEX"}},
		},
		Action: func(c *cli.Context) error {
			store := c.String("index")
			if c.NArg() > 1 || (c.NArg() == 0 && store == "") {
				return usageErr("report: give one RUN_DIR (harness report store/latest) or --index STORE")
			}
			if dir := c.Args().First(); dir != "" {
				if _, err := history.Locate(dir); err != nil {
					return usageErr("report %s: no history.jsonl (or history.jsonl.gz) there (%v)", dir, errors.Unwrap(err))
				}
				if err := reports.Write(dir); err != nil {
					return withCode(exitHarness, fmt.Errorf("report %s: %w", dir, err))
				}
				fmt.Fprintln(c.App.Writer, filepath.Join(dir, reports.IndexFile))
			}
			if store != "" {
				if st, err := os.Stat(store); err != nil || !st.IsDir() {
					return usageErr("report --index %s: not a directory of runs", store)
				}
				if err := reports.WriteIndex(store); err != nil {
					return withCode(exitHarness, fmt.Errorf("report --index %s: %w", store, err))
				}
				fmt.Fprintln(c.App.Writer, filepath.Join(store, reports.IndexFile))
			}
			return nil
		},
	}
}
