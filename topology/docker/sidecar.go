package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/netfilter"
)

// Where the engine is not on this machine (DOCKER_HOST=tcp://…, ssh://…),
// network faults reach a node's network namespace through the engine only:
// each command runs in a short-lived sidecar container that joins the
// node's namespace (NetworkMode container:<id>) with NET_ADMIN, from an
// image built here FROM scratch out of this machine's iptables, tc and the
// libraries they load, like the node image. Nothing is pulled, and node
// images need no tools of their own.

// SidecarImageRepo is the repository of the sidecar images; the tag is a
// digest of the tools put in, so that an upgrade here makes a new one.
const SidecarImageRepo = "redis-harness-sidecar"

// LabelSidecar is on every sidecar container: the node whose namespace it
// joined, or "probe". Sidecars carry the cluster's labels too, so that Down
// and cleanup remove one a killed harness left.
const LabelSidecar = "io.redis-harness.sidecar"

const (
	// sidecarWithin bounds one sidecar run: create, start, the command, remove.
	sidecarWithin = 30 * time.Second
	// sidecarBuildWithin bounds building the sidecar image on first need.
	sidecarBuildWithin = 3 * time.Minute
)

// sidecarState is what a Backend learns once about its sidecars.
type sidecarState struct {
	mu    sync.Mutex
	image string // built or found on the engine
	// probing is held through the netem probe, so that the nodes of one
	// heal, asking at once, wait for one probe.
	probing sync.Mutex
	// netem is nil once tc netem was seen to work on the engine's kernel,
	// else why not; netemKnown says whether it was probed.
	netem      error
	netemKnown bool
}

// sidecarTools are what the sidecar image holds, as found on this machine.
type sidecarTools struct {
	bins    []string // iptables, iptables-restore, and tc when here
	tc      string   // "" when this machine has no tc
	xtables string   // the dir of iptables' extensions, dlopened at run time
	tag     string
}

// findSidecarTools finds the sidecar's tools here. The tag digests their
// paths, sizes and times, without running ldd: the image holds its own
// libraries, so one built from older ones still works.
func findSidecarTools() (sidecarTools, error) {
	var t sidecarTools
	for _, name := range []string{"iptables", "iptables-restore"} {
		p := sbinPath(name)
		if p == "" {
			return t, fmt.Errorf("the sidecar image is made from this machine's %s, which is not here (apt-get install iptables)", name)
		}
		t.bins = append(t.bins, p)
	}
	if p := sbinPath("tc"); p != "" {
		t.tc = p
		t.bins = append(t.bins, p)
	}
	for _, pat := range []string{"/usr/lib/*/xtables", "/usr/lib64/xtables", "/usr/lib/xtables", "/lib/*/xtables", "/usr/libexec/xtables"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			t.xtables = m[0]
			break
		}
	}
	if t.xtables == "" {
		return t, errors.New("the sidecar image needs iptables' extensions (libxt_*.so), and no xtables directory was found under /usr/lib")
	}
	mods, err := filepath.Glob(filepath.Join(t.xtables, "*.so"))
	if err != nil || len(mods) == 0 {
		return t, fmt.Errorf("the sidecar image needs iptables' extensions, and %s has none", t.xtables)
	}
	sort.Strings(mods)
	h := sha256.New()
	for _, p := range append(append([]string(nil), t.bins...), mods...) {
		st, err := os.Stat(p)
		if err != nil {
			return t, fmt.Errorf("sidecar image: %w", err)
		}
		fmt.Fprintf(h, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
	}
	t.tag = SidecarImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	t.bins = append(t.bins, mods...)
	return t, nil
}

// sbinPath finds an administration tool on PATH or, since a user's PATH
// often lacks them and the sidecars need no root here, in /usr/sbin and
// /sbin; "" when it is nowhere.
func sbinPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// sidecarDockerfile is the sidecar image's recipe: no entrypoint, each run
// names its command.
func sidecarDockerfile(xtables string) string {
	return `FROM scratch
COPY rootfs/ /
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin XTABLES_LIBDIR=` + xtables + `
LABEL ` + LabelManaged + `="true" ` + LabelSidecar + `-image="true"
`
}

