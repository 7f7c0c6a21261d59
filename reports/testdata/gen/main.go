// Command gen writes the report tests' run directories: histories and
// topology samples made up to show one anomaly each, judged by the real
// checkers into results.json. Run it from the repository root:
//
//	go run ./reports/testdata/gen
//
// The files it writes are checked in; the tests never run it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

const ms = int64(1e6)

func main() {
	root := filepath.Join("reports", "testdata")
	lostWrite(filepath.Join(root, "lost-write"))
	nonlinear(filepath.Join(root, "nonlinear"))
}

// recorder numbers and keeps records.
type recorder struct{ ops []history.Op }

func (r *recorder) add(o history.Op) {
	o.Index = int64(len(r.ops))
	r.ops = append(r.ops, o)
}

func (r *recorder) write(dir string) {
	var b []byte
	for _, o := range r.ops {
		b = history.AppendJSON(b, o)
		b = append(b, '\n')
	}
	must(os.WriteFile(filepath.Join(dir, checker.HistoryFile), b, 0o644))
}

type node struct {
	addr, id string
}

var nodes = []node{
	{"127.0.0.1:7001", "aaaaaaaa00000000000000000000000000000001"},
	{"127.0.0.1:7002", "bbbbbbbb00000000000000000000000000000002"},
	{"127.0.0.1:7003", "cccccccc00000000000000000000000000000003"},
	{"127.0.0.1:7004", "dddddddd00000000000000000000000000000004"},
	{"127.0.0.1:7005", "eeeeeeee00000000000000000000000000000005"},
	{"127.0.0.1:7006", "ffffffff00000000000000000000000000000006"},
}

var ranges = [][]topology.SlotRange{{{Start: 0, End: 5460}}, {{Start: 5461, End: 10922}}, {{Start: 10923, End: 16383}}}

// clusterState is who is master of each shard, by node index.
type clusterState struct {
	master  [3]int // shard → node
	epoch   [3]int64
	replica [3]int
	// isolated node: answers the monitor but sees itself as master of its
	// old shard, and the others flag it failing once flagged is true.
	isolated int
	flagged  bool
	oldEpoch int64
}

func (c clusterState) sample(t int64) topology.Sample {
	s := topology.Sample{Time: t}
	owners := map[string][]topology.SlotRange{}
	for sh := range 3 {
		owners[nodes[c.master[sh]].id] = ranges[sh]
	}
	for i, n := range nodes {
		sn := topology.SampleNode{Addr: n.addr, ID: n.id, State: "ok", Owners: owners}
		for sh := range 3 {
			if c.master[sh] == i {
				sn.Role, sn.Epoch, sn.Slots = "master", c.epoch[sh], ranges[sh]
				sn.Replicas = []string{nodes[c.replica[sh]].id}
			}
			if c.replica[sh] == i {
				sn.Role, sn.MasterID, sn.Epoch, sn.LinkStatus = "replica", nodes[c.master[sh]].id, c.epoch[sh], "up"
			}
		}
		if c.isolated >= 0 {
			if i == c.isolated {
				// Its own, stale view: still master of shard 0 at the old epoch.
				own := map[string][]topology.SlotRange{n.id: ranges[0], nodes[1].id: ranges[1], nodes[2].id: ranges[2]}
				sn = topology.SampleNode{Addr: n.addr, ID: n.id, Role: "master", Epoch: c.oldEpoch, Slots: ranges[0], Owners: own, State: "ok"}
				if c.flagged {
					sn.Failed = []string{nodes[1].id, nodes[2].id, nodes[3].id, nodes[4].id, nodes[5].id}
					sn.State = "fail"
				}
			} else if c.flagged {
				sn.Failed = []string{nodes[c.isolated].id}
			}
		}
		s.Nodes = append(s.Nodes, sn)
	}
	return s
}

func writeTopology(dir string, samples []topology.Sample) {
	f, err := os.Create(filepath.Join(dir, checker.TopologyFile))
	must(err)
	enc := json.NewEncoder(f)
	for _, s := range samples {
		must(enc.Encode(s))
	}
	must(f.Close())
}

