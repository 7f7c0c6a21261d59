package topology

import (
	"context"
	"fmt"
)

// Backends lists the names --backend accepts.
var Backends = []string{"auto", "docker", "local"}

// SelectBackend returns the backend named by --backend. "auto" chooses docker
// when an engine answers and local otherwise; why says which and why, for the
// first line of output.
func SelectBackend(ctx context.Context, name string, store Store) (b Backend, why string, err error) {
	switch name {
	case "auto", "":
		if derr := DockerAvailable(ctx); derr == nil {
			d, err := NewDocker(ctx, store)
			if err != nil {
				return nil, "", err
			}
			return d, "backend: docker (auto: the docker engine answers)", nil
		} else {
			l, err := NewLocal(store)
			if err != nil {
				return nil, "", fmt.Errorf("--backend auto: no docker engine (%v) and %w", derr, err)
			}
			return l, fmt.Sprintf("backend: local (auto: %v)", derr), nil
		}
	case "docker":
		if err := DockerAvailable(ctx); err != nil {
			return nil, "", fmt.Errorf("--backend docker: %w (start the docker engine, or use --backend local)", err)
		}
		d, err := NewDocker(ctx, store)
		if err != nil {
			return nil, "", err
		}
		return d, "backend: docker", nil
	case "local":
		l, err := NewLocal(store)
		if err != nil {
			return nil, "", err
		}
		return l, "backend: local", nil
	}
	return nil, "", fmt.Errorf("--backend %q: want auto, docker or local", name)
}

// OpenBackend returns the backend that made c.
func OpenBackend(ctx context.Context, c *Cluster, store Store) (Backend, error) {
	b, _, err := SelectBackend(ctx, c.Backend, store)
	if err != nil {
		return nil, fmt.Errorf("cluster %s was made by the %s backend: %w", c.Name, c.Backend, err)
	}
	return b, nil
}
