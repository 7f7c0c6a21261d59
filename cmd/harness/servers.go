package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func serversCommand() *cli.Command {
	return &cli.Command{
		Name:  "servers",
		Usage: "the server builds clusters can run: the host's redis-server, Redis 8 and Valkey from Debian's archive",
		Description: "A server is a value: --server NAME|PATH on cluster up, run and soak picks one (default: the\n" +
			"host's redis-server). Named builds are fetched from Debian's archive with a private apt\n" +
			"configuration under the state dir (the system's apt sources are not used), with their own\n" +
			"loader and libraries, so they run on any Linux machine and in FROM-scratch docker images.",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "the known builds, where each comes from, and which are fetched",
				UsageText: "harness servers list [--json]",
				Flags:     []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					entries := serversOf(c).List(c.Context)
					if c.Bool("json") {
						return printJSON(c.App.Writer, entries)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tSTATUS\tFROM\tPACKAGES")
					for _, e := range entries {
						status := "not fetched"
						switch {
						case e.Fetched && e.Host:
							status = "host (" + e.Server.Bin + ")"
						case e.Fetched:
							status = "fetched"
						case e.Problem != "":
							status = "unusable: " + e.Problem
						}
						from := "Debian " + e.Suite
						pkgs := e.Package
						if e.Host {
							from = "this machine (Debian " + e.Suite + ")"
						} else if len(e.Libs) > 0 {
							pkgs += " + " + e.LibSuite + ": " + strings.Join(e.Libs, " ")
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, status, from, pkgs)
					}
					return tw.Flush()
				},
			},
			{
				Name:  "fetch",
				Usage: "download named builds from Debian's archive into the state dir and prove them with --version",
				Description: "Downloads the build's packages with apt-get (a private sources list, lists and cache under\n" +
					"<state-dir>/servers/apt), extracts them under <state-dir>/servers/<name>, checks that every\n" +
					"library the server loads is among them, and runs its --version: a build that reports\n" +
					"another version than its name is an error. A build already fetched is not fetched again.",
				UsageText: "harness servers fetch NAME… [--force] [--mirror URL]",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "force", Usage: "fetch again builds already fetched"},
					&cli.StringFlag{Name: "mirror", Usage: "the Debian archive (default: the one this machine's apt sources name, else http://deb.debian.org/debian)", EnvVars: []string{"HARNESS_DEBIAN_MIRROR"}},
				},
				Action: func(c *cli.Context) error {
					names := splitList(c.Args().Slice())
					if len(names) == 0 {
						return usageErr("servers fetch: name the builds to fetch (harness servers list shows them)")
					}
					sv := serversOf(c)
					sv.Mirror = c.String("mirror")
					for _, name := range names {
						start := time.Now()
						s, err := sv.Fetch(c.Context, name, topology.FetchOptions{Force: c.Bool("force"), Progress: c.App.ErrWriter})
						if err != nil {
							return withCode(exitHarness, err)
						}
						fmt.Fprintf(c.App.Writer, "%s: %s (%s) in %s [%s]\n", name, s.Label(), s.Bin, time.Since(start).Round(time.Millisecond), s.Source)
					}
					return nil
				},
			},
		},
	}
}

// serversOf is the state dir's store of fetched builds.
func serversOf(c *cli.Context) topology.Servers {
	return topology.Servers{Dir: topology.ServersDir(c.String("state-dir"))}
}

// serverFlag picks the server of a cluster or run.
var serverFlag = &cli.StringFlag{Name: "server", Usage: "the server the nodes run: a build (harness servers list; default: the host's redis-server) or the path of a server binary", EnvVars: []string{"HARNESS_SERVER"}}

// hostsFlag is the ssh backend's hosts file (README: "The ssh backend").
var hostsFlag = &cli.StringFlag{Name: "hosts", Usage: "hosts file of the ssh backend: the machines the nodes run on and how to log in (see README); with --addr, the hosts of that cluster, for kill, pause, partition and disk faults on it", EnvVars: []string{"HARNESS_HOSTS"}}

// resolveServer turns --server into the server the nodes run.
func resolveServer(c *cli.Context, nameOrPath string) (topology.Server, error) {
	s, err := serversOf(c).Resolve(c.Context, nameOrPath)
	if err != nil {
		return topology.Server{}, withCode(exitHarness, err)
	}
	return s, nil
}
