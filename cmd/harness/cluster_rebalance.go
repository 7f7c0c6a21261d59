package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func clusterRebalanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "rebalance",
		Usage:     "even out the slots among masters, as redis-cli --cluster rebalance does",
		UsageText: "harness cluster rebalance --name demo [--use-empty-masters] [--threshold 2] [--pipeline 10]",
		Flags: []cli.Flag{
			nameFlag, addrFlag,
			&cli.BoolFlag{Name: "use-empty-masters", Usage: "give slots to masters that have none"},
			&cli.Float64Flag{Name: "threshold", Usage: "percent off its share before a master is rebalanced", Value: 2},
			&cli.IntFlag{Name: "pipeline", Usage: "keys per MIGRATE", Value: 10},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.Float64("threshold") < 0 {
				return usageErr("--threshold %v: want a percentage ≥ 0", c.Float64("threshold"))
			}
			if c.Int("pipeline") <= 0 {
				return usageErr("--pipeline %d: want at least 1 key per MIGRATE", c.Int("pipeline"))
			}
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			res, err := t.admin.Rebalance(c.Context, t.snapshot(c.Context).Addrs(), topology.RebalanceOptions{
				UseEmptyMasters: c.Bool("use-empty-masters"), Threshold: c.Float64("threshold"), Pipeline: c.Int("pipeline"),
			})
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("cluster rebalance: %w", err))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			if len(res.Moves) == 0 {
				fmt.Fprintf(c.App.Writer, "balanced already (within %v%%): nothing moved\n", c.Float64("threshold"))
				return nil
			}
			for _, m := range res.Moves {
				fmt.Fprintf(c.App.Writer, ">>> %s\n", m)
			}
			fmt.Fprintf(c.App.Writer, "moved %d slots in %s\n", res.Slots, res.Duration.Round(time.Millisecond))
			return nil
		},
	}
}
