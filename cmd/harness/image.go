package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "the docker node image",
		Subcommands: []*cli.Command{{
			Name:  "build",
			Usage: "build the node image locally from this machine's redis-server (no registry needed)",
			Description: "Builds redis-harness-node:<version> FROM scratch with /usr/bin/redis-server, redis-cli and\n" +
				"the libraries they link. cluster up and run build it by themselves when it is missing.",
			UsageText: "harness image build [--tag redis-harness-node:7.0.15]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "tag", Usage: "image tag (default: redis-harness-node:<redis-server version>)"},
			},
			Action: func(c *cli.Context) error {
				tag := c.String("tag")
				if tag == "" {
					var err error
					if tag, err = topology.DefaultImage(); err != nil {
						return withCode(exitHarness, err)
					}
				}
				if err := topology.DockerAvailable(c.Context); err != nil {
					return withCode(exitHarness, fmt.Errorf("image build: %w", err))
				}
				d, err := topology.NewDocker(c.Context, openStore(c))
				if err != nil {
					return withCode(exitHarness, err)
				}
				defer d.Close()
				start := time.Now()
				if err := d.BuildImage(c.Context, tag, c.App.ErrWriter); err != nil {
					return withCode(exitHarness, fmt.Errorf("image build %s: %w", tag, err))
				}
				fmt.Fprintf(c.App.Writer, "built %s in %s\n", tag, time.Since(start).Round(time.Millisecond))
				return nil
			},
		}},
	}
}
