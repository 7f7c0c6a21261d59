package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func clusterFixCommand() *cli.Command {
	return &cli.Command{
		Name:  "fix",
		Usage: "repair what check finds, as redis-cli --cluster fix does: close open slots, assign uncovered ones",
		Description: "An open slot (MIGRATING/IMPORTING) goes to the node that has its keys, the rest of its keys\n" +
			"moved there; an uncovered slot goes to the master holding its keys, or to the master with fewest slots.",
		UsageText: "harness cluster fix --name demo | --addr 127.0.0.1:7000 [--json]",
		Flags:     []cli.Flag{nameFlag, addrFlag, replicasFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			res, err := t.admin.Fix(c.Context, t.snapshot(c.Context).Addrs())
			if c.Bool("json") {
				if jerr := printJSON(c.App.Writer, res); jerr != nil {
					return jerr
				}
			} else {
				for _, a := range res.Actions {
					fmt.Fprintf(c.App.Writer, ">>> %s\n", a)
				}
				if len(res.Actions) == 0 && err == nil {
					fmt.Fprintln(c.App.Writer, "nothing to fix")
				}
			}
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("cluster fix: %w", err))
			}
			return nil
		},
	}
}
