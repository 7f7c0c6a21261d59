package topology

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/redis-harness/harness/topology/internal/flock"
	"github.com/redis-harness/harness/topology/internal/logtail"
)

// A server is a value: the host's redis-server, a named build fetched from
// Debian's packages with its own loader and libraries, or a binary given by
// path. Every backend runs whichever it is given; results name it as the
// server reports itself.

// ServerBuild is a server the harness knows how to get: from Debian's
// archive (no registry needed), or the host's own redis-server.
type ServerBuild struct {
	// Name is what --server takes: <kind>-<version>.
	Name string `json:"name"`
	// Kind is "redis" or "valkey": the prefix of its programs' names.
	Kind string `json:"kind"`
	// Version is what the server's --version must report.
	Version string `json:"version"`
	// Host marks the build that is this machine's redis-server: nothing to fetch.
	Host bool `json:"host,omitempty"`
	// Suite is the Debian suite of Package, LibSuite that of Libs.
	Suite    string `json:"suite,omitempty"`
	LibSuite string `json:"lib_suite,omitempty"`
	// Package holds the server binary (Debian ships it in the -tools
	// package, as <kind>-check-rdb, which runs as the server when started
	// under the name <kind>-server).
	Package string `json:"package,omitempty"`
	// Libs are the packages of every library the binaries load, the C
	// library and its loader included.
	Libs []string `json:"libs,omitempty"`
}

// trixieLibs are the libraries the trixie builds load (libssl3t64 loads
// zlib and zstd); Fetch proves the list complete by resolving every
// DT_NEEDED in the extracted tree.
var trixieLibs = []string{"libc6", "libssl3t64", "libjemalloc2", "liblzf1", "libatomic1", "libsystemd0", "libstdc++6", "libgcc-s1", "libcap2", "zlib1g", "libzstd1"}

// ServerBuilds are the builds `harness servers list` shows, in its order.
var ServerBuilds = []ServerBuild{
	{Name: "redis-7.0.15", Kind: "redis", Version: "7.0.15", Host: true, Suite: "bookworm", Package: "redis-server"},
	{Name: "redis-8.0.2", Kind: "redis", Version: "8.0.2", Suite: "trixie", Package: "redis-tools", LibSuite: "trixie", Libs: trixieLibs},
	{Name: "valkey-8.0.1", Kind: "valkey", Version: "8.0.1", Suite: "bookworm-backports", Package: "valkey-tools", LibSuite: "bookworm",
		Libs: []string{"libc6", "libssl3", "libjemalloc2", "liblzf1", "libatomic1", "libsystemd0", "libstdc++6", "libgcc-s1", "libcap2", "zlib1g", "libzstd1", "liblz4-1", "liblzma5", "libgcrypt20", "libgpg-error0"}},
	{Name: "valkey-8.1.1", Kind: "valkey", Version: "8.1.1", Suite: "trixie", Package: "valkey-tools", LibSuite: "trixie", Libs: trixieLibs},
}

// LookupServerBuild finds a build by name.
func LookupServerBuild(name string) (ServerBuild, bool) {
	for _, b := range ServerBuilds {
		if b.Name == name {
			return b, true
		}
	}
	return ServerBuild{}, false
}

// Server is one runnable server: how to start it and what it is. It is
// recorded in the cluster's spec, so that a node restarted or added by
// another harness process runs the same server.
type Server struct {
	// Name is the build's name, or the path the user gave.
	Name string `json:"name"`
	// Kind is "redis" or "valkey", Version the version, both as the
	// server's --version reports them.
	Kind    string `json:"kind"`
	Version string `json:"version"`
	// Bin is the server program. A fetched build's is <kind>-check-rdb,
	// started as <kind>-server through Loader.
	Bin string `json:"bin"`
	// CLI is the build's own command-line client (redis-cli, valkey-cli),
	// run the same way as the server; empty when unknown.
	CLI string `json:"cli,omitempty"`
	// Loader is the build's own dynamic loader, copied under the server's
	// name so that /proc/<pid>/exe, ps and cleanup name the server; LibDir
	// is where it finds the build's libraries. Empty for a host binary.
	Loader string `json:"loader,omitempty"`
	LibDir string `json:"lib_dir,omitempty"`
	// Root is a fetched build's extracted tree (the docker image is made
	// from it); empty for a host binary.
	Root string `json:"root,omitempty"`
	// Source says where the build came from: "host", "path", or the Debian
	// suite and server package with its version; Packages lists every
	// package of a fetched build with its version.
	Source   string   `json:"source,omitempty"`
	Packages []string `json:"packages,omitempty"`
}

