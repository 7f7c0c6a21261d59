package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Inventory is a hosts file (--hosts hosts.yaml): how to reach the
// machines over SSH, and which machines they are.
//
//	ssh: {user: root, port: 22, key: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts}
//	hosts:
//	  - {addr: 10.0.0.11}
//	  - {addr: 10.0.0.12, ssh_port: 2222}
type Inventory struct {
	SSH   Login  `yaml:"ssh"`
	Hosts []Host `yaml:"hosts"`
	// Path is the file it was read from ("" when made in code).
	Path string `yaml:"-"`
}

// Login is how the harness logs in to every host.
type Login struct {
	// User to log in as (default: root).
	User string `yaml:"user"`
	// Port is the SSH port of hosts that give none (default 22).
	Port int `yaml:"port"`
	// Key is a private key file; with none, the agent at SSH_AUTH_SOCK.
	Key string `yaml:"key"`
	// KnownHosts is the known_hosts file host keys are checked against
	// (default ~/.ssh/known_hosts).
	KnownHosts string `yaml:"known_hosts"`
	// InsecureIgnoreHostKey turns host-key checking off: for throwaway
	// machines only, and said in the run's log.
	InsecureIgnoreHostKey bool `yaml:"insecure_ignore_host_key"`
}

// Host is one machine: nodes placed on it bind and announce Addr.
type Host struct {
	Addr    string `yaml:"addr"`
	SSHPort int    `yaml:"ssh_port"`
	// line is the host's line in the file, for messages.
	line int
}

// Endpoint is host's SSH address, host:port.
func (inv *Inventory) Endpoint(h Host) string {
	port := h.SSHPort
	if port == 0 {
		port = inv.SSH.Port
	}
	return net.JoinHostPort(h.Addr, strconv.Itoa(port))
}

// where names a line of the inventory for a message.
func (inv *Inventory) where(line int) string {
	name := inv.Path
	if name == "" {
		name = "hosts"
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", name, line)
	}
	return name
}

// LoadInventory reads and checks a hosts file. Errors name the file and
// line and say what to write instead.
func LoadInventory(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	inv, err := ParseInventory(b, path)
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// ParseInventory parses a hosts file's text; path names it in messages
// and is where relative key paths are taken from.
func ParseInventory(b []byte, path string) (*Inventory, error) {
	inv := &Inventory{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(inv); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty: want 'ssh:' and 'hosts:' (see README)", inv.where(0))
		}
		return nil, fmt.Errorf("%s: %s (known fields: ssh.user, ssh.port, ssh.key, ssh.known_hosts, ssh.insecure_ignore_host_key, hosts[].addr, hosts[].ssh_port)", inv.where(0), strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(b, &doc) // it decoded above; this is for line numbers
	lines := hostLines(&doc)
	for i := range inv.Hosts {
		if i < len(lines) {
			inv.Hosts[i].line = lines[i]
		}
	}
	if err := inv.check(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return inv, nil
}

// hostLines is the line of each entry of the document's "hosts" list.
func hostLines(doc *yaml.Node) []int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "hosts" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}

// check fills defaults and says what is wrong. base is the directory
// relative key and known_hosts paths are taken from.
func (inv *Inventory) check(base string) error {
	if inv.SSH.User == "" {
		inv.SSH.User = "root"
	}
	if inv.SSH.Port == 0 {
		inv.SSH.Port = 22
	}
	if inv.SSH.Port < 1 || inv.SSH.Port > 65535 {
		return fmt.Errorf("%s: ssh.port %d: want 1 to 65535", inv.where(0), inv.SSH.Port)
	}
	var err error
	if inv.SSH.Key, err = expandPath(inv.SSH.Key, base); err != nil {
		return fmt.Errorf("%s: ssh.key: %w", inv.where(0), err)
	}
	if !inv.SSH.InsecureIgnoreHostKey {
		if inv.SSH.KnownHosts == "" {
			inv.SSH.KnownHosts = "~/.ssh/known_hosts"
		}
		if inv.SSH.KnownHosts, err = expandPath(inv.SSH.KnownHosts, base); err != nil {
			return fmt.Errorf("%s: ssh.known_hosts: %w", inv.where(0), err)
		}
	}
	if len(inv.Hosts) == 0 {
		return fmt.Errorf("%s: no hosts: list them under 'hosts:', e.g. - {addr: 10.0.0.11}", inv.where(0))
	}
	seen := map[string]int{}
	for i, h := range inv.Hosts {
		at := inv.where(h.line)
		if h.Addr == "" {
			return fmt.Errorf("%s: host %d has no addr: give the address its nodes bind and announce, e.g. {addr: 10.0.0.11}", at, i+1)
		}
		if net.ParseIP(h.Addr) == nil {
			return fmt.Errorf("%s: host addr %q: want an IP address (nodes announce it to clients and to each other)", at, h.Addr)
		}
		if h.SSHPort < 0 || h.SSHPort > 65535 {
			return fmt.Errorf("%s: host %s: ssh_port %d: want 1 to 65535", at, h.Addr, h.SSHPort)
		}
		ep := inv.Endpoint(h)
		if j, dup := seen[ep]; dup {
			return fmt.Errorf("%s: host %s is listed twice (also host %d)", at, ep, j+1)
		}
		seen[ep] = i
	}
	return nil
}

// expandPath makes ~/ and relative paths absolute.
func expandPath(p, base string) (string, error) {
	if p == "" {
		return "", nil
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: no home directory to expand ~ in: %w", p, err)
		}
		return filepath.Join(home, p[1:]), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", errors.New(p + ": ~user paths are not expanded; give the full path")
	}
	if !filepath.IsAbs(p) && base != "" {
		return filepath.Join(base, p), nil
	}
	return p, nil
}
