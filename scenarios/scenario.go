package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/nemesis"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/workloads"
	"gopkg.in/yaml.v3"
)

// Scenario is a scenario file: what cluster, what clients, for how long, and
// what the run should find. Zero values mean defaults (Resolve fills them).
type Scenario struct {
	// Name names the scenario; runs are stored under store/<name>/.
	Name string `yaml:"name"`
	// Description is the one line `harness scenarios list` shows.
	Description string `yaml:"description"`
	// Backend is auto, docker, local or ssh (overridden by --backend; ssh
	// needs --hosts).
	Backend string `yaml:"backend,omitempty"`
	// Cluster is the cluster's shape and node config.
	Cluster ClusterSpec `yaml:"cluster"`
	// TimeLimit is how long the clients run.
	TimeLimit time.Duration `yaml:"time_limit"`
	// Seed fixes every random choice of the run; 0 means pick one (and
	// record it in the run's scenario.yaml, so the run can be repeated).
	Seed int64 `yaml:"seed,omitempty"`
	// Client is the workload mix and the client's settings.
	Client workloads.Config `yaml:"client"`
	// Nemesis is the fault schedule: Jepsen-style faults and an interval,
	// or an explicit timeline. The resolved scenario holds the timeline.
	Nemesis nemesis.Spec `yaml:"nemesis,omitempty"`
	// Check configures the checkers.
	Check CheckSpec `yaml:"check"`
	// Expect declares the verdict each checker should reach, e.g.
	// {set: false} for a scenario that must find lost writes; checkers not
	// named must be valid.
	Expect map[string]bool `yaml:"expect,omitempty"`
}

// ClusterSpec is the cluster part of a scenario.
type ClusterSpec struct {
	Masters  int    `yaml:"masters"`
	Replicas int    `yaml:"replicas"`
	Image    string `yaml:"image,omitempty"`
	// Server is the server the nodes run: a build's name (harness servers
	// list) or a server binary's path; empty is the host's redis-server.
	Server string            `yaml:"server,omitempty"`
	Config map[string]string `yaml:"config,omitempty"`
	// HealthTimeout bounds waiting for the health gate (at start and end).
	HealthTimeout time.Duration `yaml:"health_timeout"`
}

// CheckSpec configures the checkers.
type CheckSpec struct {
	// Timeout is the linearizability checker's budget; past it the verdict is unknown.
	Timeout time.Duration `yaml:"timeout"`
	// Memory is the linearizability search's memory ceiling, a size such
	// as 4GiB or 512MiB (checker.ParseSize); past it the keys being
	// searched are unknown. Empty: the smaller of 4 GiB and half the
	// machine's memory.
	Memory string `yaml:"memory,omitempty"`
}

//go:embed files/*.yaml
var embedded embed.FS

// Load reads a scenario by embedded name or by file path, strictly: an
// unknown field is an error naming its line.
func Load(nameOrPath string) (*Scenario, error) {
	var data []byte
	var err error
	source := nameOrPath
	if strings.ContainsAny(nameOrPath, "/\\") || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		data, err = os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("scenario file: %w", err)
		}
	} else {
		data, err = embedded.ReadFile("files/" + nameOrPath + ".yaml")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no scenario %q: the embedded ones are %s (or give a path to a .yaml file)", nameOrPath, strings.Join(Names(), ", "))
		}
		if err != nil {
			return nil, err
		}
		source = "scenario " + nameOrPath
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(nameOrPath), filepath.Ext(nameOrPath))
	}
	return s, nil
}

// Parse decodes a scenario strictly and validates it.
func Parse(data []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n ", ""))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Names lists the embedded scenarios.
func Names() []string {
	entries, _ := embedded.ReadDir("files")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Source returns an embedded scenario's file text.
func Source(name string) ([]byte, error) {
	b, err := embedded.ReadFile("files/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no scenario %q: the embedded ones are %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Resolve fills every default and turns the nemesis's faults into an
// explicit timeline, so that the resolved scenario written into the run dir
// says exactly what ran and a rerun repeats it.
func (s *Scenario) Resolve() error {
	if s.Backend == "" {
		s.Backend = "auto"
	}
	if s.Cluster.Masters == 0 {
		s.Cluster.Masters = 3
	}
	if s.Cluster.HealthTimeout == 0 {
		s.Cluster.HealthTimeout = 60 * time.Second
	}
	if s.TimeLimit == 0 {
		s.TimeLimit = 30 * time.Second
	}
	if s.Check.Timeout == 0 {
		s.Check.Timeout = 60 * time.Second
	}
	s.Client = s.Client.WithDefaults()
	if s.Seed == 0 {
		s.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	s.Client.Seed = s.Seed
	if !s.Nemesis.Empty() {
		timeline, err := s.Nemesis.Resolve(s.Seed, s.TimeLimit)
		if err != nil {
			return fmt.Errorf("nemesis: %w", err)
		}
		s.Nemesis = nemesis.Spec{Timeline: timeline}
	}
	return nil
}

// Validate says what is wrong, naming the field.
func (s *Scenario) Validate() error {
	if s.Name != "" && !validScenarioName(s.Name) {
		return fmt.Errorf("name %q: use letters, digits, '-' and '_'", s.Name)
	}
	switch s.Backend {
	case "", "auto", "docker", "local", "ssh":
	default:
		return fmt.Errorf("backend %q: want auto, docker, local or ssh", s.Backend)
	}
	if s.TimeLimit < 0 {
		return fmt.Errorf("time_limit %s: want a positive duration, e.g. 30s", s.TimeLimit)
	}
	if s.Cluster.Server != "" && s.Cluster.Image != "" {
		return fmt.Errorf("cluster: server %s and image %s: give one (the image of a fetched build is made from it)", s.Cluster.Server, s.Cluster.Image)
	}
	if v := s.Cluster.Server; v != "" && !strings.Contains(v, "/") {
		if _, ok := topology.LookupServerBuild(v); !ok {
			return fmt.Errorf("cluster: server %q: not a known build (harness servers list) nor a path", v)
		}
	}
	if s.Cluster.Masters != 0 || s.Cluster.Replicas != 0 {
		spec := topology.Spec{Name: "x", Masters: s.Cluster.Masters, Replicas: s.Cluster.Replicas, Config: s.Cluster.Config}.WithDefaults()
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	if err := s.Client.Validate(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for name := range s.Expect {
		if !slices.Contains(history.Checkers(), name) {
			return fmt.Errorf("expect: %q is no checker: want some of %s", name, strings.Join(history.Checkers(), ", "))
		}
	}
	if s.Check.Memory != "" {
		if _, err := checker.ParseSize(s.Check.Memory); err != nil {
			return fmt.Errorf("check.memory: %w", err)
		}
	}
	if !s.Nemesis.Empty() {
		limit := s.TimeLimit
		if limit == 0 {
			limit = 30 * time.Second
		}
		if _, err := s.Nemesis.Resolve(1, limit); err != nil {
			return fmt.Errorf("nemesis: %w", err)
		}
	}
	return nil
}

func validScenarioName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// Marshal writes the scenario as YAML (the run dir's scenario.yaml).
func (s *Scenario) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	enc.Close()
	return buf.Bytes(), nil
}
