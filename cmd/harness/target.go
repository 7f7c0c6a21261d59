package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/redis-harness/harness/topology"
	"github.com/urfave/cli/v2"
)

func defaultStateDir() string { return topology.DefaultStateDir() }

func openStore(c *cli.Context) topology.Store {
	return topology.Store{Dir: c.String("state-dir")}
}

var (
	nameFlag = &cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "a cluster the harness made (harness cluster list)", EnvVars: []string{"HARNESS_CLUSTER"}}
	addrFlag = &cli.StringFlag{Name: "addr", Aliases: []string{"a"}, Usage: "HOST:PORT of any node of a reachable cluster", EnvVars: []string{"HARNESS_ADDR"}}
	jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}
)

// target is the cluster a command works on: one the harness made (--name) or
// any reachable one (--addr).
type target struct {
	name, backend string
	cluster       *topology.Cluster // nil for --addr
	addrs         []string
	admin         *topology.Admin
	expect        topology.Expect
}

func (t *target) close() { t.admin.Close() }

// names maps node addresses to the backend's node names.
func (t *target) names() map[string]string {
	if t.cluster == nil {
		return nil
	}
	return nodeNames(t.cluster)
}

// snapshot re-reads the cluster's members (they change with add/remove and
// failovers) and takes a snapshot of them all.
func (t *target) snapshot(ctx context.Context) *topology.Snapshot {
	addrs := t.addrs
	if t.cluster == nil {
		if found, err := t.admin.Discover(ctx, t.addrs[0]); err == nil {
			addrs = found
		}
	}
	return t.admin.Snapshot(ctx, addrs)
}

func resolveTarget(c *cli.Context) (*target, error) {
	name, addr := c.String("name"), c.String("addr")
	switch {
	case name != "" && addr != "":
		return nil, usageErr("%s: give --name or --addr, not both", c.Command.FullName())
	case name == "" && addr == "":
		return nil, usageErr("%s: say which cluster with --name NAME (one the harness made) or --addr HOST:PORT (any reachable node)", c.Command.FullName())
	}
	t := &target{admin: topology.NewAdmin(), expect: topology.Expect{Replicas: 1}}
	if name != "" {
		cl, err := openStore(c).Load(name)
		if err != nil {
			return nil, withCode(exitHarness, err)
		}
		t.name, t.backend, t.cluster, t.addrs = cl.Name, cl.Backend, cl, cl.Addrs()
		t.expect = topology.Expect{Replicas: cl.Spec.Replicas}
		return t, nil
	}
	if !strings.Contains(addr, ":") {
		return nil, usageErr("--addr %q: want HOST:PORT, e.g. 127.0.0.1:7000", addr)
	}
	addrs, err := t.admin.Discover(c.Context, addr)
	if err != nil {
		t.close()
		return nil, withCode(exitHarness, fmt.Errorf("--addr %s: %w", addr, err))
	}
	t.backend, t.addrs = "external", addrs
	if c.IsSet("replicas") {
		t.expect.Replicas = c.Int("replicas")
	}
	return t, nil
}

// printJSON writes v indented, one document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// info is where progress and informational lines go: stderr when stdout
// carries JSON, so that the JSON stays parseable.
func info(c *cli.Context) io.Writer {
	if c.Bool("json") {
		return c.App.ErrWriter
	}
	return c.App.Writer
}

// parseConfig reads repeated --config key=value flags.
func parseConfig(vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageErr("--config %q: want key=value, e.g. --config cluster-node-timeout=2000", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
