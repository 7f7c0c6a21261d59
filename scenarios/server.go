package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/topology"
)

// resolveServer is the server the scenario's cluster runs: its
// cluster.server, resolved against o.Servers; the host's redis-server when
// it names none (nil on docker with an image named, which says itself).
func resolveServer(ctx context.Context, s *Scenario, o Options) (*topology.Server, error) {
	if s.Cluster.Image != "" && s.Cluster.Server == "" {
		return nil, nil
	}
	dir := o.Servers
	if dir == "" {
		dir = topology.ServersDir(topology.DefaultStateDir())
	}
	srv, err := topology.Servers{Dir: dir}.Resolve(ctx, s.Cluster.Server)
	if err != nil {
		return nil, fmt.Errorf("cluster server: %w", err)
	}
	return &srv, nil
}

// identifyWithin bounds asking the nodes which server they are.
const identifyWithin = 10 * time.Second

// ranRecord is what a run's cluster ran, before the nodes are asked: the
// backend that made it (the one --backend auto chose; "external" for
// --addr), its node image and the build the harness started.
func ranRecord(c *topology.Cluster, srv *topology.Server) checker.ServerRecord {
	rec := checker.ServerRecord{Backend: "external"}
	if c != nil {
		rec.Backend, rec.Image = c.Backend, c.Spec.Image
	}
	if srv != nil {
		rec.Name, rec.Source = srv.Name, srv.Source
	}
	return rec
}

// recordServer asks every node which server it is (INFO server) and writes
// the run dir's server.json: rec (what ran, ranRecord) with the server and
// version as the nodes report themselves. It returns the label the nodes
// gave ("Valkey 8.1.1"; several, comma-separated, when they differ). When no
// node answers it still writes what ran, and says why the label is missing.
func recordServer(ctx context.Context, dir string, rec checker.ServerRecord, admin *topology.Admin, addrs []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, identifyWithin)
	defer cancel()
	rec.Nodes = map[string]string{}
	labels := map[string]bool{}
	var ids []topology.ServerIdentity
	var errs []string
	for _, a := range addrs {
		id, err := admin.Identify(ctx, a)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		rec.Nodes[a] = id.Label()
		if !labels[id.Label()] {
			labels[id.Label()] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		sort.Slice(ids, func(i, j int) bool { return ids[i].Label() < ids[j].Label() })
		rec.Server, rec.Version = ids[0].Server, ids[0].Version
		var all []string
		for _, id := range ids {
			all = append(all, id.Label())
		}
		rec.Label = strings.Join(all, ", ")
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, checker.ServerFile), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", checker.ServerFile, err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("no node said which server it is: %s", strings.Join(errs, "; "))
	}
	return rec.Label, nil
}