// Label is "Valkey 8.1.1", "Redis 7.0.15": the server as it names itself.
func (s Server) Label() string {
	k := s.Kind
	switch k {
	case "valkey":
		k = "Valkey"
	case "redis", "":
		k = "Redis"
	}
	return k + " " + s.Version
}

// ServerName is the program name the server runs under: redis-server or valkey-server.
func (s Server) ServerName() string {
	if s.Kind == "" {
		return "redis-server"
	}
	return s.Kind + "-server"
}

// NodeImageRepo is the repository of the docker node images made from
// servers (Image).
const NodeImageRepo = "redis-harness-node"

// Image is the docker node image made from this server:
// redis-harness-node:<name> for a fetched build, redis-harness-node:<version>
// for the host's redis-server (as the docker backend's DefaultImage names
// it), redis-harness-node:path-<kind>-<version>-<hash of its path> for a
// binary given by path.
func (s Server) Image() string {
	switch {
	case s.Source == "path":
		// A binary given by path: its kind, version and where it is.
		sum := sha256.Sum256([]byte(s.Bin))
		return NodeImageRepo + ":path-" + s.Kind + "-" + s.Version + "-" + hex.EncodeToString(sum[:4])
	case s.Root == "":
		return NodeImageRepo + ":" + s.Version
	}
	return NodeImageRepo + ":" + s.Name
}

// Command is the command that runs the server with args.
func (s Server) Command(args ...string) *exec.Cmd {
	prog, all := s.argv(args)
	return exec.Command(prog, all...)
}

// CLICommand is the command that runs the build's own client with args
// (redis-cli on PATH for the host's server).
func (s Server) CLICommand(args ...string) (*exec.Cmd, error) {
	cli := s.CLI
	if cli == "" {
		var err error
		if cli, err = exec.LookPath("redis-cli"); err != nil {
			return nil, errors.New("redis-cli not found on PATH (Debian's redis-tools)")
		}
	}
	if s.Loader == "" {
		return exec.Command(cli, args...), nil
	}
	return exec.Command(s.Loader, append([]string{"--library-path", s.LibDir, "--argv0", s.Kind + "-cli", cli}, args...)...), nil
}

// argv is the program to exec and its arguments: a fetched build runs
// through its own loader, with its own libraries, under the server's name.
func (s Server) argv(args []string) (string, []string) {
	if s.Loader == "" {
		return s.Bin, args
	}
	return s.Loader, append([]string{"--library-path", s.LibDir, "--argv0", s.ServerName(), s.Bin}, args...)
}

// serverVersionRE matches "Redis server v=7.0.15" and "Valkey server v=8.1.1".
var serverVersionRE = regexp.MustCompile(`(?i)\b(redis|valkey)\s+server\s+v=([0-9A-Za-z][0-9A-Za-z._-]*)`)

// ParseServerVersion reads a server's --version output: its kind (redis or
// valkey) and version.
func ParseServerVersion(out string) (kind, version string, err error) {
	m := serverVersionRE.FindStringSubmatch(out)
	if m == nil {
		return "", "", fmt.Errorf("not a Redis or Valkey server's --version: %q", firstLine(strings.TrimSpace(out)))
	}
	return strings.ToLower(m[1]), m[2], nil
}

// serverVersionWithin bounds a --version run.
const serverVersionWithin = 10 * time.Second

