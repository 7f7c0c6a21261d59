package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis-harness/harness/topology/backends"
	"github.com/redis-harness/harness/topology/ssh"
	"github.com/urfave/cli/v2"
)

// cleanupCommand is `harness cleanup`: after a harness was killed (SIGKILL
// skips every deferred heal and teardown), it removes what the harness
// left: containers, networks, node processes, iptables chains, records.
func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "remove everything a killed harness left behind (containers, networks, node processes, iptables chains, records)",
		UsageText: "harness cleanup [--dry-run] [--name CLUSTER] [--store DIR] [--hosts FILE] [--json]\n\n" +
			"Only what carries the harness's labels (io.redis-harness.managed=true), chain names (RH-…)\n" +
			"or state dir is touched, but all of it: clusters made with cluster up included, and the\n" +
			"state/ dirs killed runs left in the run store (--store). A run in\n" +
			"progress holds its cluster, and cleanup leaves a held cluster alone (it says so); a run\n" +
			"killed with SIGKILL holds nothing. Narrow it with --name. With --hosts, the ssh backend's\n" +
			"hosts are cleaned too: servers, netem agents and dirs under " + ssh.Root + ", iptables chains.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed, remove nothing", EnvVars: []string{"HARNESS_DRY_RUN"}},
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "only this cluster's resources", EnvVars: []string{"HARNESS_CLUSTER"}},
			&cli.StringFlag{Name: "store", Usage: "the run store whose runs' leftover state/ dirs (node data of killed runs) are removed too", Value: "store", EnvVars: []string{"HARNESS_STORE"}},
			hostsFlag,
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			opts := backends.CleanupOptions{DryRun: c.Bool("dry-run"), Cluster: c.String("name"), RunStores: []string{c.String("store")}, Hosts: c.String("hosts")}
			// Removal goes on after Ctrl-C: a half-made cleanup helps no one.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 2*time.Minute)
			defer cancel()
			rep, err := backends.CleanupWith(ctx, openStore(c), opts)
			if c.Bool("json") {
				if perr := printJSON(c.App.Writer, rep); perr != nil {
					return withCode(exitHarness, perr)
				}
			} else {
				printCleanup(c.App.Writer, rep)
			}
			return withCode(exitHarness, err)
		},
	}
}

func printCleanup(w io.Writer, rep backends.CleanupReport) {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	if rep.Empty() {
		fmt.Fprintln(w, "nothing of the harness's found: nothing to remove")
		return
	}
	for _, g := range []struct {
		what  string
		items []string
	}{
		{"container", rep.Containers}, {"network", rep.Networks}, {"process", rep.Processes},
		{"iptables chain", rep.Chains}, {"host dir", rep.Dirs}, {"cluster record", rep.Records}, {"run state", rep.RunState},
	} {
		for _, it := range g.items {
			fmt.Fprintf(w, "%s %s %s\n", verb, g.what, it)
		}
	}
}
