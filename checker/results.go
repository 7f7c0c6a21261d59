package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// The run directory's files whose shapes this package owns besides
// results.json: the run writes them, Judge copies them into results.json,
// the report reads them back.
const (
	// ResultsFile is results.json.
	ResultsFile = "results.json"
	// NemesisFile records what the nemesis did and how long the cluster
	// took to recover after the final heal (results.json's "nemesis").
	NemesisFile = "nemesis.json"
	// ServerFile records what ran: the backend, the image and the server as
	// the nodes report themselves (results.json's "server").
	ServerFile = "server.json"
)

// Results is results.json (DESIGN.md's run-directory contract): the one
// definition of its shape, written by the run (scenarios.Judge) and read by
// the report. Fields are only ever added, each omitted when empty, so that
// every run dir ever written still reads.
type Results struct {
	Valid    Valid                      `json:"valid"`
	Checkers map[string]json.RawMessage `json:"checkers"`
	Stats    json.RawMessage            `json:"stats"`
	// Expected is the scenario's declared expectation and whether it was met.
	Expected *Expectation `json:"expected,omitempty"`
	// Nemesis is what the nemesis did, with fault latencies and the
	// recovery time after the final heal (a run's nemesis.json).
	Nemesis *NemesisReport `json:"nemesis,omitempty"`
	// Server is what ran: the backend, the image, the server as the nodes
	// report themselves (a run's server.json).
	Server *ServerRecord `json:"server,omitempty"`
	// Interrupted is set, with the reason, for a run that stopped early:
	// its verdict is then "unknown", whatever its checkers found.
	Interrupted       bool   `json:"interrupted,omitempty"`
	InterruptedReason string `json:"interrupted_reason,omitempty"`
}

// Expectation is results.json's "expected": what each checker should
// conclude (checkers not named must be valid) and what did not hold.
type Expectation struct {
	Checkers map[string]bool `json:"checkers"`
	Met      bool            `json:"met"`
	Failures []string        `json:"failures"`
}

// NemesisReport is results.json's "nemesis" (and nemesis.json): every action
// with the time it took effect (latency from its schedule), its heal, and
// the recovery time from the final heal to the health gate.
type NemesisReport struct {
	Actions []FaultResult `json:"actions"`
	// RecoveryS is the time from the end of the final heal until the
	// health gate passed (or gave up: Healthy false).
	RecoveryS float64 `json:"recovery_s"`
	Healthy   bool    `json:"healthy"`
	// MaxLatencyMS is the largest schedule → in-effect latency.
	MaxLatencyMS float64 `json:"max_latency_ms"`
}

// FaultResult is what became of one action of the nemesis's timeline, as
// results.json records it: the shape of nemesis.Result, which the run
// copies into it (checker reads run dirs without importing the nemesis).
// Times are history times: ns since the run started.
type FaultResult struct {
	Action FaultAction `json:"action"`
	// Fault describes the fault once in effect; Nodes are the nodes it touched.
	Fault string   `json:"fault,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Scheduled is when it was due, Started when its inject began, Effect
	// when it was in effect (0 if it never was), Latency Effect − Scheduled.
	Scheduled int64         `json:"scheduled_ns"`
	Started   int64         `json:"started_ns,omitempty"`
	Effect    int64         `json:"effect_ns,omitempty"`
	Latency   time.Duration `json:"latency_ns,omitempty"`
	// Error says why it did not take effect.
	Error string `json:"error,omitempty"`
	// Healed is when its heal ended, HealTook how long it took, HealError
	// why it failed.
	Healed    int64         `json:"healed_ns,omitempty"`
	HealTook  time.Duration `json:"heal_took_ns,omitempty"`
	HealError string        `json:"heal_error,omitempty"`
}

// FaultAction is one action of the timeline as the scenario asked for it
// (nemesis.Action's shape).
type FaultAction struct {
	At     time.Duration     `json:"at"`
	For    time.Duration     `json:"for,omitempty"`
	Do     string            `json:"do"`
	Target string            `json:"target,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// ServerRecord is server.json (results.json's "server"): what ran — the
// backend the run chose (docker or local, also under --backend auto;
// "external" for --addr), the node image, the build the harness started —
// and the server as its nodes report themselves in INFO server.
type ServerRecord struct {
	// Backend is the backend that made the cluster, and Image the node
	// image it ran (docker only); empty in run dirs written before they
	// were recorded.
	Backend string `json:"backend,omitempty"`
	Image   string `json:"image,omitempty"`
	// Name is the build's name (harness servers list) or the binary's path.
	Name string `json:"name,omitempty"`
	// Server ("redis" or "valkey") and Version are what the nodes report;
	// Label is "Valkey 8.1.1", or several comma-separated when nodes
	// differ; empty when no node said.
	Server  string `json:"server"`
	Version string `json:"version"`
	Label   string `json:"label"`
	// Source is where the build came from: "host", "path", or the Debian
	// suite and packages.
	Source string `json:"source,omitempty"`
	// Nodes maps each node's address to its label.
	Nodes map[string]string `json:"nodes,omitempty"`
}

// ReadServer reads the run dir's server.json; false when there is none or
// it records neither a server nor a backend.
func ReadServer(dir string) (ServerRecord, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ServerFile))
	if err != nil {
		return ServerRecord{}, false
	}
	var r ServerRecord
	if json.Unmarshal(b, &r) != nil || r.Label == "" && r.Backend == "" {
		return ServerRecord{}, false
	}
	return r, true
}