// probe runs the server's --version and fills Kind and Version.
func (s *Server) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, serverVersionWithin)
	defer cancel()
	prog, args := s.argv([]string{"--version"})
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("server %s: %s --version: %v: %s", s.Name, s.Bin, err, firstLine(strings.TrimSpace(string(out))))
	}
	if s.Kind, s.Version, err = ParseServerVersion(string(out)); err != nil {
		return fmt.Errorf("server %s: %w", s.Name, err)
	}
	return nil
}

// ServerExe reports whether a process's executable (/proc/<pid>/exe) is a
// server the harness may have started: redis-server (Debian's resolves to
// redis-check-rdb), valkey-server, or a fetched build's loader, which
// carries the server's name.
func ServerExe(exe string) bool {
	base := filepath.Base(exe)
	return strings.Contains(base, "redis") || strings.Contains(base, "valkey")
}

// Servers is where fetched builds live: Dir/<name>/ with the extracted
// packages under root/ and build.json, and Dir/apt/ holding the private apt
// configuration, package lists and downloaded packages.
type Servers struct {
	Dir string
	// Mirror is the Debian archive to fetch from (default: the one this
	// machine's apt sources use, else deb.debian.org).
	Mirror string
	// Apt runs apt-get with the given arguments (default: the real one);
	// tests replace it.
	Apt func(ctx context.Context, dir string, args ...string) ([]byte, error)
}

// ServersDir is where the state dir keeps fetched builds.
func ServersDir(stateDir string) string { return filepath.Join(stateDir, "servers") }

// ServerEntry is one line of `servers list`.
type ServerEntry struct {
	ServerBuild
	// Fetched says whether the build is ready to run here; Server is it then.
	Fetched bool    `json:"fetched"`
	Server  *Server `json:"server,omitempty"`
	// Problem says why a build is not usable (the host's redis-server
	// missing, or of another version).
	Problem string `json:"problem,omitempty"`
}

// List says, for every known build, whether it is fetched.
func (sv Servers) List(ctx context.Context) []ServerEntry {
	var out []ServerEntry
	for _, b := range ServerBuilds {
		e := ServerEntry{ServerBuild: b}
		s, err := sv.Resolve(ctx, b.Name)
		if err == nil {
			e.Fetched, e.Server = true, &s
		} else if b.Host || !errors.Is(err, ErrNotFetched) {
			e.Problem = err.Error()
		}
		out = append(out, e)
	}
	return out
}

// ErrNotFetched is Resolve's error for a known build not fetched yet.
var ErrNotFetched = errors.New("not fetched")

// HostServer is the host's redis-server: $HARNESS_REDIS_SERVER, else
// redis-server on PATH, with its version as --version reports it.
func HostServer(ctx context.Context) (Server, error) {
	bin := os.Getenv("HARNESS_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return Server{}, errors.New("redis-server not found on PATH (install Debian's redis-server: apt-get install redis-server, set HARNESS_REDIS_SERVER, or pick a fetched build with --server)")
		}
	}
	s := Server{Bin: bin, Source: "host"}
	if err := s.probe(ctx); err != nil {
		return Server{}, err
	}
	s.Name = s.Kind + "-" + s.Version
	return s, nil
}

