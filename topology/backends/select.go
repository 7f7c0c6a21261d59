package backends

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis-harness/harness/topology/local"
)

// Names lists the names --backend accepts: a backend added here (topology/ssh)
// is one more name and one more case in Select.
var Names = []string{"auto", "docker", "local"}

// Select returns the backend named by --backend. "auto" chooses docker
// when an engine answers and local otherwise; why says which and why, for the
// first line of output.
func Select(ctx context.Context, name string, store topology.Store) (b topology.Backend, why string, err error) {
	switch name {
	case "auto", "":
		if derr := docker.Available(ctx); derr == nil {
			d, err := docker.New(ctx, store)
			if err != nil {
				return nil, "", err
			}
			return d, "backend: docker (auto: the docker engine answers)", nil
		} else {
			l, err := local.New(store)
			if err != nil {
				return nil, "", fmt.Errorf("--backend auto: no docker engine (%v) and %w", derr, err)
			}
			return l, fmt.Sprintf("backend: local (auto: %v)", derr), nil
		}
	case "docker":
		if err := docker.Available(ctx); err != nil {
			return nil, "", fmt.Errorf("--backend docker: %w (start the docker engine, or use --backend local)", err)
		}
		d, err := docker.New(ctx, store)
		if err != nil {
			return nil, "", err
		}
		return d, "backend: docker", nil
	case "local":
		l, err := local.New(store)
		if err != nil {
			return nil, "", err
		}
		return l, "backend: local", nil
	}
	return nil, "", fmt.Errorf("--backend %q: want auto, docker or local", name)
}

// Open returns the backend that made c.
func Open(ctx context.Context, c *topology.Cluster, store topology.Store) (topology.Backend, error) {
	b, _, err := Select(ctx, c.Backend, store)
	if err != nil {
		return nil, fmt.Errorf("cluster %s was made by the %s backend: %w", c.Name, c.Backend, err)
	}
	return b, nil
}