// lostWrite: a set key on the master of slots 0-5460 (127.0.0.1:7001). At
// 2 s the nemesis isolates that master; the client still reaches it and its
// adds are acknowledged; at 4.5 s its replica 127.0.0.1:7004 takes over
// (epoch 4); at 8 s the partition heals and at 8.5 s the old master rejoins
// as a replica, dropping what it acknowledged alone. The final read at 10 s
// lacks those elements.
func lostWrite(dir string) {
	must(os.MkdirAll(filepath.Join(dir, "nodes", "n1"), 0o755))
	key := ""
	for i := 0; ; i++ {
		k := fmt.Sprintf("{set:%d}", i)
		if topology.KeySlot(k) <= 5460 {
			key = k
			break
		}
	}
	var r recorder
	old, nw := nodes[0].addr, nodes[3].addr
	elem := int64(0)
	var present []any
	for t := int64(100) * ms; t < 9500*ms; t += 100 * ms {
		elem++
		r.add(history.Op{Time: t, Process: 0, Type: history.Invoke, F: "add", Key: key, Value: elem})
		done := t + 3*ms
		switch {
		case t < 4500*ms: // the old master answers, isolated or not
			r.add(history.Op{Time: done, Process: 0, Type: history.OK, F: "add", Key: key, Value: elem, Node: old})
			if t < 2000*ms {
				present = append(present, elem)
			}
		case t < 5000*ms: // the failover: the slot has no answering master
			r.add(history.Op{Time: done, Process: 0, Type: history.Fail, F: "add", Key: key, Value: elem, Error: "CLUSTERDOWN The cluster is down", Node: nw})
		default:
			r.add(history.Op{Time: done, Process: 0, Type: history.OK, F: "add", Key: key, Value: elem, Node: nw, Redirects: 1})
			present = append(present, elem)
		}
		if t == 3000*ms {
			r.add(history.Op{Time: t + 7*ms, Process: history.NemesisProcess, Type: history.Info, F: "kill", Value: map[string]any{
				"action": int64(1), "target": "replica", "fault": "kill -9 127.0.0.1:7006", "nodes": []any{"127.0.0.1:7006"}, "scheduled_ns": 3000 * ms}, Error: "the local backend cannot kill without root"})
		}
		if t == 2000*ms {
			r.add(history.Op{Time: t + 1*ms, Process: history.NemesisProcess, Type: history.Info, F: "partition", Value: map[string]any{
				"action": int64(0), "target": "master-of-slot", "fault": "partition [127.0.0.1:7001] | [127.0.0.1:7002 127.0.0.1:7003 127.0.0.1:7004 127.0.0.1:7005 127.0.0.1:7006]",
				"nodes": []any{old}, "scheduled_ns": 2000 * ms, "latency_ns": 1 * ms, "clients": "majority"}})
		}
		if t == 8000*ms {
			r.add(history.Op{Time: t + 1*ms, Process: history.NemesisProcess, Type: history.Info, F: "partition", Value: map[string]any{
				"action": int64(0), "target": "master-of-slot", "fault": "partition [127.0.0.1:7001] | [127.0.0.1:7002 127.0.0.1:7003 127.0.0.1:7004 127.0.0.1:7005 127.0.0.1:7006]",
				"nodes": []any{old}, "heal": true}})
		}
	}
	r.add(history.Op{Time: 10000 * ms, Process: 1, Type: history.Invoke, F: "read", Key: key})
	r.add(history.Op{Time: 10002 * ms, Process: 1, Type: history.OK, F: "read", Key: key, Value: present, Node: nw})
	r.write(dir)

	var samples []topology.Sample
	st := clusterState{master: [3]int{0, 1, 2}, replica: [3]int{3, 4, 5}, epoch: [3]int64{1, 2, 3}, isolated: -1}
	for t := int64(50) * ms; t <= 10200*ms; t += 250 * ms {
		switch {
		case t >= 8500*ms: // the old master rejoined as a replica
			st = clusterState{master: [3]int{3, 1, 2}, replica: [3]int{0, 4, 5}, epoch: [3]int64{4, 2, 3}, isolated: -1}
		case t >= 4500*ms: // the replica took over; the old master, cut off, still claims the slots
			st = clusterState{master: [3]int{3, 1, 2}, replica: [3]int{0, 4, 5}, epoch: [3]int64{4, 2, 3}, isolated: 0, flagged: true, oldEpoch: 1}
		case t >= 3000*ms:
			st.isolated, st.flagged, st.oldEpoch = 0, true, 1
		}
		samples = append(samples, st.sample(t))
	}
	writeTopology(dir, samples)
	judge(dir, []string{"set"}, map[string]bool{"set": false}, 1, `{"actions": [
	{"action": {"at": 2000000000, "for": 6000000000, "do": "partition", "target": "master-of-slot"}, "fault": "partition", "nodes": ["127.0.0.1:7001"],
	 "scheduled_ns": 2000000000, "effect_ns": 2001000000, "latency_ns": 1000000, "healed_ns": 8001000000, "heal_took_ns": 4000000},
	{"action": {"at": 3000000000, "do": "kill", "target": "replica"}, "scheduled_ns": 3000000000, "error": "the local backend cannot kill without root"}],
	"recovery_s": 0.55, "healthy": true, "max_latency_ms": 1}`)
	must(os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte(`name: failover-lost-write
description: isolate the master of a slot range with clients still reaching it; acknowledged writes are lost
backend: local
cluster:
  masters: 3
  replicas: 1
time_limit: 10s
seed: 42
client:
  workloads:
    - name: set
expect:
  set: false
`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "nodes", "n1", "redis.log"), []byte("1:C 21 Nov 2026 22:37:55.686 # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=1, just started\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "harness.log"), []byte(`{"level":"INFO","msg":"run"}`+"\n"), 0o644))
}

// nonlinear: a register key whose name is hostile HTML, a stale read after
// a failover, and a hostile nemesis record.
func nonlinear(dir string) {
	must(os.MkdirAll(dir, 0o755))
	key := "{register:0}<script>alert('key')</script>"
	var r recorder
	n1, n4 := nodes[0].addr, nodes[3].addr
	r.add(history.Op{Time: 100 * ms, Process: 0, Type: history.Invoke, F: "write", Key: key, Value: int64(1)})
	r.add(history.Op{Time: 110 * ms, Process: 0, Type: history.OK, F: "write", Key: key, Value: int64(1), Node: n1})
	r.add(history.Op{Time: 200 * ms, Process: 1, Type: history.Invoke, F: "write", Key: key, Value: int64(2)})
	r.add(history.Op{Time: 210 * ms, Process: 1, Type: history.OK, F: "write", Key: key, Value: int64(2), Node: n1})
	r.add(history.Op{Time: 250 * ms, Process: history.NemesisProcess, Type: history.Info, F: "<img src=x onerror=alert(1)>", Value: map[string]any{
		"action": int64(0), "target": "<b>all</b>", "nodes": []any{"<i>n1</i>"}}})
	r.add(history.Op{Time: 300 * ms, Process: 2, Type: history.Invoke, F: "read", Key: key})
	r.add(history.Op{Time: 310 * ms, Process: 2, Type: history.OK, F: "read", Key: key, Value: int64(1), Node: n4})
	r.add(history.Op{Time: 400 * ms, Process: 0, Type: history.Invoke, F: "write", Key: key, Value: int64(3)})
	r.add(history.Op{Time: 900 * ms, Process: 0, Type: history.Info, F: "write", Key: key, Value: int64(3), Error: "i/o timeout", Node: n1})
	r.write(dir)
	st := clusterState{master: [3]int{0, 1, 2}, replica: [3]int{3, 4, 5}, epoch: [3]int64{1, 2, 3}, isolated: -1}
	writeTopology(dir, []topology.Sample{st.sample(50 * ms), st.sample(950 * ms)})
	judge(dir, []string{"register"}, nil, 1, "")
	must(os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte(`name: nonlinear
description: "<img src=x onerror=alert('description')>"
backend: docker
cluster:
  masters: 3
  replicas: 1
  image: redis:7.2
time_limit: 1s
seed: 7
client:
  workloads:
    - name: register
`), 0o644))
}

// judge runs the real checkers and writes results.json as scenarios.Judge
// does, with the expectation worked out the same way.
func judge(dir string, workloads []string, expect map[string]bool, replicas int, nemesis string) {
	in, err := checker.Load(dir)
	must(err)
	in.Expect = topology.Expect{Replicas: replicas}
	cs, err := checker.ForWorkloads(workloads, checker.Options{})
	must(err)
	rep := checker.Check(context.Background(), in, cs)
	res, err := rep.Results()
	must(err)
	e := checker.Expectation{Checkers: map[string]bool{}, Failures: []string{}}
	for k, v := range expect {
		e.Checkers[k] = v
	}
	for _, name := range rep.Names {
		v := rep.Checkers[name].Verdict()
		want, named := expect[name]
		if !named {
			want = true
		}
		if (v == checker.True) != want {
			e.Failures = append(e.Failures, fmt.Sprintf("%s: %s, expected %s", name, v, map[bool]string{true: "valid", false: "invalid"}[want]))
		}
	}
	e.Met = len(e.Failures) == 0
	res.Expected = &e
	if nemesis != "" {
		res.Nemesis = &checker.NemesisReport{}
		must(json.Unmarshal([]byte(nemesis), res.Nemesis))
	}
	b, err := json.MarshalIndent(res, "", "  ")
	must(err)
	must(os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
