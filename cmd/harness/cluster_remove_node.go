package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology/backends"
	"github.com/urfave/cli/v2"
)

func clusterRemoveNodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "remove-node",
		Usage: "remove a node from the cluster (a master must own no slots)",
		Description: "Every other node forgets it; it is reset so that it cannot gossip its way back; with --name\n" +
			"the backend then stops it and removes its data.",
		UsageText: "harness cluster remove-node --name demo --node NODE_ID",
		Flags: []cli.Flag{
			nameFlag, addrFlag,
			&cli.StringFlag{Name: "node", Usage: "the node to remove: node id (a unique prefix will do)", Required: true},
		},
		Action: func(c *cli.Context) error {
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			snap := t.snapshot(c.Context)
			node, err := snap.Resolve(c.String("node"))
			if err != nil {
				return withCode(exitHarness, fmt.Errorf("remove-node: %w", err))
			}
			addr := node.Addr
			if err := t.admin.RemoveNode(c.Context, snap.Addrs(), c.String("node")); err != nil {
				return withCode(exitHarness, fmt.Errorf("remove-node: %w", err))
			}
			fmt.Fprintf(c.App.Writer, "node %s (%s) removed from the cluster\n", c.String("node"), dash(addr))
			if t.cluster == nil {
				return nil
			}
			n, ok := t.cluster.Node(addr)
			if !ok {
				return nil
			}
			b, err := backends.Open(c.Context, t.cluster, openStore(c))
			if err != nil {
				return withCode(exitHarness, err)
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), time.Minute)
			defer cancel()
			if err := b.RemoveNode(ctx, t.cluster, n.Name); err != nil {
				return withCode(exitHarness, fmt.Errorf("remove-node: stop %s: %w", n.Name, err))
			}
			fmt.Fprintf(c.App.Writer, "node %s stopped and its data removed\n", n.Name)
			return nil
		},
	}
}
