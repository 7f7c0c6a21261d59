package ssh

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/internal/testcluster"
)

// TestServerMatrixSSH: a fetched build is uploaded to each host under the
// cluster's dir and run there through its own loader; its nodes say they
// are that build, survive kill/restart and pause/resume, and down removes
// the upload with the rest.
func TestServerMatrixSSH(t *testing.T) {
	for _, name := range testcluster.MatrixServers {
		t.Run(name, func(t *testing.T) {
			srv := testcluster.Server(t, name)
			b, _ := sshBackend(t, 3)
			spec := topology.Spec{Name: "t-" + strings.ReplaceAll(name, ".", ""), Masters: 3, Replicas: 1, Server: &srv, Config: map[string]string{"cluster-node-timeout": "2000"}}
			r := testcluster.Up(t, b, b.Store, spec, 2*time.Minute, func(t *testing.T, c topology.Cluster) {
				assertNothingLeft(t, b, &c)
			})
			r.A.Timeout = time.Second
			ctx := context.Background()
			for _, addr := range r.C.Addrs() {
				id, err := r.A.Identify(ctx, addr)
				if err != nil || id.Server != srv.Kind || id.Version != srv.Version {
					t.Errorf("%s reports %+v, %v; want %s %s", addr, id, err, srv.Kind, srv.Version)
				}
			}
			if _, err := os.Stat(serverDir(r.C) + "/launch/" + srv.ServerName()); err != nil { // the hosts are this machine
				t.Errorf("the uploaded loader: %v", err)
			}
			testcluster.KillRestartPauseResume(t, r)
		})
	}
}
