// Package docker is the backend whose nodes are containers on a docker
// engine, through its API: a user-defined bridge network per cluster, one
// container per node at a fixed address, everything labelled so that
// cleanup finds exactly what the harness made.
//
// It owns the containers' lifecycle (docker.go), the node image built here
// FROM scratch from a server, with nothing pulled (image.go), the faults
// (faults.go: kill, pause, and iptables rules and delay lines entered into
// each container's network namespace from this machine where the engine is
// provably here, so images need no tools), the sidecars that carry those
// rules and tc netem through the engine where it is not (sidecar.go: a
// short-lived container from an image built here FROM scratch, joined to
// the node's namespace), the disk faults on a stopped container's layer
// (disk.go), and the cleanup of labelled containers, sidecars included, and
// networks (cleanup.go).
//
// It may import topology, topology/netfilter and topology/internal.
package docker