// Resolve turns what --server says into a Server: "" is the host's
// redis-server; a build's name is that build (fetched, or the host's when
// it is the host build); anything with a '/' is a server binary's path.
func (sv Servers) Resolve(ctx context.Context, nameOrPath string) (Server, error) {
	if nameOrPath == "" {
		return HostServer(ctx)
	}
	if strings.Contains(nameOrPath, "/") {
		abs, err := filepath.Abs(nameOrPath)
		if err != nil {
			return Server{}, fmt.Errorf("--server %s: %w", nameOrPath, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return Server{}, fmt.Errorf("--server %s: %w", nameOrPath, err)
		}
		s := Server{Name: nameOrPath, Bin: abs, Source: "path"}
		if err := s.probe(ctx); err != nil {
			return Server{}, fmt.Errorf("--server %s: %w", nameOrPath, err)
		}
		return s, nil
	}
	b, ok := LookupServerBuild(nameOrPath)
	if !ok {
		return Server{}, fmt.Errorf("--server %q: not a known build (%s) nor a path to a server binary", nameOrPath, strings.Join(buildNames(), ", "))
	}
	if b.Host {
		s, err := HostServer(ctx)
		if err != nil {
			return Server{}, fmt.Errorf("--server %s: %w", b.Name, err)
		}
		if s.Kind != b.Kind || s.Version != b.Version {
			return Server{}, fmt.Errorf("--server %s is the host's redis-server, but %s reports %s %s (pass its path, or fetch a build: harness servers list)", b.Name, s.Bin, s.Kind, s.Version)
		}
		return s, nil
	}
	s, err := sv.load(b)
	if err != nil {
		return Server{}, err
	}
	return s, nil
}

func buildNames() []string {
	var out []string
	for _, b := range ServerBuilds {
		out = append(out, b.Name)
	}
	return out
}

// buildFile is the record of a fetched build, written last: its presence
// says the build was extracted and proved.
const buildFile = "build.json"

func (sv Servers) load(b ServerBuild) (Server, error) {
	data, err := os.ReadFile(filepath.Join(sv.Dir, b.Name, buildFile))
	if errors.Is(err, os.ErrNotExist) {
		return Server{}, fmt.Errorf("--server %s: %w in %s (harness servers fetch %s)", b.Name, ErrNotFetched, sv.Dir, b.Name)
	}
	if err != nil {
		return Server{}, fmt.Errorf("--server %s: %w", b.Name, err)
	}
	var s Server
	if err := json.Unmarshal(data, &s); err != nil {
		return Server{}, fmt.Errorf("--server %s: %s: %w", b.Name, buildFile, err)
	}
	for _, p := range []string{s.Bin, s.Loader} {
		if _, err := os.Stat(p); err != nil {
			return Server{}, fmt.Errorf("--server %s: the fetched build is damaged (%v): harness servers fetch --force %s", b.Name, err, b.Name)
		}
	}
	return s, nil
}

// FetchOptions tune Fetch.
type FetchOptions struct {
	// Force fetches again a build already fetched.
	Force bool
	// Progress receives apt's output and what is done (nil discards it).
	Progress io.Writer
}

// Fetch downloads the build's packages from Debian's archive with a private
// apt configuration under Dir/apt (the system's sources are never read or
// changed), extracts them under Dir/<name>/root, checks that every library
// the server loads is in the tree, and proves the result by running its
// --version: a build that reports another version than its name is an
// error. A build already fetched is returned as it is, with nothing
// downloaded.
func (sv Servers) Fetch(ctx context.Context, name string, o FetchOptions) (Server, error) {
	b, ok := LookupServerBuild(name)
	if !ok {
		return Server{}, fmt.Errorf("servers fetch %q: not a known build (%s)", name, strings.Join(buildNames(), ", "))
	}
	if b.Host {
		s, err := sv.Resolve(ctx, name)
		if err != nil {
			return Server{}, fmt.Errorf("servers fetch %s: it is the host's redis-server, nothing to fetch: %w", name, err)
		}
		return s, nil
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(sv.Dir, 0o755); err != nil {
		return Server{}, fmt.Errorf("servers fetch %s: %w", name, err)
	}
	unlock, err := flock.Lock(filepath.Join(sv.Dir, ".lock"), syscall.LOCK_EX)
	if err != nil {
		return Server{}, err
	}
	defer unlock()
	if !o.Force {
		if s, err := sv.load(b); err == nil {
			fmt.Fprintf(progress, "%s: already fetched in %s\n", name, filepath.Join(sv.Dir, name))
			return s, nil
		}
	}
	debs, err := sv.download(ctx, b, progress)
	if err != nil {
		return Server{}, fmt.Errorf("servers fetch %s: %w", name, err)
	}
	s, err := sv.extract(ctx, b, debs, progress)
	if err != nil {
		return Server{}, fmt.Errorf("servers fetch %s: %w", name, err)
	}
	return s, nil
}

// aptDir is the private apt configuration: its own sources list, lists,
// cache and empty sources.list.d/preferences, so that neither the system's
// sources nor its pinning take part.
func (sv Servers) aptDir() string { return filepath.Join(sv.Dir, "apt") }

// aptOptions point apt at the private configuration under dir.
func aptOptions(dir string) []string {
	return []string{
		"-o", "Dir::Etc::sourcelist=" + filepath.Join(dir, "sources.list"),
		"-o", "Dir::Etc::sourceparts=" + filepath.Join(dir, "sources.list.d"),
		"-o", "Dir::Etc::preferences=" + filepath.Join(dir, "preferences"),
		"-o", "Dir::Etc::preferencesparts=" + filepath.Join(dir, "preferences.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
		"-o", "APT::Sandbox::User=root",
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::CNF::DefaultEnabled=false",
	}
}

// debianKeyring is the key the archive's suites are signed with (Debian 12's
// debian-archive-keyring holds trixie's keys too).
const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// aptWithin bounds one apt-get run (an update of three suites is ~30 MB).
const aptWithin = 10 * time.Minute

func (sv Servers) apt(ctx context.Context, dir string, args ...string) ([]byte, error) {
	if sv.Apt != nil {
		return sv.Apt(ctx, dir, args...)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return nil, errors.New("apt-get not found: fetching a build needs Debian's apt (the packages can also be fetched on another machine and the state dir's servers/ copied here)")
	}
	ctx, cancel := context.WithTimeout(ctx, aptWithin)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", append(aptOptions(sv.aptDir()), args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, logtail.Last(out, 15))
	}
	return out, nil
}

// download makes the private apt configuration, updates its lists when
// they lack a suite the build needs, and downloads the build's packages
// into Dir/apt/debs/<name>. It returns the .deb files.
func (sv Servers) download(ctx context.Context, b ServerBuild, progress io.Writer) ([]string, error) {
	dir := sv.aptDir()
	for _, d := range []string{"sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	mirror := sv.Mirror
	if mirror == "" {
		mirror = systemMirror()
	}
	suites := map[string]bool{}
	for _, x := range ServerBuilds {
		if !x.Host {
			suites[x.Suite], suites[x.LibSuite] = true, true
		}
	}
	list := sourcesList(mirror, suites)
	old, _ := os.ReadFile(filepath.Join(dir, "sources.list"))
	stale := string(old) != list
	if stale {
		if err := os.WriteFile(filepath.Join(dir, "sources.list"), []byte(list), 0o644); err != nil {
			return nil, err
		}
	}
	if stale || !haveLists(filepath.Join(dir, "lists"), b.Suite, b.LibSuite) {
		fmt.Fprintf(progress, "apt-get update (private sources: %s)\n", filepath.Join(dir, "sources.list"))
		out, err := sv.apt(ctx, dir, "update")
		progress.Write(out)
		if err != nil {
			return nil, err
		}
	}
	debDir := filepath.Join(dir, "debs", b.Name)
	if err := os.RemoveAll(debDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"download", b.Package + "/" + b.Suite}
	for _, l := range b.Libs {
		args = append(args, l+"/"+b.LibSuite)
	}
	fmt.Fprintf(progress, "apt-get %s\n", strings.Join(args, " "))
	out, err := sv.apt(ctx, debDir, args...)
	progress.Write(out)
	if err != nil {
		return nil, err
	}
	debs, err := filepath.Glob(filepath.Join(debDir, "*.deb"))
	if err != nil {
		return nil, err
	}
	if len(debs) != 1+len(b.Libs) {
		return nil, fmt.Errorf("apt-get download left %d packages in %s, want %d", len(debs), debDir, 1+len(b.Libs))
	}
	sort.Strings(debs)
	return debs, nil
}

// sourcesList is the private sources.list: one line per suite, all from
// mirror, signed by Debian's archive key.
func sourcesList(mirror string, suites map[string]bool) string {
	names := make([]string, 0, len(suites))
	for s := range suites {
		if s != "" {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Written by the harness for `harness servers fetch`; the system's sources are not used.\n")
	for _, s := range names {
		fmt.Fprintf(&b, "deb [signed-by=%s] %s %s main\n", debianKeyring, mirror, s)
	}
	return b.String()
}

// haveLists reports whether the lists dir holds the Packages index of every suite.
func haveLists(lists string, suites ...string) bool {
	for _, s := range suites {
		m, _ := filepath.Glob(filepath.Join(lists, "*_dists_"+s+"_main_binary-*_Packages*"))
		if len(m) == 0 {
			return false
		}
	}
	return true
}

// defaultMirror is used when this machine's apt sources name no Debian archive.
const defaultMirror = "http://deb.debian.org/debian"

// systemMirror is the Debian archive this machine's apt sources use (read,
// never changed): the first URI of a deb source whose path ends in /debian.
func systemMirror() string {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		if m := mirrorIn(f); m != "" {
			return m
		}
	}
	return defaultMirror
}

// mirrorIn reads one sources file, one-line (.list) or deb822 (.sources).
func mirrorIn(path string) string {
	if !strings.HasSuffix(path, ".list") && !strings.HasSuffix(path, ".sources") {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var uris []string
		if rest, ok := strings.CutPrefix(line, "URIs:"); ok {
			uris = strings.Fields(rest)
		} else if rest, ok := strings.CutPrefix(line, "deb "); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 && strings.HasPrefix(fields[0], "[") {
				for len(fields) > 0 && !strings.HasSuffix(fields[0], "]") {
					fields = fields[1:]
				}
				if len(fields) > 0 {
					fields = fields[1:]
				}
			}
			if len(fields) > 0 {
				uris = fields[:1]
			}
		}
		for _, u := range uris {
			if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
				return strings.TrimSuffix(u, "/")
			}
		}
	}
	return ""
}

// extract unpacks the packages into a fresh tree, checks it, proves it
// with --version, and moves it into place with its build.json.
func (sv Servers) extract(ctx context.Context, b ServerBuild, debs []string, progress io.Writer) (_ Server, err error) {
	final := filepath.Join(sv.Dir, b.Name)
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return Server{}, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Server{}, err
	}
	var sources []string
	server := b.Package
	for _, deb := range debs {
		ectx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := exec.CommandContext(ectx, "dpkg-deb", "-x", deb, root).CombinedOutput()
		cancel()
		if err != nil {
			return Server{}, fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, strings.TrimSpace(string(out)))
		}
		sources = append(sources, debSource(deb))
		if strings.HasPrefix(filepath.Base(deb), b.Package+"_") {
			server = debSource(deb)
		}
	}
	if err := mergeUsr(root); err != nil {
		return Server{}, err
	}
	bin := filepath.Join(root, "usr", "bin", b.Kind+"-check-rdb")
	if _, err := os.Stat(bin); err != nil {
		return Server{}, fmt.Errorf("package %s has no %s: %w", b.Package, b.Kind+"-check-rdb", err)
	}
	loaderPath, libDir, err := treeLoader(root, bin)
	if err != nil {
		return Server{}, err
	}
	for _, prog := range []string{bin, filepath.Join(root, "usr", "bin", b.Kind+"-cli")} {
		if err := checkClosure(prog, libDir); err != nil {
			return Server{}, err
		}
	}
	// The loader under the server's name: /proc/<pid>/exe and ps then say
	// which server a process is.
	launch := filepath.Join(tmp, "launch")
	if err := os.MkdirAll(launch, 0o755); err != nil {
		return Server{}, err
	}
	if err := copyFile(loaderPath, filepath.Join(launch, b.Kind+"-server"), 0o755); err != nil {
		return Server{}, err
	}
	// Paths as they will be once the tree is in place.
	rel := func(p string) string { r, _ := filepath.Rel(tmp, p); return filepath.Join(final, r) }
	s := Server{
		Name: b.Name, Kind: b.Kind, Bin: rel(bin), CLI: rel(filepath.Join(root, "usr", "bin", b.Kind+"-cli")), Loader: filepath.Join(final, "launch", b.Kind+"-server"),
		LibDir: rel(libDir), Root: filepath.Join(final, "root"),
		Source:   fmt.Sprintf("Debian %s %s (libraries from %s)", b.Suite, server, b.LibSuite),
		Packages: sources,
	}
	probe := s
	probe.Bin, probe.Loader, probe.LibDir = bin, filepath.Join(launch, b.Kind+"-server"), libDir
	if err := probe.probe(ctx); err != nil {
		return Server{}, err
	}
	if probe.Kind != b.Kind || probe.Version != b.Version {
		return Server{}, fmt.Errorf("the fetched server reports %s %s, not %s %s: the archive's package changed; this build cannot be named %s", probe.Kind, probe.Version, b.Kind, b.Version, b.Name)
	}
	s.Version = probe.Version
	fmt.Fprintf(progress, "%s: %s --version says %s %s\n", b.Name, s.ServerName(), probe.Kind, probe.Version)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return Server{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, buildFile), append(data, '\n'), 0o644); err != nil {
		return Server{}, err
	}
	if err := os.RemoveAll(final); err != nil {
		return Server{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return Server{}, err
	}
	return s, nil
}