// BuildSidecarImage builds the sidecar image from this machine's iptables,
// iptables-restore and tc (when here) with their libraries and iptables'
// extensions, and returns its tag. Build output goes to progress.
func (d *Backend) BuildSidecarImage(ctx context.Context, progress io.Writer) (string, error) {
	t, err := findSidecarTools()
	if err != nil {
		return "", err
	}
	files, err := lddFiles(ctx, "sidecar image", t.bins, errors.New("apt-get install iptables iproute2"))
	if err != nil {
		return "", err
	}
	// /run is where iptables-legacy takes its lock.
	if err := d.buildImage(ctx, t.tag, files, sidecarDockerfile(t.xtables), progress, "run"); err != nil {
		return "", err
	}
	return t.tag, nil
}

// sidecarImage returns the sidecar image, building it on first need (its
// output to d.Progress).
func (d *Backend) sidecarImage(ctx context.Context) (string, error) {
	d.sidecar.mu.Lock()
	defer d.sidecar.mu.Unlock()
	if d.sidecar.image != "" {
		return d.sidecar.image, nil
	}
	t, err := findSidecarTools()
	if err != nil {
		return "", err
	}
	if _, err := d.api.ImageInspect(ctx, t.tag); err == nil {
		d.sidecar.image = t.tag
		return t.tag, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", t.tag, err)
	}
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, "building the sidecar image %s for network faults through the engine\n", t.tag)
	}
	bctx, cancel := context.WithTimeout(ctx, sidecarBuildWithin)
	defer cancel()
	tag, err := d.BuildSidecarImage(bctx, d.Progress)
	if err != nil {
		return "", err
	}
	d.sidecar.image = tag
	return tag, nil
}

