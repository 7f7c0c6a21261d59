package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"

	"github.com/redis-harness/harness/topology"
)

// The node image is built here, with no registry: the engines this harness
// runs against cannot pull. It holds this machine's redis-server and
// redis-cli and the shared libraries they load, on an empty base.
const (
	nodeServer = "/usr/bin/redis-server"
	nodeCLI    = "/usr/bin/redis-cli"
)

// errNoRedisServer says what to do when this machine cannot supply the node image.
var errNoRedisServer = errors.New("install Debian's redis-server (apt-get install redis-server) or pass --image")

// DefaultImage names the node image built from this machine's redis-server:
// redis-harness-node:<version>, e.g. redis-harness-node:7.0.15.
func DefaultImage() (string, error) {
	v, err := redisServerVersion(nodeServer)
	if err != nil {
		return "", err
	}
	return topology.NodeImageRepo + ":" + v, nil
}

// redisServerVersion runs bin --version and returns its v= field.
func redisServerVersion(bin string) (string, error) {
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("node image: %s not found: %w", bin, errNoRedisServer)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node image: %s --version: %v: %w", bin, err, errNoRedisServer)
	}
	v, err := parseRedisVersion(string(out))
	if err != nil {
		return "", fmt.Errorf("node image: %s --version: %w", bin, err)
	}
	return v, nil
}

// redisVersionRE matches the v= field of "Redis server v=7.0.15 sha=…".
var redisVersionRE = regexp.MustCompile(`\bv=([0-9A-Za-z][0-9A-Za-z._-]*)`)

// parseRedisVersion extracts the version from redis-server --version output.
func parseRedisVersion(out string) (string, error) {
	m := redisVersionRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no version (v=…) in %q", strings.TrimSpace(out))
	}
	return m[1], nil
}

// EnsureImage makes sure image is on the engine. A missing default image is
// built from this machine's redis-server; any other missing image is an
// error, since nothing can be pulled here. Build output goes to progress
// (nil discards it).
func (d *Backend) EnsureImage(ctx context.Context, image string, progress io.Writer) error {
	_, err := d.api.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	def, derr := DefaultImage()
	if derr != nil || image != def {
		return fmt.Errorf("image %s is not on this docker engine and cannot be pulled here (no registry): build it or load it (docker load -i …) first, or leave --image empty to build %s:<version> from this machine's redis-server", image, topology.NodeImageRepo)
	}
	return d.BuildImage(ctx, image, progress)
}

// EnsureServerImage makes sure the node image of s (s.Image()) is on the
// engine, building it from s when it is missing.
func (d *Backend) EnsureServerImage(ctx context.Context, s topology.Server, progress io.Writer) error {
	if s.Root == "" && s.Source != "path" {
		return d.EnsureImage(ctx, s.Image(), progress)
	}
	var sum string
	if s.Source == "path" {
		var err error
		if sum, err = fileSHA256(s.Bin); err != nil {
			return fmt.Errorf("node image of %s: %w", s.Bin, err)
		}
	}
	img, err := d.api.ImageInspect(ctx, s.Image())
	if err == nil && (sum == "" || img.Config != nil && img.Config.Labels[labelBinary] == sum) {
		return nil
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", s.Image(), err)
	}
	// Missing, or made from another binary at that path: (re)build.
	return d.BuildServerImage(ctx, s, s.Image(), progress)
}

// labelBinary holds the sha256 of the server binary an image given by
// path was made from, so that a binary rebuilt in place gets a new image.
const labelBinary = "io.redis-harness.binary-sha256"

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BuildImage builds the node image from this machine's redis-server and
// redis-cli and tags it tag. Nothing is pulled: the image starts from
// scratch. Build output goes to progress (nil discards it).
func (d *Backend) BuildImage(ctx context.Context, tag string, progress io.Writer) error {
	version, err := redisServerVersion(nodeServer)
	if err != nil {
		return err
	}
	files, err := imageFiles(ctx, []string{nodeServer, nodeCLI})
	if err != nil {
		return err
	}
	return d.buildImage(ctx, tag, files, imageDockerfile(nodeServer, "redis", version), progress)
}

// BuildServerImage builds the node image from a fetched build: its server
// as /usr/bin/<kind>-server, its CLI, its loader at the path the binaries
// name, and the libraries they load, all from the build's own tree.
func (d *Backend) BuildServerImage(ctx context.Context, s topology.Server, tag string, progress io.Writer) error {
	if s.Source == "path" {
		return d.buildPathImage(ctx, s, tag, progress)
	}
	if s.Root == "" {
		return fmt.Errorf("build image %s: server %s is not a fetched build (the host's is built by harness image build without --server)", tag, s.Name)
	}
	files, err := s.Files()
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return d.buildImage(ctx, tag, files, imageDockerfile("/usr/bin/"+s.ServerName(), s.Kind, s.Version), progress)
}

// buildPathImage builds the node image of a server binary given by path:
// the binary at its own path, the CLI beside it when there is one
// (<kind>-cli), and the libraries ldd says they load, as the default
// image is made from the host's.
func (d *Backend) buildPathImage(ctx context.Context, s topology.Server, tag string, progress io.Writer) error {
	bins := []string{s.Bin}
	if cli := filepath.Join(filepath.Dir(s.Bin), s.Kind+"-cli"); s.Kind != "" {
		if _, err := os.Stat(cli); err == nil {
			bins = append(bins, cli)
		}
	}
	files, err := imageFiles(ctx, bins)
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	sum, err := fileSHA256(s.Bin)
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	df := imageDockerfile(s.Bin, s.Kind, s.Version) + "LABEL " + labelBinary + "=\"" + sum + "\"\n"
	return d.buildImage(ctx, tag, files, df, progress)
}