// mergeUsr moves the libraries of /lib/<triplet> into /usr/lib/<triplet>,
// as a merged-/usr system has them (bookworm's libc6 still ships /lib), so
// that a build's libraries are in one directory.
func mergeUsr(root string) error {
	dirs, _ := filepath.Glob(filepath.Join(root, "lib", "*-linux-gnu*"))
	for _, d := range dirs {
		dst := filepath.Join(root, "usr", "lib", filepath.Base(d))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			to := filepath.Join(dst, e.Name())
			if _, err := os.Lstat(to); err == nil {
				continue
			}
			if err := os.Rename(filepath.Join(d, e.Name()), to); err != nil {
				return err
			}
		}
	}
	return nil
}

// debSource is "name version" from a downloaded package's file name
// (name_version_arch.deb, the epoch's colon URL-encoded).
func debSource(file string) string {
	parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".deb"), "_")
	if len(parts) < 2 {
		return filepath.Base(file)
	}
	return parts[0] + " " + strings.ReplaceAll(parts[1], "%3a", ":")
}

// treeLoader finds the loader bin asks for (its PT_INTERP) in the extracted
// tree, and the library dir beside it.
func treeLoader(root, bin string) (loader, libDir string, err error) {
	interp, err := elfInterp(bin)
	if err != nil {
		return "", "", err
	}
	want := filepath.Base(interp)
	libs, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "*-linux-gnu*", want))
	for _, l := range libs {
		if st, err := os.Stat(l); err == nil && st.Mode().IsRegular() {
			return l, filepath.Dir(l), nil
		}
	}
	return "", "", fmt.Errorf("the extracted packages hold no %s (the libc6 package of the build's suite should)", want)
}

