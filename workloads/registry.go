package workloads

import (
	"fmt"
	"sort"
)

// builder is a registered workload: what it generates and how it reads its
// keys at the end.
type builder struct {
	// mix is the fs the workload generates, with their default weights.
	mix []fWeight
	// pipelinable is true for workloads whose every op is one command, so
	// the pipeline workload may send them in batches.
	pipelinable bool
	// pipeline marks the pipeline workload, which generates with the
	// builder of its Spec.Of.
	pipeline bool
	// generator makes one worker's generator of the ops of s.
	generator func(s Spec, ks *keyspace) generator
	// final is the final reads of the keys under one hash tag.
	final func(tag string) []*call
}

// fWeight is one op of a mix.
type fWeight struct {
	f string
	w int
}

// generator is one worker's source of one workload's ops.
type generator interface {
	// next is the worker's next op of this workload: deterministic given
	// the worker's gen and the ops generated before.
	next(g *gen) *call
}

func (b builder) has(f string) bool {
	for _, fw := range b.mix {
		if fw.f == f {
			return true
		}
	}
	return false
}

func (b builder) fs() []string {
	var out []string
	for _, fw := range b.mix {
		out = append(out, fw.f)
	}
	return out
}

type entry struct {
	name string
	b    builder
}

// newRegistry makes the registry from its entries; a name given twice is a
// programming error and panics.
func newRegistry(entries ...entry) map[string]builder {
	m := make(map[string]builder, len(entries))
	for _, e := range entries {
		if _, dup := m[e.name]; dup {
			panic(fmt.Sprintf("workloads: workload %q registered twice", e.name))
		}
		m[e.name] = e.b
	}
	return m
}

// registry is every workload, by the name scenario files use.
var registry = newRegistry(
	entry{"register", registerWorkload},
	entry{"kv", kvWorkload},
	entry{"set", setWorkload},
	entry{"counter", counterWorkload},
	entry{"list-append", listAppendWorkload},
	entry{"multikey", multikeyWorkload},
	entry{"pipeline", builder{pipeline: true}},
)

// Names lists the registered workloads, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// builderOf is the builder that generates s's ops: for the pipeline
// workload, that of the workload it pipelines.
func builderOf(s Spec) builder {
	b := registry[s.Name]
	if b.pipeline {
		return registry[s.Of]
	}
	return b
}
