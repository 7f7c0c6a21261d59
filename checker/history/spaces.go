package history

import (
	"slices"
	"strconv"
	"strings"
)

// The checkers, by the names results.json gives them (checkers.<name>).
// The first five judge key spaces (see Spaces); slots, recovery and stats
// judge every run, whatever its workloads.
const (
	CheckLinearizable = "linearizable"
	CheckSet          = "set"
	CheckCounter      = "counter"
	CheckListAppend   = "list-append"
	CheckMultikey     = "multikey"
	CheckSlots        = "slots"
	CheckRecovery     = "recovery"
	CheckStats        = "stats"
)

// The models of the linearizable checker.
const (
	ModelRegister = "register"
	ModelKV       = "kv"
)

// PipelineWorkload is the workload that sends the ops of another (Space.Of)
// in pipelines, under key spaces of its own.
const PipelineWorkload = "pipeline"

// Space is a key space: the keys one workload writes, all of them under the
// hash tag {<Name>:<n>}, and the checker that judges their ops. The table
// of spaces (Spaces) is the one place that ties workloads to checkers: the
// workloads name their keys from it, the checkers select their ops by it,
// and the reports order their sections by it.
type Space struct {
	// Name is the name inside the hash tag.
	Name string
	// Workload writes the space; Of is, for the pipeline workload, the
	// workload whose ops it pipelines.
	Workload, Of string
	// Checker judges the space's ops.
	Checker string
	// Model is, for the linearizable checker, the model of the space's
	// keys (ModelRegister or ModelKV).
	Model string
}

// String is the space as a person names it: "register", "pipeline of kv".
func (s Space) String() string {
	if s.Of != "" {
		return s.Workload + " of " + s.Of
	}
	return s.Workload
}

// spaces is every key space, in the order results and reports list them.
var spaces = []Space{
	{Name: "register", Workload: "register", Checker: CheckLinearizable, Model: ModelRegister},
	{Name: "kv", Workload: "kv", Checker: CheckLinearizable, Model: ModelKV},
	{Name: "pipeline-register", Workload: PipelineWorkload, Of: "register", Checker: CheckLinearizable, Model: ModelRegister},
	{Name: "pipeline-kv", Workload: PipelineWorkload, Of: "kv", Checker: CheckLinearizable, Model: ModelKV},
	{Name: "set", Workload: "set", Checker: CheckSet},
	{Name: "counter", Workload: "counter", Checker: CheckCounter},
	{Name: "list-append", Workload: "list-append", Checker: CheckListAppend},
	{Name: "multikey", Workload: "multikey", Checker: CheckMultikey},
}

// Spaces is every key space.
func Spaces() []Space { return slices.Clone(spaces) }

// SpaceNamed is the space called name.
func SpaceNamed(name string) (Space, bool) {
	for _, s := range spaces {
		if s.Name == name {
			return s, true
		}
	}
	return Space{}, false
}

// SpaceFor is the space workload writes; of names the pipelined workload
// for the pipeline workload and is ignored for the others.
func SpaceFor(workload, of string) (Space, bool) {
	if workload != PipelineWorkload {
		of = ""
	}
	for _, s := range spaces {
		if s.Workload == workload && s.Of == of {
			return s, true
		}
	}
	return Space{}, false
}

// SpacesOf reads a name as a space, or as a workload and then means every
// space it may write (the pipeline workload: one per pipelined workload).
// Nil when the name is neither.
func SpacesOf(name string) []Space {
	if s, ok := SpaceNamed(name); ok {
		return []Space{s}
	}
	var out []Space
	for _, s := range spaces {
		if s.Workload == name {
			out = append(out, s)
		}
	}
	return out
}

// Workloads lists the workloads of the spaces, sorted, each once.
func Workloads() []string {
	var out []string
	for _, s := range spaces {
		if !slices.Contains(out, s.Workload) {
			out = append(out, s.Workload)
		}
	}
	slices.Sort(out)
	return out
}

// SpaceCheckers lists the checkers that judge key spaces, in the order of
// results and reports.
func SpaceCheckers() []string {
	var out []string
	for _, s := range spaces {
		if !slices.Contains(out, s.Checker) {
			out = append(out, s.Checker)
		}
	}
	return out
}

// Checkers lists every checker in the order of results and reports: those
// of key spaces, then slots, recovery and stats.
func Checkers() []string {
	return append(SpaceCheckers(), CheckSlots, CheckRecovery, CheckStats)
}

// Tag is the hash tag of space's n-th key: Tag("register", 12) is
// "{register:12}". SpaceOf reads it back.
func Tag(space string, n int) string {
	return "{" + space + ":" + strconv.Itoa(n) + "}"
}

// SpaceOf is the key space a key belongs to: the part before ':' inside its
// hash tag ("{list-append:7}:a" → "list-append"), the whole tag when it has
// no ':', or "" for a key with no hash tag. It is Tag read back.
func SpaceOf(key string) string {
	tag, ok := HashTag(key)
	if !ok {
		return ""
	}
	if i := strings.IndexByte(tag, ':'); i >= 0 {
		return tag[:i]
	}
	return tag
}

// HashTag is the text Redis Cluster hashes a key by: inside its first '{'
// and the first '}' after it, when that text is not empty. ok is false, and
// the tag the whole key, when there is none.
func HashTag(key string) (tag string, ok bool) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key, false
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 { // no closing brace, or "{}"
		return key, false
	}
	return key[open+1 : open+1+end], true
}
