package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// ServerFile is the run dir's record of the server the nodes ran; results.json
// carries it as "server".
const ServerFile = "server.json"

// ServerRecord is server.json: the build the harness started and the server
// as its nodes report themselves in INFO server.
type ServerRecord struct {
	// Name is the build's name (harness servers list) or the binary's path.
	Name string `json:"name,omitempty"`
	// Server ("redis" or "valkey") and Version are what the nodes report;
	// Label is "Valkey 8.1.1", or several comma-separated when nodes differ.
	Server  string `json:"server"`
	Version string `json:"version"`
	Label   string `json:"label"`
	// Source is where the build came from: "host", "path", or the Debian
	// suite and packages.
	Source string `json:"source,omitempty"`
	// Nodes maps each node's address to its label.
	Nodes map[string]string `json:"nodes,omitempty"`
}

// ReadServer reads the run dir's server.json; false when there is none.
func ReadServer(dir string) (ServerRecord, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ServerFile))
	if err != nil {
		return ServerRecord{}, false
	}
	var r ServerRecord
	if json.Unmarshal(b, &r) != nil || r.Label == "" {
		return ServerRecord{}, false
	}
	return r, true
}
