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

	"github.com/redis-harness/harness/reports"
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

// recordServer asks every node which server it is (INFO server) and writes
// the run dir's server.json: the build the harness started, and the server
// and version as the nodes report themselves. It returns the label the
// nodes gave ("Valkey 8.1.1"; several, comma-separated, when they differ).
func recordServer(ctx context.Context, dir string, srv *topology.Server, admin *topology.Admin, addrs []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, identifyWithin)
	defer cancel()
	rec := reports.ServerRecord{Nodes: map[string]string{}}
	if srv != nil {
		rec.Name, rec.Source = srv.Name, srv.Source
	}
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
	if len(ids) == 0 {
		return "", fmt.Errorf("no node said which server it is: %s", strings.Join(errs, "; "))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Label() < ids[j].Label() })
	rec.Server, rec.Version = ids[0].Server, ids[0].Version
	var all []string
	for _, id := range ids {
		all = append(all, id.Label())
	}
	rec.Label = strings.Join(all, ", ")
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, reports.ServerFile), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", reports.ServerFile, err)
	}
	return rec.Label, nil
}
