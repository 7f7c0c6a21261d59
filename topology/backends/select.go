package backends

import (
	"context"
	"fmt"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis-harness/harness/topology/local"
	"github.com/redis-harness/harness/topology/ssh"
)

// Names lists the names --backend accepts: a backend added here is one
// more name and one more case in SelectWith.
var Names = []string{"auto", "docker", "local", "ssh"}

// Options are what some backends need besides their name.
type Options struct {
	// Hosts is the hosts file (--hosts) the ssh backend places nodes on.
	Hosts string
}

// Select returns the backend named by --backend. "auto" chooses docker
// when an engine answers and local otherwise; why says which and why, for the
// first line of output.
func Select(ctx context.Context, name string, store topology.Store) (b topology.Backend, why string, err error) {
	return SelectWith(ctx, name, store, Options{})
}

// SelectWith is Select with the options a backend may need (ssh: Hosts).
func SelectWith(ctx context.Context, name string, store topology.Store, o Options) (b topology.Backend, why string, err error) {
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
	case "ssh":
		if o.Hosts == "" {
			return nil, "", fmt.Errorf("--backend ssh needs --hosts FILE (or HARNESS_HOSTS): the hosts file says which machines run the nodes and how to log in (see README, \"The ssh backend\")")
		}
		inv, err := ssh.LoadInventory(o.Hosts)
		if err != nil {
			return nil, "", fmt.Errorf("--hosts %s: %w", o.Hosts, err)
		}
		s, err := ssh.New(store, inv)
		if err != nil {
			return nil, "", err
		}
		why := fmt.Sprintf("backend: ssh (%d hosts from %s)", len(inv.Hosts), o.Hosts)
		if inv.SSH.InsecureIgnoreHostKey {
			why += "; host keys NOT checked (insecure_ignore_host_key)"
		}
		return s, why, nil
	}
	return nil, "", fmt.Errorf("--backend %q: want auto, docker, local or ssh", name)
}

// Open returns the backend that made c.
func Open(ctx context.Context, c *topology.Cluster, store topology.Store) (topology.Backend, error) {
	if c.Backend == "ssh" { // its hosts are in its record
		return ssh.Open(store, c)
	}
	b, _, err := Select(ctx, c.Backend, store)
	if err != nil {
		return nil, fmt.Errorf("cluster %s was made by the %s backend: %w", c.Name, c.Backend, err)
	}
	return b, nil
}
