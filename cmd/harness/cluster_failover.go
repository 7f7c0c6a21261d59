package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func clusterFailoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "failover",
		Usage: "promote a replica with CLUSTER FAILOVER and wait until every node sees it as master",
		Description: "Modes: default (the master agrees and hands over with no write lost), force (no handshake\n" +
			"with the master, still needs a majority of masters), takeover (no agreement at all).",
		UsageText: "harness cluster failover --name demo --node REPLICA_ID [--mode default|force|takeover] [--timeout 30s]",
		Flags: []cli.Flag{
			nameFlag, addrFlag,
			&cli.StringFlag{Name: "node", Usage: "the replica to promote: node id (a unique prefix will do)", Required: true},
			&cli.StringFlag{Name: "mode", Usage: "default, force or takeover", Value: "default"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait until every node agrees", Value: 30 * time.Second},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			mode := topology.FailoverMode(c.String("mode"))
			switch mode {
			case topology.FailoverDefault, topology.FailoverForce, topology.FailoverTakeover:
			default:
				return usageErr("--mode %q: want default, force or takeover", mode)
			}
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			took, err := t.admin.Failover(c.Context, t.snapshot(c.Context).Addrs(), c.String("node"), mode, c.Duration("timeout"))
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("cluster failover: %w", err))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{"node": c.String("node"), "mode": mode, "seconds": took.Seconds()})
			}
			fmt.Fprintf(c.App.Writer, "%s is master in every node's view after %s (%s failover)\n", c.String("node"), took.Round(time.Millisecond), mode)
			return nil
		},
	}
}