// buildImage builds the image from files under rootfs/ and dockerfile, with
// empty dirs besides /data and /tmp.
func (d *Backend) buildImage(ctx context.Context, tag string, files []topology.ServerFile, dockerfile string, progress io.Writer, dirs ...string) error {
	if progress == nil {
		progress = io.Discard
	}
	buildCtx, err := imageContext(files, dockerfile, dirs...)
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	resp, err := d.api.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        []string{tag},
		PullParent:  false,
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  "Dockerfile",
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildStream(resp.Body, progress); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return nil
}

// imageDockerfile is the node image's recipe. The binaries and libraries are
// under rootfs/ in the context, so that the Dockerfile itself stays out.
func imageDockerfile(server, kind, version string) string {
	return `FROM scratch
COPY rootfs/ /
WORKDIR /data
ENTRYPOINT ["` + server + `"]
LABEL ` + LabelManaged + `="true" io.redis-harness.redis-version="` + version + `" io.redis-harness.server="` + kind + `"
`
}

// buildMessage is one line of the engine's build progress stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readBuildStream copies the build's output to w and returns the build's
// error line, if the stream carries one.
func readBuildStream(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		err := dec.Decode(&m)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(strings.TrimSpace(m.ErrorDetail.Message))
		}
		if m.Error != "" {
			return errors.New(strings.TrimSpace(m.Error))
		}
		if m.Stream != "" {
			io.WriteString(w, m.Stream)
		}
	}
}

// imageFiles lists the binaries and every shared library ldd says they load,
// the dynamic loader included, sorted by path and without duplicates.
func imageFiles(ctx context.Context, bins []string) ([]topology.ServerFile, error) {
	return lddFiles(ctx, "node image", bins, errNoRedisServer)
}

// lddFiles is imageFiles for the image what names in messages; missing
// says what to do when one of the bins is not here.
func lddFiles(ctx context.Context, what string, bins []string, missing error) ([]topology.ServerFile, error) {
	seen := map[string]bool{}
	var paths []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s: %s not found: %w", what, bin, missing)
		}
		out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
		if err != nil && !isStatic(string(out)) {
			return nil, fmt.Errorf("%s: ldd %s: %v: %s", what, bin, err, strings.TrimSpace(string(out)))
		}
		libs, err := parseLDD(string(out))
		if err != nil {
			return nil, fmt.Errorf("%s: ldd %s: %w", what, bin, err)
		}
		add(bin)
		for _, l := range libs {
			add(l)
		}
	}
	sort.Strings(paths)
	files := make([]topology.ServerFile, 0, len(paths))
	for _, p := range paths {
		src, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		files = append(files, topology.ServerFile{Path: p, Source: src})
	}
	return files, nil
}

func isStatic(out string) bool {
	return strings.Contains(out, "not a dynamic executable") || strings.Contains(out, "statically linked")
}

// parseLDD returns the absolute paths of the libraries in ldd's output:
// "name => /path (0x…)" and "/path (0x…)" lines (the loader). The vDSO has no
// file and is skipped; a library ldd could not find is an error, since the
// image would not start.
func parseLDD(out string) ([]string, error) {
	if isStatic(out) {
		return nil, nil
	}
	var libs, missing []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, ":") { // blank, or "bin:" heading of a multi-file ldd
			continue
		}
		target := line
		if name, rest, ok := strings.Cut(line, "=>"); ok {
			target = strings.TrimSpace(rest)
			if target == "not found" || target == "" {
				missing = append(missing, strings.TrimSpace(name))
				continue
			}
		}
		if i := strings.Index(target, " ("); i >= 0 {
			target = target[:i]
		}
		if !strings.HasPrefix(target, "/") {
			continue // linux-vdso.so.1 and friends: in the kernel, not on disk
		}
		libs = append(libs, target)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("libraries not found: %s", strings.Join(missing, ", "))
	}
	return libs, nil
}

// imageContext writes the build context: the Dockerfile, and under rootfs/
// the files, their parent directories, and empty /data, /tmp and dirs. Times
// are fixed so that the same inputs give the same tar.
func imageContext(files []topology.ServerFile, dockerfile string, dirs ...string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return nil, err
	}
	modes := map[string]int64{"data": 0o755, "tmp": 0o1777}
	for _, d := range dirs {
		modes[strings.Trim(d, "/")] = 0o755
	}
	for _, f := range files {
		for dir := path.Dir(strings.TrimPrefix(f.Path, "/")); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := modes[dir]; !ok {
				modes[dir] = 0o755
			}
		}
	}
	names := make([]string, 0, len(modes))
	for d := range modes {
		names = append(names, d)
	}
	sort.Strings(names) // parents before children
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Name: "rootfs/" + d + "/", Mode: modes[d], ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := addImageFile(tw, f, epoch); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func addImageFile(tw *tar.Writer, f topology.ServerFile, mtime time.Time) error {
	src, err := os.Open(f.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s (for %s) is not a regular file", f.Source, f.Path)
	}
	hdr := &tar.Header{
		Name:     "rootfs" + f.Path,
		Mode:     int64(st.Mode().Perm()),
		Size:     st.Size(),
		ModTime:  mtime,
		Typeflag: tar.TypeReg,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, src); err != nil {
		return fmt.Errorf("read %s: %w", f.Source, err)
	}
	return nil
}
