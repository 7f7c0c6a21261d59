package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/redis-harness/harness/topology"
)

// Leftovers are the harness's containers and networks a cleanup found on
// the engine, as "name (cluster c)", and what it left alone, saying why.
type Leftovers struct {
	Containers []string
	Networks   []string
	Skipped    []string
}

// Cleanup removes the containers and networks labelled
// io.redis-harness.managed=true (of cluster only, when it is not empty;
// nothing when dryRun), but those of a cluster a live run holds
// (topology.Held). ok is false when no engine could be asked; an engine
// that does not answer is no error, only a skip.
func Cleanup(ctx context.Context, store topology.Store, cluster string, dryRun bool) (left Leftovers, ok bool, err error) {
	rep := &left
	if err := Available(ctx); err != nil {
		rep.Skipped = append(rep.Skipped, "docker: "+err.Error())
		return left, false, nil
	}
	d, err := New(ctx, store)
	if err != nil {
		return left, false, fmt.Errorf("cleanup: %w", err)
	}
	defer d.Close()
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if cluster != "" {
		f.Add("label", LabelCluster+"="+cluster)
	}
	conts, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return left, false, fmt.Errorf("cleanup: list containers: %w", err)
	}
	// A cluster a live run holds is left alone, its network too.
	held := map[string]bool{} // cluster names
	isHeld := func(labels map[string]string) bool {
		name, dir := labels[LabelCluster], labels[LabelDir]
		if held[name] {
			return true
		}
		if dir == "" || !topology.Held(dir) {
			return false
		}
		held[name] = true
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("cluster %s (%s): in use by a running harness, not touched", name, dir))
		return true
	}
	ids := map[string]string{}
	for _, ct := range conts {
		if isHeld(ct.Labels) {
			continue
		}
		ids[ct.ID] = dockerContainerName(ct)
		rep.Containers = append(rep.Containers, fmt.Sprintf("%s (cluster %s)", dockerContainerName(ct), ct.Labels[LabelCluster]))
	}
	sort.Strings(rep.Containers)
	var errs []error
	if !dryRun {
		if err := d.removeContainers(ctx, ids); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: %w", err))
		}
	}
	nets, err := d.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return left, true, errors.Join(append(errs, fmt.Errorf("cleanup: list networks: %w", err))...)
	}
	for _, n := range nets {
		if isHeld(n.Labels) {
			continue
		}
		rep.Networks = append(rep.Networks, fmt.Sprintf("%s (cluster %s)", n.Name, n.Labels[LabelCluster]))
		if dryRun {
			continue
		}
		if err := d.removeNetwork(ctx, n.ID, n.Labels[LabelCluster]); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: remove network %s: %w", n.Name, err))
		}
	}
	sort.Strings(rep.Networks)
	return left, true, errors.Join(errs...)
}
