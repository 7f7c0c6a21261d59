package main

import (
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/urfave/cli/v2"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "the docker node image",
		Subcommands: []*cli.Command{{
			Name:  "build",
			Usage: "build the node image locally from this machine's redis-server or a fetched build, and the sidecar image (no registry needed)",
			Description: "Builds redis-harness-node:<version> FROM scratch with /usr/bin/redis-server, redis-cli and\n" +
				"the libraries they link; with --server NAME, redis-harness-node:<name> from that fetched build\n" +
				"(harness servers fetch NAME) with its own loader and libraries. cluster up and run build the\n" +
				"image by themselves when it is missing.\n" +
				"It also builds redis-harness-sidecar:<digest> FROM scratch from this machine's iptables and tc:\n" +
				"network faults on an engine that is not on this machine (DOCKER_HOST=tcp://…) run in it, joined\n" +
				"to each node's network namespace. Without iptables here it says so and builds the node image only.",
			UsageText: "harness image build [--server valkey-8.1.1] [--tag redis-harness-node:7.0.15]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "tag", Usage: "image tag (default: redis-harness-node:<redis-server version>, or :<name> with --server)"},
				&cli.StringFlag{Name: "server", Usage: "a fetched build to make the image from (harness servers list)"},
			},
			Action: func(c *cli.Context) error {
				tag := c.String("tag")
				var srv *topology.Server
				if name := c.String("server"); name != "" {
					s, err := resolveServer(c, name)
					if err != nil {
						return err
					}
					if s.Root != "" || s.Source == "path" {
						srv = &s
						if tag == "" {
							tag = s.Image()
						}
					}
				}
				if tag == "" {
					var err error
					if tag, err = docker.DefaultImage(); err != nil {
						return withCode(exitHarness, err)
					}
				}
				if err := docker.Available(c.Context); err != nil {
					return withCode(exitHarness, fmt.Errorf("image build: %w", err))
				}
				d, err := docker.New(c.Context, openStore(c))
				if err != nil {
					return withCode(exitHarness, err)
				}
				defer d.Close()
				start := time.Now()
				build := func() error { return d.BuildImage(c.Context, tag, c.App.ErrWriter) }
				if srv != nil {
					build = func() error { return d.BuildServerImage(c.Context, *srv, tag, c.App.ErrWriter) }
				}
				if err := build(); err != nil {
					return withCode(exitHarness, fmt.Errorf("image build %s: %w", tag, err))
				}
				fmt.Fprintf(c.App.Writer, "built %s in %s\n", tag, time.Since(start).Round(time.Millisecond))
				start = time.Now()
				sidecar, err := d.BuildSidecarImage(c.Context, c.App.ErrWriter)
				if err != nil {
					fmt.Fprintf(c.App.ErrWriter, "sidecar image not built (network faults on a remote engine need it): %v\n", err)
					return nil
				}
				fmt.Fprintf(c.App.Writer, "built %s in %s\n", sidecar, time.Since(start).Round(time.Millisecond))
				return nil
			},
		}},
	}
}
