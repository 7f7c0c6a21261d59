package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/redis-harness/harness/topology/docker"
	"github.com/urfave/cli/v2"
)

// listEntry is one line of `cluster list`.
type listEntry struct {
	Name    string `json:"name"`
	Backend string `json:"backend"`
	Nodes   int    `json:"nodes"`
	Masters int    `json:"masters"`
	Seed    string `json:"addr"`
	// Orphan marks docker resources with the harness's labels but no record.
	Orphan bool `json:"orphan,omitempty"`
}

func clusterListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the clusters the harness made",
		UsageText: "harness cluster list [--json]",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			store := openStore(c)
			clusters, err := store.List()
			if err != nil {
				return withCode(exitHarness, err)
			}
			entries := []listEntry{}
			known := map[string]bool{}
			for _, cl := range clusters {
				known[cl.Name] = true
				e := listEntry{Name: cl.Name, Backend: cl.Backend, Nodes: len(cl.Nodes), Masters: cl.Spec.Masters}
				if len(cl.Nodes) > 0 {
					e.Seed = cl.Nodes[0].Addr
				}
				entries = append(entries, e)
			}
			if docker.Available(c.Context) == nil {
				if d, err := docker.New(c.Context, store); err == nil {
					names, _ := d.Clusters(c.Context)
					for _, n := range names {
						if !known[n] {
							entries = append(entries, listEntry{Name: n, Backend: "docker", Orphan: true})
						}
					}
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, entries)
			}
			if len(entries) == 0 {
				fmt.Fprintf(c.App.Writer, "no clusters (state dir %s); harness cluster up --name NAME makes one\n", store.Dir)
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tBACKEND\tNODES\tMASTERS\tADDR")
			for _, e := range entries {
				if e.Orphan {
					fmt.Fprintf(w, "%s\t%s\t?\t?\t(containers without a record: harness cluster down --name %s removes them)\n", e.Name, e.Backend, e.Name)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", e.Name, e.Backend, e.Nodes, e.Masters, e.Seed)
			}
			return w.Flush()
		},
	}
}
