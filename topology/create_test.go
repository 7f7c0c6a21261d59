package topology

import (
	"fmt"
	"testing"
)

// TestPlanCreateReplicasOffTheirMastersHost: wherever the hosts allow,
// no replica shares its master's host, also when hosts carry several
// nodes (the ssh backend's round-robin placement).
func TestPlanCreateReplicasOffTheirMastersHost(t *testing.T) {
	for _, tc := range []struct{ hosts, masters, replicas int }{
		{3, 3, 1}, {3, 3, 2}, {2, 4, 1}, {4, 4, 1}, {3, 6, 1}, {6, 3, 1}, {4, 3, 3},
	} {
		var nodes []Node
		for i := range tc.masters * (1 + tc.replicas) {
			h := fmt.Sprintf("10.0.0.%d", 1+i%tc.hosts)
			nodes = append(nodes, Node{Name: fmt.Sprintf("n%d", i+1), Addr: fmt.Sprintf("%s:%d", h, 6379+i/tc.hosts), Host: h})
		}
		p, err := PlanCreate(nodes, tc.masters, tc.replicas)
		if err != nil {
			t.Fatal(err)
		}
		host := map[string]string{}
		for _, n := range nodes {
			host[n.Addr] = n.Host
		}
		per := map[string]int{}
		for r, m := range p.ReplicaOf {
			per[m]++
			if host[r] == host[m] {
				t.Errorf("%d hosts, %d×%d: replica %s on its master %s's host", tc.hosts, tc.masters, tc.replicas, r, m)
			}
		}
		for _, m := range p.Masters {
			if per[m] != tc.replicas {
				t.Errorf("%d hosts, %d×%d: master %s has %d replicas", tc.hosts, tc.masters, tc.replicas, m, per[m])
			}
		}
	}
}
