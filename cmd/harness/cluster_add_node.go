package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/urfave/cli/v2"
)

func clusterAddNodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "add-node",
		Usage: "add an empty node as a master (no slots) or as a replica",
		Description: "With --name the backend starts a new node; with --new-addr an existing empty node joins\n" +
			"(required with --addr). Move slots to a new master with reshard or rebalance --use-empty-masters.",
		UsageText: "harness cluster add-node --name demo [--replica-of MASTER_ID]\n   harness cluster add-node --addr 127.0.0.1:7000 --new-addr 127.0.0.1:7006 [--replica-of MASTER_ID]",
		Flags: []cli.Flag{
			nameFlag, addrFlag,
			&cli.StringFlag{Name: "new-addr", Usage: "HOST:PORT of an existing empty cluster-enabled node to add"},
			&cli.StringFlag{Name: "replica-of", Usage: "make the new node a replica of this master (node id, a unique prefix will do)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			newAddr := c.String("new-addr")
			var made *topology.Node
			var b topology.Backend
			if newAddr == "" {
				if t.cluster == nil {
					return usageErr("add-node --addr: the harness cannot start nodes for a cluster it did not make; give --new-addr HOST:PORT of an empty node")
				}
				store := openStore(c)
				if b, err = backends.Open(c.Context, t.cluster, store); err != nil {
					return withCode(exitHarness, err)
				}
				n, err := b.AddNode(c.Context, t.cluster)
				if err != nil {
					return withCode(exitHarness, fmt.Errorf("add-node: %w", err))
				}
				made, newAddr = &n, n.Addr
				fmt.Fprintf(info(c), "started node %s at %s\n", n.Name, n.Addr)
			}
			addrs := t.snapshot(c.Context).Addrs()
			id, err := t.admin.AddNode(c.Context, addrs, newAddr, c.String("replica-of"))
			if err != nil {
				if made != nil { // do not leave a started node that never joined
					cctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), time.Minute)
					defer cancel()
					b.RemoveNode(cctx, t.cluster, made.Name)
				}
				return withCode(exitHarness, fmt.Errorf("add-node %s: %w", newAddr, err))
			}
			role := "master with no slots (move some with reshard or rebalance --use-empty-masters)"
			if r := c.String("replica-of"); r != "" {
				role = "replica of " + r
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]string{"id": id, "addr": newAddr, "replica_of": c.String("replica-of")})
			}
			fmt.Fprintf(c.App.Writer, "added %s (%s) as %s\n", newAddr, id, role)
			return nil
		},
	}
}
