package topology

import (
	"encoding/json"
	"strings"
	"testing"
)

// The parsers of what servers say (CLUSTER NODES, CLUSTER SHARDS, INFO)
// read outside input: whatever a node answers, they return a value or an
// error, never panic, and what they return stays within Redis's bounds.

func FuzzParseClusterNodes(f *testing.F) {
	f.Add("07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected\n" +
		"67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002,hostname2 master - 0 1426238316232 2 connected 5461-10922\n" +
		"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001,hostname1 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [93-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]\n")
	f.Add(":0@0 noaddr,fail? - 0 0 0 disconnected")
	f.Add("a b c d 1 2 3 connected 0-16383 0-16383 0-16383 16383")
	f.Fuzz(func(t *testing.T, text string) {
		nodes, err := ParseClusterNodes(text)
		if err != nil {
			return
		}
		for _, n := range nodes {
			last := -1
			for _, r := range n.Slots {
				if r.Start < 0 || r.End >= NumSlots || r.Start > r.End || r.Start <= last {
					t.Fatalf("slot ranges out of bounds or order: %v", n.Slots)
				}
				last = r.End
			}
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add("# Cluster\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\n")
	f.Add("# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:1\r\nslave_repl_offset:1234\r\nconnected_slaves:0\r\nmaster_repl_offset:1234\r\n")
	f.Add("cluster_state:fail\ncluster_size:x")
	f.Fuzz(func(t *testing.T, text string) {
		m := ParseInfo(text)
		for k := range m {
			if strings.Contains(k, "\n") {
				t.Fatalf("key %q spans lines", k)
			}
		}
		ParseClusterInfo(text)
		ParseReplication(text)
	})
}

// FuzzParseClusterShards decodes the input as JSON into the shapes
// go-redis hands over (arrays, maps with any keys, int64 numbers, strings).
func FuzzParseClusterShards(f *testing.F) {
	f.Add(`[["slots",[0,5460],"nodes",[["id","e7d1","port",30001,"ip","127.0.0.1","endpoint","127.0.0.1","role","master","replication-offset",72156,"health","online"]]]]`)
	f.Add(`[{"slots":[0,1,2],"nodes":[{"id":1}]}]`)
	f.Add(`[["slots",["a",1]]]`)
	f.Fuzz(func(t *testing.T, text string) {
		var v any
		if json.Unmarshal([]byte(text), &v) != nil {
			return
		}
		shards, err := ParseClusterShards(resp(v))
		if err != nil {
			return
		}
		for _, sh := range shards {
			if len(sh.Slots) > len(text) {
				t.Fatalf("%d slot ranges out of %d bytes", len(sh.Slots), len(text))
			}
		}
	})
}

// resp turns decoded JSON into go-redis's reply shapes.
func resp(v any) any {
	switch t := v.(type) {
	case float64:
		return int64(t)
	case []any:
		for i := range t {
			t[i] = resp(t[i])
		}
		return t
	case map[string]any:
		m := map[any]any{}
		for k, e := range t {
			m[k] = resp(e)
		}
		return m
	}
	return v
}
