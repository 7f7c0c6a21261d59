package main

import (
	"fmt"

	"github.com/redis-harness/harness/topology"

	"github.com/urfave/cli/v2"
)

// checkResult is what `cluster check --json` prints.
type checkResult struct {
	Healthy  bool   `json:"healthy"`
	Problems any    `json:"problems"`
	Nodes    int    `json:"nodes"`
	Name     string `json:"name,omitempty"`
}

func clusterCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "exit 0 when the cluster is healthy; otherwise list every problem and exit 1",
		Description: "Problems: unreachable nodes, cluster_state not ok, slots uncovered or in MIGRATING/IMPORTING,\n" +
			"nodes disagreeing on slot owners, failed or unknown nodes, masters without replicas, replica links down.",
		UsageText: "harness cluster check --name demo | --addr 127.0.0.1:7000 [--replicas N] [--json]",
		Flags:     []cli.Flag{nameFlag, addrFlag, replicasFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			if c.IsSet("replicas") {
				t.expect.Replicas = c.Int("replicas")
			}
			snap := t.snapshot(c.Context)
			probs := snap.Problems(t.expect)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, checkResult{Healthy: len(probs) == 0, Problems: probs, Nodes: len(snap.Views), Name: t.name}); err != nil {
					return err
				}
			} else if len(probs) == 0 {
				fmt.Fprintf(c.App.Writer, "[OK] %d nodes agree: all 16384 slots covered, no open slots, %d replica(s) per master, links up\n", len(snap.Views), t.expect.Replicas)
			} else {
				fmt.Fprintf(c.App.Writer, "[ERR] %d problems:%s\n", len(probs), topology.ProblemsText(probs, len(probs)))
			}
			if len(probs) > 0 {
				return silentExit(exitInvalid)
			}
			return nil
		},
	}
}
