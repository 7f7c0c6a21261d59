package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func clusterReshardCommand() *cli.Command {
	return &cli.Command{
		Name:  "reshard",
		Usage: "move slots between masters with the migration protocol, step by step",
		Description: "For each slot: SETSLOT IMPORTING on the target, MIGRATING on the source, GETKEYSINSLOT + MIGRATE\n" +
			"in batches of --pipeline keys, then SETSLOT NODE on the target, the source and every other master.",
		UsageText: "harness cluster reshard --name demo --from SOURCE_ID --to TARGET_ID --slots 100 [--pipeline 10]",
		Flags: []cli.Flag{
			nameFlag, addrFlag,
			&cli.StringFlag{Name: "from", Usage: "source master's node id (a unique prefix will do)", Required: true},
			&cli.StringFlag{Name: "to", Usage: "target master's node id (a unique prefix will do)", Required: true},
			&cli.IntFlag{Name: "slots", Usage: "number of slots to move", Required: true},
			&cli.IntFlag{Name: "pipeline", Usage: "keys per MIGRATE", Value: 10},
			&cli.DurationFlag{Name: "migrate-timeout", Usage: "MIGRATE timeout", Value: 60 * time.Second},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.Int("slots") <= 0 || c.Int("slots") > topology.NumSlots {
				return usageErr("--slots %d: want 1 to %d", c.Int("slots"), topology.NumSlots)
			}
			if c.Int("pipeline") <= 0 {
				return usageErr("--pipeline %d: want at least 1 key per MIGRATE", c.Int("pipeline"))
			}
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			out := info(c)
			fmt.Fprintf(out, "moving %d slots from %s to %s…\n", c.Int("slots"), c.String("from"), c.String("to"))
			res, err := t.admin.Reshard(c.Context, t.snapshot(c.Context).Addrs(), c.String("from"), c.String("to"), c.Int("slots"),
				topology.ReshardOptions{Pipeline: c.Int("pipeline"), Timeout: c.Duration("migrate-timeout")})
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("cluster reshard: %w", err))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			fmt.Fprintf(out, "moved %d slots (%d keys) in %s\n", res.Slots, res.Keys, res.Duration.Round(time.Millisecond))
			return nil
		},
	}
}
