package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/urfave/cli/v2"
)

func clusterDownCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "stop a cluster the harness made and remove everything it made for it",
		UsageText: "harness cluster down --name demo",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "the cluster (harness cluster list)", Required: true, EnvVars: []string{"HARNESS_CLUSTER"}},
		},
		Action: func(c *cli.Context) error {
			name := c.String("name")
			store := openStore(c)
			cl, err := store.Load(name)
			if errors.Is(err, topology.ErrNoCluster) {
				// A record lost after a crash: docker resources are found by label.
				if d, derr := docker.New(c.Context, store); derr == nil && docker.Available(c.Context) == nil {
					if names, _ := d.Clusters(c.Context); contains(names, name) {
						cl = &topology.Cluster{Name: name, Backend: "docker"}
						err = nil
					}
				}
			}
			if err != nil {
				return withCode(exitHarness, err)
			}
			b, err := backends.Open(c.Context, cl, store)
			if err != nil {
				return withCode(exitHarness, err)
			}
			// Removal goes on after Ctrl-C: a half-removed cluster helps no one.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 2*time.Minute)
			defer cancel()
			start := time.Now()
			if err := b.Down(ctx, cl); err != nil {
				return withCode(exitHarness, err)
			}
			fmt.Fprintf(c.App.Writer, "cluster %s removed (%d nodes, %s backend) in %s\n", name, len(cl.Nodes), cl.Backend, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
