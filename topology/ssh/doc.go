// Package ssh is the transport of the ssh backend: the hosts file
// (--hosts hosts.yaml), logging in to each host with a key file or the
// agent and host keys checked against known_hosts, running commands with
// bounded output under a context, and uploading files. It knows nothing
// of Redis; the backend built on it places and runs the nodes.
package ssh