// checkClosure proves that every library bin needs, and every library
// those need, is in libDir: the build then never borrows one of this
// machine's, and the image made from it starts.
func checkClosure(bin, libDir string) error {
	_, err := closure(bin, libDir)
	return err
}

// closureLimit bounds the libraries one program may pull in.
const closureLimit = 200

// closure lists the sonames bin loads, directly or through its libraries,
// all of which must be files in libDir.
func closure(bin, libDir string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	queue := []string{bin}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		f, err := elf.Open(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		for _, n := range needed {
			if seen[n] {
				continue
			}
			seen[n] = true
			if len(seen) > closureLimit {
				return nil, fmt.Errorf("%s loads more than %d libraries", filepath.Base(bin), closureLimit)
			}
			lib := filepath.Join(libDir, n)
			if _, err := os.Stat(lib); err != nil {
				return nil, fmt.Errorf("%s needs %s, which none of the build's packages holds (add its package to the build's library list)", filepath.Base(p), n)
			}
			out = append(out, n)
			queue = append(queue, lib)
		}
	}
	sort.Strings(out)
	return out, nil
}

// elfInterp is the dynamic loader bin names (PT_INTERP).
func elfInterp(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
			if err != nil {
				return "", fmt.Errorf("read %s's interpreter: %w", bin, err)
			}
			if interp := strings.TrimRight(string(b), "\x00"); interp != "" {
				return interp, nil
			}
		}
	}
	return "", fmt.Errorf("%s names no dynamic loader", bin)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ServerIdentity is the server as a node reports itself in INFO server.
