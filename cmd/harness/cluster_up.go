package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/backends"
	"github.com/urfave/cli/v2"
)

type upOptions struct {
	spec       topology.Spec
	backend    string
	hosts      string
	timeout    time.Duration
	json       bool
	keepFailed bool
}

func clusterUpCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "start nodes on a backend and form them into a healthy cluster",
		UsageText: "harness cluster up --name demo [--backend auto|docker|local|ssh] [--hosts FILE] [--masters 3] [--replicas 1] [--server valkey-8.1.1] [--config cluster-node-timeout=2000 …] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "name of the new cluster", Required: true, EnvVars: []string{"HARNESS_CLUSTER"}},
			&cli.StringFlag{Name: "backend", Usage: "auto (docker when an engine answers, else local), docker, local or ssh (needs --hosts)", Value: "auto", EnvVars: []string{"HARNESS_BACKEND"}},
			hostsFlag,
			&cli.IntFlag{Name: "masters", Usage: "number of masters (at least 3)", Value: 3},
			&cli.IntFlag{Name: "replicas", Usage: "replicas per master (0 to 3)", Value: 1},
			&cli.StringFlag{Name: "image", Usage: "node image for the docker backend (default: redis-harness-node:<version>, built here when missing)", EnvVars: []string{"HARNESS_IMAGE"}},
			serverFlag,
			&cli.StringSliceFlag{Name: "config", Usage: "node config override key=value (repeatable), e.g. cluster-node-timeout=2000"},
			&cli.StringFlag{Name: "subnet", Usage: "docker network subnet (default: a free /24 in 172.30.0.0/16)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long the cluster may take to become healthy", Value: 60 * time.Second},
			&cli.BoolFlag{Name: "keep-failed", Usage: "keep the nodes when the cluster never becomes healthy, to inspect them"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			cfg, err := parseConfig(c.StringSlice("config"))
			if err != nil {
				return err
			}
			o := upOptions{
				spec: topology.Spec{
					Name: c.String("name"), Masters: c.Int("masters"), Replicas: c.Int("replicas"),
					Image: c.String("image"), Config: cfg, Subnet: c.String("subnet"),
				},
				backend: c.String("backend"), hosts: c.String("hosts"), timeout: c.Duration("timeout"),
				json: c.Bool("json"), keepFailed: c.Bool("keep-failed"),
			}
			if o.backend == "ssh" && o.hosts == "" {
				return usageErr("--backend ssh needs --hosts FILE (or HARNESS_HOSTS): the machines the nodes run on and how to log in (see README, \"The ssh backend\")")
			}
			if err := o.spec.Validate(); err != nil {
				return withCode(exitHarness, err)
			}
			if c.String("server") != "" && o.spec.Image != "" {
				return usageErr("--server %s and --image %s: give one (the image of a fetched build is made from it)", c.String("server"), o.spec.Image)
			}
			if o.spec.Image == "" {
				srv, err := resolveServer(c, c.String("server"))
				if err != nil {
					return err
				}
				o.spec.Server = &srv
			}
			if o.timeout <= 0 {
				return usageErr("--timeout %s: want a positive duration, e.g. 60s", o.timeout)
			}
			return clusterUp(c, o)
		},
	}
}

func clusterUp(c *cli.Context, o upOptions) error {
	ctx := c.Context
	out := info(c)
	store := openStore(c)
	if _, err := store.Load(o.spec.Name); err == nil {
		return usageErr("cluster %q already exists (harness cluster down --name %s removes it)", o.spec.Name, o.spec.Name)
	}
	b, why, err := backends.SelectWith(ctx, o.backend, store, backends.Options{Hosts: o.hosts})
	if err != nil {
		return withCode(exitHarness, err)
	}
	fmt.Fprintln(out, why)
	if s := o.spec.Server; s != nil {
		fmt.Fprintf(out, "server: %s (%s, %s)\n", s.Label(), s.Name, s.Source)
	}
	if o.spec.Replicas < 1 {
		fmt.Fprintf(c.App.ErrWriter, "warning: --replicas %d is below the production minimum of 3 masters + 3 replicas: a master that fails loses its slots\n", o.spec.Replicas)
	}
	start := time.Now()
	fmt.Fprintf(out, "starting %d nodes (%d masters, %d replica(s) each)…\n", o.spec.Nodes(), o.spec.Masters, o.spec.Replicas)
	cl, err := b.Up(ctx, o.spec)
	if err != nil {
		return withCode(exitHarness, fmt.Errorf("cluster up %s: %w", o.spec.Name, err))
	}
	admin := topology.NewAdmin()
	defer admin.Close()
	plan, err := topology.PlanCreate(cl.Nodes, o.spec.Masters, o.spec.Replicas)
	var snap *topology.Snapshot
	if err == nil {
		fmt.Fprintf(out, "nodes up in %s; forming the cluster…\n", time.Since(start).Round(time.Millisecond))
		snap, err = admin.Create(ctx, plan, o.timeout)
	}
	if err != nil {
		if o.keepFailed && ctx.Err() == nil {
			return withCode(exitHarness, fmt.Errorf("cluster up %s: %w\n(kept: inspect it with harness cluster status --name %s, remove it with harness cluster down --name %s)", o.spec.Name, err, o.spec.Name, o.spec.Name))
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := b.Down(cctx, cl); derr != nil {
			err = fmt.Errorf("%w; and removing its nodes failed: %v", err, derr)
		}
		return withCode(exitHarness, fmt.Errorf("cluster up %s: %w", o.spec.Name, err))
	}
	st := topology.BuildStatus(snap, cl.Name, cl.Backend, topology.Expect{Masters: o.spec.Masters, Replicas: o.spec.Replicas}, nodeNames(cl))
	admin.Describe(ctx, &st, topology.LagWithin)
	if o.json {
		return printJSON(c.App.Writer, st)
	}
	fmt.Fprintf(out, "cluster %s is healthy after %s\n", cl.Name, time.Since(start).Round(time.Millisecond))
	printStatus(out, st)
	return nil
}

func nodeNames(cl *topology.Cluster) map[string]string {
	m := map[string]string{}
	for _, n := range cl.Nodes {
		m[n.Addr] = n.Name
	}
	return m
}