// sidecarRun runs bin with args in a new sidecar container that shares
// the network namespace of container target ("" for a namespace of its
// own), with NET_ADMIN, feeding it stdin, and removes it whatever happens.
// It returns the command's standard output; a failure's error carries its
// standard error.
func (d *Backend) sidecarRun(ctx context.Context, target, name string, labels map[string]string, bin string, args []string, stdin io.Reader) (_ []byte, err error) {
	img, err := d.sidecarImage(ctx)
	if err != nil {
		return nil, err
	}
	mode := container.NetworkMode("none")
	if target != "" {
		mode = container.NetworkMode("container:" + target)
	}
	var suffix [4]byte
	rand.Read(suffix[:])
	cname := name + "-" + hex.EncodeToString(suffix[:])
	// Create and remove run to their end: a container the engine made
	// after the caller gave up must still go.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sidecarWithin)
	defer cancel()
	resp, err := d.api.ContainerCreate(cctx,
		&container.Config{
			Image: img, Cmd: append([]string{bin}, args...), Labels: labels,
			AttachStdout: true, AttachStderr: true,
			AttachStdin: stdin != nil, OpenStdin: stdin != nil, StdinOnce: stdin != nil,
		},
		&container.HostConfig{NetworkMode: mode, CapAdd: []string{"NET_ADMIN"}},
		nil, nil, cname)
	if err != nil {
		return nil, fmt.Errorf("sidecar %s: create: %w", bin, err)
	}
	defer func() {
		if rerr := d.api.ContainerRemove(cctx, resp.ID, container.RemoveOptions{Force: true}); rerr != nil && !cerrdefs.IsNotFound(rerr) && err == nil {
			err = fmt.Errorf("sidecar %s: remove container %s: %w", bin, cname, rerr)
		}
	}()
	rctx, rcancel := context.WithTimeout(ctx, sidecarWithin)
	defer rcancel()
	hj, err := d.api.ContainerAttach(rctx, resp.ID, container.AttachOptions{Stream: true, Stdin: stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("sidecar %s: attach: %w", bin, err)
	}
	defer hj.Close()
	if err := d.api.ContainerStart(rctx, resp.ID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("sidecar %s: start: %w", bin, err)
	}
	if stdin != nil {
		go func() {
			io.Copy(hj.Conn, stdin)
			hj.CloseWrite()
		}()
	}
	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, hj.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-rctx.Done():
		hj.Close()
		<-copied
		return nil, fmt.Errorf("sidecar %s: %w", bin, rctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("sidecar %s: read its output: %w", bin, err)
	}
	exitc, werrc := d.api.ContainerWait(rctx, resp.ID, container.WaitConditionNotRunning)
	select {
	case st := <-exitc:
		if st.Error != nil {
			return stdout.Bytes(), fmt.Errorf("sidecar %s: %s", bin, st.Error.Message)
		}
		if st.StatusCode != 0 {
			return stdout.Bytes(), fmt.Errorf("exit status %d: %s", st.StatusCode, strings.TrimSpace(stderr.String()))
		}
	case werr := <-werrc:
		return stdout.Bytes(), fmt.Errorf("sidecar %s: wait: %w", bin, werr)
	}
	return stdout.Bytes(), nil
}

// sidecarTable is the node's filter table reached through sidecars.
func (d *Backend) sidecarTable(c *topology.Cluster, n topology.Node, id string) netfilter.Table {
	labels := d.labels(c, "")
	labels[LabelSidecar] = n.Name
	name := dockerNetworkName(c.Name) + "-" + n.Name + "-sidecar"
	return netfilter.Table{
		NetNS: "container:" + id,
		Where: fmt.Sprintf("node %s's network namespace (through a sidecar of container %s)", n.Name, shortID(id)),
		Locks: &d.locks,
		Exec: func(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error) {
			return d.sidecarRun(ctx, id, name, labels, bin, args, stdin)
		},
	}
}

// sidecarNetem says, probing the engine once, whether tc netem works in a
// sidecar there: nil, or why not.
func (d *Backend) sidecarNetem(ctx context.Context) error {
	d.sidecar.probing.Lock()
	defer d.sidecar.probing.Unlock()
	d.sidecar.mu.Lock()
	known, err := d.sidecar.netemKnown, d.sidecar.netem
	d.sidecar.mu.Unlock()
	if known {
		return err
	}
	t, err := findSidecarTools()
	switch {
	case err != nil:
	case t.tc == "":
		err = errors.New("the sidecar image takes tc from this machine, which has none (apt-get install iproute2)")
	default:
		// A namespace of its own with only loopback: nothing to undo.
		_, perr := d.sidecarRun(ctx, "", "rh-sidecar-probe", map[string]string{LabelManaged: "true", LabelSidecar: "probe"},
			"tc", []string{"qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"}, nil)
		if perr != nil {
			if ctx.Err() != nil {
				return perr // not an answer: probe again next time
			}
			err = fmt.Errorf("the engine's kernel cannot (no sch_netem?): %w", perr)
		}
	}
	d.sidecar.mu.Lock()
	d.sidecar.netem, d.sidecar.netemKnown = err, true
	d.sidecar.mu.Unlock()
	return err
}

// tcNetemArgs is the tc command that sets q on the node's interface.
// Without ifb, which the engine's kernel may lack, tc acts on the packets
// the node sends, not those it receives: a round trip slows by the same
// delay, and loss falls on the node's replies and bus messages.
func tcNetemArgs(q topology.NetemSpec) []string {
	args := []string{"qdisc", "replace", "dev", dockerNodeIface, "root", "netem"}
	if q.Delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dus", q.Delay.Microseconds()))
		if q.Jitter > 0 {
			args = append(args, fmt.Sprintf("%dus", q.Jitter.Microseconds()))
		}
	}
	if q.Loss > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", q.Loss))
	}
	return args
}

// tcClear removes the node's netem qdisc; none there is no error.
func tcClear(ctx context.Context, nf netfilter.Table) error {
	_, err := nf.Exec(ctx, "tc", []string{"qdisc", "del", "dev", dockerNodeIface, "root"}, nil)
	if err != nil && (strings.Contains(err.Error(), "handle of zero") || strings.Contains(err.Error(), "No such file or directory") || strings.Contains(err.Error(), "Invalid handle")) {
		return nil
	}
	return err
}