type ServerIdentity struct {
	// Server is server_name (Valkey says "valkey"; Redis before 7.2 has no
	// such field and is "redis").
	Server string `json:"server"`
	// Version is valkey_version for Valkey (whose redis_version is the
	// Redis version it is compatible with, 7.2.4), else redis_version.
	Version string `json:"version"`
}

// Label is "Valkey 8.1.1" or "Redis 7.0.15".
func (id ServerIdentity) Label() string {
	return Server{Kind: id.Server, Version: id.Version}.Label()
}

// ParseServerIdentity reads INFO server.
func ParseServerIdentity(text string) (ServerIdentity, error) {
	m := ParseInfo(text)
	id := ServerIdentity{Server: strings.ToLower(m["server_name"])}
	if id.Server == "" {
		id.Server = "redis"
	}
	id.Version = m[id.Server+"_version"]
	if id.Version == "" {
		id.Version = m["redis_version"]
	}
	if id.Version == "" {
		return id, fmt.Errorf("INFO server: no version in %q", firstLine(text))
	}
	return id, nil
}

// Identify asks the node at addr which server it is (INFO server).
func (a *Admin) Identify(ctx context.Context, addr string) (ServerIdentity, error) {
	text, err := a.DoText(ctx, addr, "INFO", "server")
	if err != nil {
		return ServerIdentity{}, fmt.Errorf("INFO server of %s: %w", addr, err)
	}
	return ParseServerIdentity(text)
}

