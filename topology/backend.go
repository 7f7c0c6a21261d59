package topology

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Backend provisions Redis nodes. It starts empty, cluster-enabled servers
// and stops them; forming them into a cluster is the job of Create, which
// speaks only Redis, so that every backend gets the same cluster.
type Backend interface {
	// Name is the backend's name as the --backend flag spells it.
	Name() string
	// Up starts spec.Masters*(1+spec.Replicas) empty nodes and returns the
	// cluster they belong to. On error, whatever was started is removed.
	Up(ctx context.Context, spec Spec) (*Cluster, error)
	// Down stops every node of c and removes everything Up made for it.
	Down(ctx context.Context, c *Cluster) error
	// AddNode starts one more empty node for c and appends it to c.Nodes.
	AddNode(ctx context.Context, c *Cluster) (Node, error)
	// RemoveNode stops the node and removes its resources and its entry in c.Nodes.
	RemoveNode(ctx context.Context, c *Cluster, name string) error
	// Logs returns the node's server log.
	Logs(ctx context.Context, c *Cluster, name string) ([]byte, error)
}

// Spec is what a cluster should look like. Zero values mean defaults.
type Spec struct {
	// Name names the cluster; everything the backend makes carries it.
	Name string `json:"name" yaml:"name"`
	// Masters is the number of masters (default 3, at least 3).
	Masters int `json:"masters" yaml:"masters"`
	// Replicas is the number of replicas of each master (0 to 3).
	Replicas int `json:"replicas" yaml:"replicas"`
	// Image is the node image (docker backend only).
	Image string `json:"image,omitempty" yaml:"image,omitempty"`
	// Server is the server every node runs (default: the host's
	// redis-server; on docker, the image made from it). Servers.Resolve
	// makes one from a --server name or path.
	Server *Server `json:"server,omitempty" yaml:"server,omitempty"`
	// Config overrides the node configuration defaults (DefaultConfig).
	Config map[string]string `json:"config,omitempty" yaml:"config,omitempty"`
	// RunID ties the cluster to a run; cleanup finds resources by it.
	RunID string `json:"run_id,omitempty" yaml:"run_id,omitempty"`
	// Subnet is the docker network's subnet (default: a free /24 in 172.30.0.0/16).
	Subnet string `json:"subnet,omitempty" yaml:"subnet,omitempty"`
}

// Nodes is the number of nodes the spec asks for.
func (s Spec) Nodes() int { return s.Masters * (1 + s.Replicas) }

// WithDefaults fills zero fields.
func (s Spec) WithDefaults() Spec {
	if s.Masters == 0 {
		s.Masters = 3
	}
	return s
}

// Validate says what is wrong with a spec, in words an operator can act on.
func (s Spec) Validate() error {
	if !validName(s.Name) {
		return fmt.Errorf("cluster name %q: use 1 to 40 letters, digits, '-' or '_', starting with a letter or digit", s.Name)
	}
	if s.Masters < 3 {
		return fmt.Errorf("--masters %d: Redis Cluster needs at least 3 masters to agree on failures", s.Masters)
	}
	if s.Masters > 100 {
		return fmt.Errorf("--masters %d: at most 100 masters on one machine", s.Masters)
	}
	if s.Replicas < 0 || s.Replicas > 3 {
		return fmt.Errorf("--replicas %d: want 0 to 3 replicas per master", s.Replicas)
	}
	for k := range s.Config {
		if k == "" || strings.ContainsAny(k, " \t\n") {
			return fmt.Errorf("--config %q: want key=value with a Redis config key", k)
		}
		if managedConfig[strings.ToLower(k)] {
			return fmt.Errorf("--config %s: the harness sets %s itself for every node", k, k)
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_') {
			return false
		}
	}
	return true
}

// DefaultConfig is the node configuration the harness uses unless overridden:
// production practice, plus repl-diskless-sync-delay 0 so that replicas sync
// at once after create instead of 5 s later.
var DefaultConfig = map[string]string{
	"cluster-node-timeout":            "5000",
	"appendonly":                      "yes",
	"appendfsync":                     "everysec",
	"cluster-require-full-coverage":   "yes",
	"cluster-replica-validity-factor": "10",
	"cluster-migration-barrier":       "1",
	"repl-diskless-sync-delay":        "0",
}

// managedConfig are the keys the backends set per node; overriding them would
// break provisioning, so Validate refuses them.
var managedConfig = map[string]bool{
	"port": true, "bind": true, "cluster-enabled": true, "cluster-config-file": true,
	"dir": true, "cluster-announce-ip": true, "bind-source-addr": true, "daemonize": true,
	"logfile": true, "pidfile": true, "protected-mode": true,
}

// NodeConfig is the full configuration of one node as ordered "key value"
// lines: the managed keys first, then defaults merged with overrides.
func NodeConfig(spec Spec, managed [][2]string) [][2]string {
	merged := map[string]string{}
	for k, v := range DefaultConfig {
		merged[k] = v
	}
	for k, v := range spec.Config {
		merged[strings.ToLower(k)] = v
	}
	out := append([][2]string{{"cluster-enabled", "yes"}, {"protected-mode", "no"}}, managed...)
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, [2]string{k, merged[k]})
	}
	return out
}

// Cluster is a set of nodes a backend made, as recorded in the state dir.
type Cluster struct {
	Name    string `json:"name"`
	Backend string `json:"backend"`
	RunID   string `json:"run_id,omitempty"`
	Spec    Spec   `json:"spec"`
	Nodes   []Node `json:"nodes"`
	// Dir is the cluster's state directory (data dirs and logs of local nodes).
	Dir string `json:"dir"`
	// Network is the docker network's name and Subnet its subnet (docker only).
	Network string `json:"network,omitempty"`
	Subnet  string `json:"subnet,omitempty"`
	// Seq numbers the nodes made so far, so added nodes get fresh names.
	Seq int `json:"seq"`
	// Hosts is the ssh backend's hosts file (its text, key paths made
	// absolute), so that down, cleanup and faults of a later harness
	// command reach the same hosts (ssh only).
	Hosts string `json:"hosts,omitempty"`
}

// Node is one server a backend made.
type Node struct {
	// Name is the backend's name of the node: "n1", "n2"…
	Name string `json:"name"`
	// Addr is host:port, reachable from the harness and announced to the cluster.
	Addr string `json:"addr"`
	// Host is the node's failure domain: replicas avoid their master's host.
	Host string `json:"host"`
	// PID is the server's process id (local and ssh backends; on ssh, on its host).
	PID int `json:"pid,omitempty"`
	// Container is the container id (docker backend).
	Container string `json:"container,omitempty"`
	// Dir is the node's data directory: on this machine (local backend),
	// on its host (ssh backend).
	Dir string `json:"dir,omitempty"`
}

// Addrs lists the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Node finds a node by backend name or address.
func (c *Cluster) Node(nameOrAddr string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == nameOrAddr || n.Addr == nameOrAddr {
			return n, true
		}
	}
	return Node{}, false
}

// NextName returns a fresh node name and advances Seq.
func (c *Cluster) NextName() string {
	c.Seq++
	return fmt.Sprintf("n%d", c.Seq)
}
