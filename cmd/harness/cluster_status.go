package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func clusterStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "the operator's view: state, slots, every node's role, epoch and replication lag",
		UsageText: "harness cluster status --name demo | --addr 127.0.0.1:7000 [--json]",
		Flags:     []cli.Flag{nameFlag, addrFlag, replicasFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			t, err := resolveTarget(c)
			if err != nil {
				return err
			}
			defer t.close()
			st := topology.BuildStatus(t.snapshot(c.Context), t.name, t.backend, t.expect, t.names())
			t.admin.Describe(c.Context, &st, topology.LagWithin)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, st); err != nil {
					return withCode(exitHarness, err)
				}
			} else {
				printStatus(c.App.Writer, st)
			}
			if !anyReachable(st) {
				// As with --addr, where no node answers there is no status to
				// report: exit 3, whichever way the cluster was named.
				return withCode(exitHarness, fmt.Errorf("cluster %s: none of its %d nodes answers (stopped, or removed without cluster down?)", t.name, len(st.Nodes)))
			}
			return nil
		},
	}
}

// anyReachable reports whether at least one node of st answered.
func anyReachable(st topology.Status) bool {
	for _, n := range st.Nodes {
		if n.Reachable {
			return true
		}
	}
	return false
}

var replicasFlag = &cli.IntFlag{Name: "replicas", Usage: "replicas every master should have (default: as created, or 1 with --addr)"}

// printStatus renders a Status as the operator reads it.
func printStatus(w io.Writer, st topology.Status) {
	name := st.Name
	if name == "" {
		name = "(external)"
	}
	fmt.Fprintf(w, "cluster %s  backend %s  cluster_state:%s  healthy:%v\n", name, st.Backend, st.State, st.Healthy)
	if st.Server != "" {
		fmt.Fprintf(w, "server %s\n", st.Server)
	}
	fmt.Fprintf(w, "slots assigned %d  ok %d  pfail %d  fail %d   nodes %d known, %d ok\n",
		st.SlotsAssigned, st.SlotsOK, st.SlotsPFail, st.SlotsFail, st.NodesKnown, st.NodesOK)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDR\tNAME\tID\tROLE\tMASTER\tEPOCH\tSLOTS\tREPLICATION")
	for _, n := range st.Nodes {
		slots := "-"
		if len(n.Slots) > 0 {
			var parts []string
			for _, r := range n.Slots {
				parts = append(parts, r.String())
			}
			slots = fmt.Sprintf("%s (%d)", strings.Join(parts, ","), topology.CountSlots(n.Slots))
		}
		repl := ""
		switch {
		case !n.Reachable:
			repl = "unreachable"
		case n.Role == "replica":
			repl = "link " + n.LinkStatus
			if n.LagBytes != nil {
				repl += fmt.Sprintf(", %d bytes behind", *n.LagBytes)
			}
			if n.LagMS != nil {
				at := ""
				if n.LagMSAtLeast {
					at = "≥"
				}
				repl += fmt.Sprintf(", lag %s%d ms", at, *n.LagMS)
			}
			if n.LinkAgeSeconds != nil {
				repl += fmt.Sprintf(", last io %ds ago", *n.LinkAgeSeconds)
			}
		}
		if flags := extraFlags(n.Flags); flags != "" {
			repl = strings.TrimPrefix(repl+" ["+flags+"]", " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.Addr, dash(n.Name), shortID(n.ID), n.Role, dash(shortID(n.MasterID)), n.ConfigEpoch, slots, repl)
	}
	tw.Flush()
	if len(st.Problems) > 0 {
		fmt.Fprintf(w, "%d problems:%s\n", len(st.Problems), topology.ProblemsText(st.Problems, 50))
	}
}

// extraFlags are the flags worth showing beyond role and myself.
func extraFlags(flags []string) string {
	var out []string
	for _, f := range flags {
		switch f {
		case "myself", "master", "slave", "noflags":
		default:
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