// ServerFile is one file of an empty root that runs a server: its path
// there and the file on this machine that supplies its content (symlinks
// resolved).
type ServerFile struct {
	Path   string
	Source string
}

// Files lists what a fetched build needs on an empty root (a docker image
// FROM scratch, another host): the server under its server name, the CLI,
// the loader at its PT_INTERP path, and the closure of libraries both load,
// in /usr/lib/<triplet> where the loader looks.
func (s Server) Files() ([]ServerFile, error) {
	cli := filepath.Join(filepath.Dir(s.Bin), s.Kind+"-cli")
	loader, libDir, err := treeLoader(s.Root, s.Bin)
	if err != nil {
		return nil, err
	}
	interp, err := elfInterp(s.Bin)
	if err != nil {
		return nil, err
	}
	triplet := filepath.Base(libDir)
	files := []ServerFile{
		{Path: "/usr/bin/" + s.ServerName(), Source: s.Bin},
		{Path: "/usr/bin/" + s.Kind + "-cli", Source: cli},
		{Path: interp, Source: loader},
	}
	seen := map[string]bool{}
	for _, prog := range []string{s.Bin, cli} {
		libs, err := closure(prog, libDir)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			if seen[l] || l == filepath.Base(interp) {
				continue
			}
			seen[l] = true
			src, err := filepath.EvalSymlinks(filepath.Join(libDir, l))
			if err != nil {
				return nil, err
			}
			files = append(files, ServerFile{Path: "/usr/lib/" + triplet + "/" + l, Source: src})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}
