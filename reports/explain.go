package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// Caps on what a section shows; the counts beside them stay exact, and a
// note says what was left out.
const (
	maxExplained = 10  // anomalies explained in full
	maxRows      = 100 // rows of any table
	maxRaw       = 20000
)

// section is one checker's part of the page. Everything in it is text the
// template escapes.
type section struct {
	Name         string
	Verdict      string
	VerdictClass string
	Reason       string
	Expected     string
	Facts        []fact
	Explanations []explanation
	Timelines    []timeline
	Tables       []table
	Notes        []string
	Links        []link
	Raw          string
}

type fact struct{ Label, Value string }

type link struct{ Href, Text string }

// explanation tells one anomaly as sentences.
type explanation struct {
	Title     string
	Lines     []string
	Timelines []timeline
}

type table struct {
	Title string
	Head  []string
	Rows  [][]string
	Note  string
}

// explainer turns the checkers' evidence into sections, in Redis Cluster
// terms: which node acknowledged what, its role then, the faults in effect,
// the failovers that followed, and the reads that prove the anomaly.
type explainer struct {
	dir    string
	h      *histScan
	t      *topoScan
	faults []*fault
}

func verdictWord(v checker.Valid) (string, string) {
	switch v {
	case checker.True:
		return "valid", "ok"
	case checker.False:
		return "invalid", "bad"
	}
	return "unknown", "unknown"
}

func ts(ns int64) string {
	if ns < 0 {
		return "never"
	}
	return fmt.Sprintf("%.3f s", float64(ns)/1e9)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func num(n int) string { return fmt.Sprint(n) }

// section builds the named checker's section from its raw result.
func (e *explainer) section(name string, raw json.RawMessage, exp *checker.Expectation) section {
	v, reason := verdictOf(raw)
	s := section{Name: name, Reason: reason}
	s.Verdict, s.VerdictClass = verdictWord(v)
	if exp != nil {
		if want, ok := exp.Checkers[name]; ok {
			s.Expected = "the scenario expects it " + map[bool]string{true: "valid", false: "invalid"}[want]
		}
	}
	var err error
	if f := sectionWriters[name]; f != nil {
		err = f(e, raw, &s)
		if j := judgedFact(raw); err == nil && j != "" {
			s.Facts = append(s.Facts, fact{"ops judged", j})
		}
	} else {
		s.Raw = rawJSON(raw)
	}
	if err != nil {
		s.Notes = append(s.Notes, "results.json: this result could not be read: "+err.Error())
		s.Raw = rawJSON(raw)
	}
	return s
}

// judgedFact says a result's ops_judged, by key space in the table's
// order ("register 364, pipeline-register 1792"); "" when it has none.
func judgedFact(raw json.RawMessage) string {
	var r struct {
		OpsJudged map[string]int `json:"ops_judged"`
	}
	if json.Unmarshal(raw, &r) != nil || r.OpsJudged == nil {
		return ""
	}
	var parts []string
	for _, sp := range history.Spaces() {
		if n, ok := r.OpsJudged[sp.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", sp.Name, n))
			delete(r.OpsJudged, sp.Name)
		}
	}
	var other []string
	for name, n := range r.OpsJudged {
		other = append(other, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(other)
	if parts = append(parts, other...); len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// sectionWriters explain each checker's result, by the checker names of
// history's table (a test fails when a checker has none).
var sectionWriters = map[string]func(e *explainer, raw json.RawMessage, s *section) error{
	history.CheckLinearizable: (*explainer).linSection,
	history.CheckSet:          (*explainer).setSection,
	history.CheckCounter:      (*explainer).counterSection,
	history.CheckListAppend:   (*explainer).listSection,
	history.CheckMultikey:     (*explainer).multikeySection,
	history.CheckSlots:        (*explainer).slotsSection,
	history.CheckRecovery:     (*explainer).recoverySection,
	history.CheckStats:        (*explainer).statsSection,
}

func rawJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return cut(string(raw), maxRaw)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return cut(string(raw), maxRaw)
	}
	return cut(string(b), maxRaw)
}

// role says what addr was at t, as the topology samples tell it.
func (e *explainer) role(addr string, t int64) string {
	if addr == "" {
		return ""
	}
	if e.t == nil || e.t.Samples == 0 {
		return ""
	}
	r, ok := e.t.roleAt(addr, t)
	if !ok {
		if len(e.t.Lanes[addr]) == 0 {
			return "not in the topology samples"
		}
		return "not yet sampled"
	}
	return describeRole(r)
}

func describeRole(r roleSpan) string {
	var s string
	switch r.Role {
	case "master":
		s = fmt.Sprintf("master, config epoch %d", r.Epoch)
	case "replica":
		s = "replica of " + r.Master
	case "unreachable":
		s = "not answering the monitor"
	default:
		s = r.Role
	}
	if r.Failing {
		s += ", flagged failing by the other nodes"
	}
	return s
}

// nodeCell is a node with its role at t, for tables.
func (e *explainer) nodeCell(addr string, t int64) string {
	if addr == "" {
		return ""
	}
	if r := e.role(addr, t); r != "" {
		return addr + " (" + r + ")"
	}
	return addr
}

func record(r checker.OpRef) string {
	if r.Complete < 0 {
		return fmt.Sprintf("#%d (never completed)", r.Index)
	}
	return fmt.Sprintf("#%d→#%d", r.Index, r.Complete)
}

var opHead = []string{"records", "process", "f", "key", "value", "outcome", "error", "node (role then)", "invoked", "completed"}

func (e *explainer) opRow(r checker.OpRef) []string {
	return []string{record(r), num(r.Process), r.F, cut(r.Key, 80), compactJSON(r.Value, 160), string(r.Type), cut(r.Error, 120),
		e.nodeCell(r.Node, r.End), ts(r.Time), ts(r.End)}
}

func (e *explainer) opTable(title string, refs []checker.OpRef, note string) table {
	t := table{Title: title, Head: opHead, Note: note}
	for i, r := range refs {
		if i == maxRows {
			t.Note = strings.TrimSpace(t.Note + fmt.Sprintf(" %d more not shown.", len(refs)-maxRows))
			break
		}
		t.Rows = append(t.Rows, e.opRow(r))
	}
	return t
}

// listedNote says that results.json lists only some of count anomalies.
func listedNote(listed, count int, what string) string {
	if count > listed {
		return fmt.Sprintf("%d %s in all; results.json lists the first %d.", count, what, listed)
	}
	return ""
}

// faultText names a fault for a sentence.
func faultText(f *fault) string {
	s := fmt.Sprintf("%s #%d", f.F, f.N)
	var what []string
	if f.Effect != "" {
		what = append(what, f.Effect)
	} else if f.Target != "" {
		what = append(what, "target "+f.Target)
	}
	if len(f.Nodes) > 0 && f.Effect == "" {
		what = append(what, "nodes "+strings.Join(f.Nodes, ", "))
	}
	if len(what) > 0 {
		s += " (" + cut(strings.Join(what, "; "), 160) + ")"
	}
	end := "to " + ts(f.End)
	if !f.Healed {
		end = "never healed before " + ts(f.End)
	}
	return fmt.Sprintf("%s from %s %s", s, ts(f.Start), end)
}

func (e *explainer) faultsAt(t int64) []string {
	var out []string
	for _, f := range e.faults {
		if f.active(t) {
			out = append(out, faultText(f))
		}
	}
	return out
}

func (e *explainer) faultsBetween(from, to int64) []string {
	var out []string
	for _, f := range e.faults {
		if f.Error == "" && !f.Orphan && f.Start > from && f.Start <= to {
			out = append(out, faultText(f))
		}
	}
	return out
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + cut(e, 120) + ")"
}

func onNode(n string) string {
	if n == "" {
		return ""
	}
	return " by " + n
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func capList(xs []string, n int) []string {
	if len(xs) > n {
		return append(xs[:n:n], fmt.Sprintf("%d more", len(xs)-n))
	}
	return xs
}

// lostTable lists lost elements with the facts of their explanations.
func (e *explainer) lostTable(title string, rows []lostRow, note string) table {
	t := table{Title: title, Head: []string{"key", "slot", "element", "written by", "acknowledged", "by node (role then)", "final read", "final read answered by"}, Note: note}
	for i, r := range rows {
		if i == maxRows {
			t.Note = strings.TrimSpace(t.Note + fmt.Sprintf(" %d more not shown.", len(rows)-maxRows))
			break
		}
		row := []string{cut(r.key, 80), num(history.KeySlot(r.key)), compactJSON(r.elem, 80), "", "", "", "", ""}
		if r.add != nil {
			row[3] = fmt.Sprintf("#%d, process %d, %s", r.add.Index, r.add.Process, r.add.Type)
			row[4] = ts(r.add.End)
			row[5] = e.nodeCell(r.add.Node, r.add.End)
		}
		if fr := e.h.finals[r.key]; fr != nil {
			row[6] = fmt.Sprintf("#%d at %s: %s", fr.Ref.Index, ts(fr.Ref.End), plural(fr.N, "element", "elements"))
			row[7] = e.nodeCell(fr.Ref.Node, fr.Ref.End)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func (e *explainer) setSection(raw json.RawMessage, s *section) error {
	var r checker.SetResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	s.Facts = []fact{{"keys", num(r.Keys)}, {"elements attempted", num(r.Attempted)}, {"acknowledged and read", num(r.OK)}, {"lost", num(r.Lost)},
		{"unexpected", num(r.Unexpected)}, {"recovered (unknown outcome, present)", num(r.Recovered)}, {"failed yet present", num(r.FailedPresent)}, {"acknowledged after the final read began", num(r.Unconfirmed)}}
	if len(r.LostElements) > 0 {
		var rows []lostRow
		for _, el := range r.LostElements {
			rows = append(rows, lostRow{key: el.Key, elem: el.Element, add: el.Add, seen: el.Read})
		}
		e.lostEvidence(s, rows, r.Lost)
	}
	e.elementTable(s, "Unexpected elements (read, never added)", r.UnexpectedElements, r.Unexpected)
	e.elementTable(s, "Failed yet present (every add failed, yet read)", r.FailedPresentElements, r.FailedPresent)
	if len(r.NoFinalRead) > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("Keys with no final read (nothing is known of them): %s.", strings.Join(capList(cutAll(r.NoFinalRead, 80), 20), ", ")))
	}
	return nil
}

func cutAll(xs []string, n int) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = cut(x, n)
	}
	return out
}

func (e *explainer) elementTable(s *section, title string, els []checker.SetElement, count int) {
	if len(els) == 0 {
		return
	}
	t := table{Title: title, Head: []string{"key", "element", "add", "read", "read answered by"}, Note: listedNote(len(els), count, "elements")}
	for _, el := range els {
		row := []string{cut(el.Key, 80), compactJSON(el.Element, 80), "", "", ""}
		if el.Add != nil {
			row[2] = fmt.Sprintf("%s, %s at %s%s", record(*el.Add), el.Add.Type, ts(el.Add.End), errSuffix(el.Add.Error))
		}
		if el.Read != nil {
			row[3] = fmt.Sprintf("%s at %s", record(*el.Read), ts(el.Read.End))
			row[4] = e.nodeCell(el.Read.Node, el.Read.End)
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
}

func (e *explainer) linSection(raw json.RawMessage, s *section) error {
	var r checker.LinearizableResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	var models []string
	for m, n := range r.Models {
		models = append(models, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(models)
	s.Facts = []fact{{"keys", num(r.Keys)}, {"models", strings.Join(models, ", ")}, {"ops modelled", num(r.Ops)},
		{"ordered without search", num(r.DirectKeys)}, {"not linearizable", num(r.InvalidCount)},
		{"undecided", num(r.UndecidedCount)}, {"fit no model", num(r.SkippedCount)}, {"search", searchFact(&r)}}
	if r.ExplainBudgetS > 0 {
		s.Facts = append(s.Facts, fact{"explanation", fmt.Sprintf("%.2f s of a %.0f s budget", r.ExplainS, r.ExplainBudgetS)})
	}
	if r.Visualization != "" {
		if _, err := os.Stat(filepath.Join(e.dir, r.Visualization)); err == nil {
			s.Links = append(s.Links, link{Href: r.Visualization, Text: "porcupine's visualization of the failing keys (" + r.Visualization + ")"})
		} else {
			s.Notes = append(s.Notes, r.Visualization+" is named in results.json but is not in the run directory.")
		}
	}
	if r.VisualizationError != "" {
		s.Notes = append(s.Notes, "The visualization could not be written: "+r.VisualizationError)
	}
	for _, v := range r.Failures {
		slot := history.KeySlot(v.Key)
		x := explanation{Title: fmt.Sprintf("Key %s (slot %d, %s model, %s) is not linearizable", cut(v.Key, 80), slot, v.Model, plural(v.Ops, "op", "ops"))}
		if v.Detail != "" {
			x.Lines = append(x.Lines, v.Detail)
		} else {
			of := "its ops"
			if len(v.WitnessOps) > 0 {
				of = "the witness's ops (and the other writes they may need)"
			}
			x.Lines = append(x.Lines, fmt.Sprintf("The longest order of %s that the model accepts covers %s and leaves the value at %s; none of the ops that had to come next fits that value (below, the first of them to complete and the ops concurrent with it).", of, plural(v.Linearized, "op", "ops"), cut(v.State, 120)))
		}
		if len(v.Stuck) > 0 {
			first := v.Stuck[0]
			if first.Node != "" {
				x.Lines = append(x.Lines, fmt.Sprintf("The op that cannot come next, record #%d (%s %s), was answered by %s at %s.", first.Index, first.F, compactJSON(first.Value, 80), e.nodeCell(first.Node, first.End), ts(first.End)))
				if r, ok := e.t.roleAt(first.Node, first.End); ok && r.Role == "replica" && isRead(first.F) {
					x.Lines = append(x.Lines, fmt.Sprintf("%s was a replica then: a replica serving reads (READONLY) may return a value its master has already replaced.", first.Node))
				}
			}
			if fs := e.faultsAt(first.Time); len(fs) > 0 {
				x.Lines = append(x.Lines, "In effect when it was invoked: "+strings.Join(fs, "; ")+".")
			}
		}
		if len(v.WitnessOps) > 0 {
			what := "a minimal witness: without any one of these ops, the rest can be linearized"
			if !v.WitnessMinimal {
				what = "a witness, but " + v.WitnessNote
			}
			x.Lines = append(x.Lines, fmt.Sprintf("Its witness: these %s cannot be linearized, even taking every other write of the key to have happened at any time after its invocation, or not at all; %s.", plural(len(v.WitnessOps), "op", "ops"), what))
			x.Timelines = append(x.Timelines, newTimeline(fmt.Sprintf("The witness (records %s)", witnessRecords(v.Witness)), v.WitnessOps, v.WitnessStory))
		}
		s.Explanations = append(s.Explanations, x)
		if len(v.Last) > 0 {
			s.Tables = append(s.Tables, e.opTable(fmt.Sprintf("%s: the last ops of the longest linearizable prefix", cut(v.Key, 80)), v.Last, ""))
		}
		if len(v.Stuck) > 0 {
			s.Tables = append(s.Tables, e.opTable(fmt.Sprintf("%s: the ops that could not come next", cut(v.Key, 80)), v.Stuck, ""))
		}
	}
	if r.ExplainCut != "" {
		s.Notes = append(s.Notes, fmt.Sprintf("The explanation was cut short by %s; the verdict does not depend on it.", r.ExplainCut))
	}
	if r.InvalidCount > len(r.Failures) && len(r.InvalidKeys) > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("Keys not linearizable (%d; the first %d are explained): %s.", r.InvalidCount, len(r.Failures), strings.Join(capList(cutAll(r.InvalidKeys, 80), 30), ", ")))
	}
	if r.UndecidedCount > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("Undecided (%d): %s.", r.UndecidedCount, strings.Join(capList(cutAll(r.Undecided, 80), 30), ", ")))
		if len(r.UndecidedWhy) > 0 {
			t := table{Title: "Undecided keys: why, and how far the search got", Head: []string{"key", "why"}, Note: listedNote(len(r.UndecidedWhy), r.UndecidedCount, "keys")}
			for _, k := range r.UndecidedWhy {
				t.Rows = append(t.Rows, []string{cut(k.Key, 80), cut(k.Reason, 300)})
			}
			s.Tables = append(s.Tables, t)
		}
	}
	if len(r.Skipped) > 0 {
		t := table{Title: "Keys no model fits", Head: []string{"key", "why"}, Note: listedNote(len(r.Skipped), r.SkippedCount, "keys")}
		for _, k := range r.Skipped {
			t.Rows = append(t.Rows, []string{cut(k.Key, 80), cut(k.Reason, 200)})
		}
		s.Tables = append(s.Tables, t)
	}
	return nil
}

func (e *explainer) listSection(raw json.RawMessage, s *section) error {
	var r checker.ListAppendResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	s.Facts = []fact{{"keys", num(r.Keys)}, {"reads", num(r.Reads)}, {"appends", num(r.Appends)}, {"txns", num(r.Txns)}, {"lost", num(r.Lost)},
		{"duplicated", num(r.Duplicated)}, {"reordered pairs", num(r.Reordered)}, {"reads not a prefix of the final read", num(r.NotPrefix)},
		{"unexpected", num(r.Unexpected)}, {"failed yet present", num(r.FailedPresent)}, {"non-atomic txns", num(r.NonAtomicTxns)}}
	if len(r.LostElements) > 0 {
		var rows []lostRow
		for _, el := range r.LostElements {
			rows = append(rows, lostRow{key: el.Key, elem: el.Element, add: el.Append, seen: el.Read})
		}
		e.lostEvidence(s, rows, r.Lost)
	}
	listEls := func(title string, els []checker.ListElement, count int) {
		if len(els) == 0 {
			return
		}
		t := table{Title: title, Head: []string{"key", "element", "times", "append", "read", "read answered by"}, Note: listedNote(len(els), count, "elements")}
		for _, el := range els {
			row := []string{cut(el.Key, 80), compactJSON(el.Element, 80), "", "", "", ""}
			if el.Count > 0 {
				row[2] = num(el.Count)
			}
			if el.Append != nil {
				row[3] = fmt.Sprintf("%s, %s at %s", record(*el.Append), el.Append.Type, ts(el.Append.End))
			}
			if el.Read != nil {
				row[4] = fmt.Sprintf("%s at %s", record(*el.Read), ts(el.Read.End))
				row[5] = e.nodeCell(el.Read.Node, el.Read.End)
			}
			t.Rows = append(t.Rows, row)
		}
		s.Tables = append(s.Tables, t)
	}
	listEls("Duplicated elements", r.Duplicates, r.Duplicated)
	listEls("Unexpected elements (read, never appended)", r.UnexpectedElements, r.Unexpected)
	listEls("Failed yet present", r.FailedPresentElements, r.FailedPresent)
	drawn := 0
	for _, x := range r.Reorders {
		if drawn == maxTL {
			break
		}
		drawn++
		s.Timelines = append(s.Timelines, newTimeline(fmt.Sprintf("%s: reads that disagree on the order of %s and %s", cut(x.Key, 80), compactJSON(x.First, 30), compactJSON(x.Second, 30)), refsOf(&x.Read, &x.Other), nil))
	}
	for _, m := range r.NotPrefixReads {
		if drawn == maxTL {
			break
		}
		drawn++
		s.Timelines = append(s.Timelines, newTimeline(fmt.Sprintf("%s: read %s is not a prefix of read %s", cut(m.Key, 80), record(m.Read), record(m.Reference)), refsOf(&m.Read, &m.Reference), nil))
	}
	for _, el := range r.LostElements {
		if drawn == maxTL {
			break
		}
		if el.Append == nil || el.Read == nil {
			continue
		}
		drawn++
		s.Timelines = append(s.Timelines, newTimeline(fmt.Sprintf("%s: %s appended, then missing from a later read", cut(el.Key, 80), compactJSON(el.Element, 30)), refsOf(el.Append, el.Read), nil))
	}
	if n := r.Reordered + r.NotPrefix + r.Lost; drawn == maxTL && n > drawn {
		s.Notes = append(s.Notes, timelineNote(drawn, n, "reordered pairs, non-prefix reads and lost elements"))
	}
	if len(r.Reorders) > 0 {
		t := table{Title: "Reordered pairs", Head: []string{"key", "first", "second", "read seeing first→second", "read seeing second→first"}, Note: listedNote(len(r.Reorders), r.Reordered, "pairs")}
		for _, x := range r.Reorders {
			other := fmt.Sprintf("%s at %s by %s", record(x.Other), ts(x.Other.End), e.nodeCell(x.Other.Node, x.Other.End))
			if x.Kind == "real-time" && x.Append != nil {
				other = fmt.Sprintf("none: the append of second, %s, was acknowledged at %s, before the append of first, %s, was invoked at %s",
					record(x.Other), ts(x.Other.End), record(*x.Append), ts(x.Append.Time))
			}
			t.Rows = append(t.Rows, []string{cut(x.Key, 80), compactJSON(x.First, 60), compactJSON(x.Second, 60),
				fmt.Sprintf("%s at %s by %s", record(x.Read), ts(x.Read.End), e.nodeCell(x.Read.Node, x.Read.End)), other})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(r.NotPrefixReads) > 0 {
		t := table{Title: "Reads that are not a prefix of the final read", Head: []string{"key", "read", "answered by", "position", "got", "want", "reference read"}, Note: listedNote(len(r.NotPrefixReads), r.NotPrefix, "reads")}
		for _, m := range r.NotPrefixReads {
			t.Rows = append(t.Rows, []string{cut(m.Key, 80), fmt.Sprintf("%s at %s", record(m.Read), ts(m.Read.End)), e.nodeCell(m.Read.Node, m.Read.End),
				num(m.Position), compactJSON(m.Got, 60), compactJSON(m.Want, 60), record(m.Reference)})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(r.NonAtomic) > 0 {
		t := table{Title: "Non-atomic transactions", Head: []string{"txn", "key", "micro-op", "read", "answered by"}, Note: listedNote(len(r.NonAtomic), r.NonAtomicTxns, "txns")}
		for _, a := range r.NonAtomic {
			t.Rows = append(t.Rows, []string{record(a.Txn), cut(a.Key, 80), num(a.MicroOp), compactJSON(a.Read, 120), e.nodeCell(a.Txn.Node, a.Txn.End)})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(r.NoFinalRead) > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("Keys with no read after their last append: %s.", strings.Join(capList(cutAll(r.NoFinalRead, 80), 20), ", ")))
	}
	return nil
}

func (e *explainer) counterSection(raw json.RawMessage, s *section) error {
	var r checker.CounterResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	bad := 0
	for _, k := range r.Keys {
		if k.Valid != checker.True {
			bad++
		}
	}
	s.Facts = []fact{{"counters", num(len(r.Keys))}, {"not valid", num(bad)}}
	keys := append([]checker.CounterKey(nil), r.Keys...)
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Valid > keys[j].Valid })
	t := table{Title: "Counters", Head: []string{"key", "verdict", "acknowledged", "unknown", "incrs", "reads", "final value", "bounds"}}
	var viol []checker.CounterRead
	for i, k := range keys {
		viol = append(viol, k.Violations...)
		if i == maxRows {
			t.Note = fmt.Sprintf("%d more not shown.", len(keys)-maxRows)
			continue
		}
		if i > maxRows {
			continue
		}
		v, _ := verdictWord(k.Valid)
		row := []string{cut(k.Key, 80), v, fmt.Sprint(k.Acknowledged), fmt.Sprint(k.Unknown), num(k.Incrs), num(k.Reads), "", ""}
		if k.Final != nil {
			row[6] = fmt.Sprint(k.Final.Value)
			row[7] = fmt.Sprintf("[%d, %d]", k.Final.Lower, k.Final.Upper)
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
	if len(viol) > 0 {
		vt := table{Title: "Reads outside their bounds", Head: []string{"key", "read", "value", "bounds", "kind", "answered by", "at"}}
		for i, v := range viol {
			if i == maxRows {
				vt.Note = fmt.Sprintf("%d more not shown.", len(viol)-maxRows)
				break
			}
			what := v.Kind
			switch v.Kind {
			case "under":
				what = "under: acknowledged increments are missing"
			case "over":
				what = "over: more than could have been added"
			}
			vt.Rows = append(vt.Rows, []string{cut(v.Read.Key, 80), record(v.Read), fmt.Sprint(v.Value), fmt.Sprintf("[%d, %d]", v.Lower, v.Upper), what, e.nodeCell(v.Read.Node, v.Read.End), ts(v.Read.End)})
		}
		s.Tables = append(s.Tables, vt)
	}
	return nil
}

func (e *explainer) multikeySection(raw json.RawMessage, s *section) error {
	var r checker.MultikeyResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	c := r.Crossslot
	s.Facts = []fact{{"hash tags", num(r.Tags)}, {"writes", num(r.Writes)}, {"reads", num(r.Reads)}, {"torn reads", num(r.Torn)}, {"unexpected values", num(r.Unexpected)},
		{"CROSSSLOT probes", fmt.Sprintf("%d: %d rejected, %d accepted, %d other errors, %d unknown", c.Probes, c.Rejected, c.Accepted, c.OtherErrors, c.Unknown)}}
	for i, x := range r.TornReads {
		if i == maxTL {
			s.Notes = append(s.Notes, timelineNote(maxTL, r.Torn, "torn reads"))
			break
		}
		s.Timelines = append(s.Timelines, newTimeline(fmt.Sprintf("Torn read %s and the writes it mixes", record(x.Read)), append(append([]checker.OpRef(nil), x.Writes...), x.Read), nil))
	}
	if len(r.TornReads) > 0 {
		t := table{Title: "Torn reads", Head: []string{"read", "answered by", "at", "keys", "values", "from writes", "why"}, Note: listedNote(len(r.TornReads), r.Torn, "torn reads")}
		for _, x := range r.TornReads {
			var ws []string
			for _, w := range x.Writes {
				ws = append(ws, record(w))
			}
			t.Rows = append(t.Rows, []string{record(x.Read), e.nodeCell(x.Read.Node, x.Read.End), ts(x.Read.End), cut(strings.Join(x.Keys, ", "), 160),
				compactJSON(x.Values, 120), strings.Join(capList(ws, 6), ", "), cut(x.Detail, 240)})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(r.UnexpectedValues) > 0 {
		t := table{Title: "Values no write explains", Head: []string{"read", "answered by", "key", "value", "failed write of it"}, Note: listedNote(len(r.UnexpectedValues), r.Unexpected, "values")}
		for _, x := range r.UnexpectedValues {
			w := ""
			if x.Write != nil {
				w = record(*x.Write)
			}
			t.Rows = append(t.Rows, []string{record(x.Read), e.nodeCell(x.Read.Node, x.Read.End), cut(x.Key, 80), compactJSON(x.Value, 80), w})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(c.AcceptedOps) > 0 {
		s.Tables = append(s.Tables, e.opTable("CROSSSLOT probes the cluster accepted", c.AcceptedOps, listedNote(len(c.AcceptedOps), c.Accepted, "accepted")))
	}
	return nil
}

func (e *explainer) slotsSection(raw json.RawMessage, s *section) error {
	var r checker.SlotsResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	opt := func(p *int64) string {
		if p == nil {
			return "never"
		}
		return ts(*p)
	}
	s.Facts = []fact{{"samples", num(r.Samples)}, {"healthy from", opt(r.HealthySince)}, {"all nodes last agreed at", opt(r.LastConverged)}, {"unhealthy windows", num(r.WindowCount)}}
	if f := r.Final; f != nil {
		s.Facts = append(s.Facts, fact{"last sample", fmt.Sprintf("at %s: %d nodes, %d answered, %d masters own slots, %d slots uncovered", ts(f.Time), f.Nodes, f.Reachable, f.Masters, f.Uncovered)})
		for _, p := range f.Problems {
			s.Notes = append(s.Notes, "In the last sample: "+p+".")
		}
	}
	if len(r.Windows) > 0 {
		t := table{Title: "Windows where the cluster was not sound", Head: []string{"from", "to", "samples", "slots uncovered (max)", "claimed twice", "disagreeing", "not answering", "open slots", "cluster_state not ok", "short of replicas"}, Note: listedNote(len(r.Windows), r.WindowCount, "windows")}
		for _, w := range r.Windows {
			to := ts(w.End)
			if w.Open {
				to += " (still open)"
			}
			t.Rows = append(t.Rows, []string{ts(w.Start), to, num(w.Samples), num(w.MaxUncovered), num(w.Overlapping), cut(strings.Join(w.Disagreeing, ", "), 200),
				cut(strings.Join(w.Unreachable, ", "), 200), num(w.OpenSlots), cut(strings.Join(w.StateNotOK, ", "), 200), cut(strings.Join(w.ReplicasMissing, "; "), 200)})
		}
		s.Tables = append(s.Tables, t)
	}
	return nil
}

func (e *explainer) statsSection(raw json.RawMessage, s *section) error {
	var r checker.StatsResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	statsFacts(s, &r)
	return nil
}

func statsFacts(s *section, r *checker.StatsResult) {
	s.Facts = []fact{{"ops", num(r.Ops)}, {"ok", num(r.OK)}, {"fail", num(r.Fail)}, {"info", num(r.Info)}, {"never completed", num(r.Unfinished)},
		{"nemesis records", num(r.Nemesis)}, {"span", fmt.Sprintf("%.3f s", r.SpanS)}, {"throughput", fmt.Sprintf("%.0f ops/s", r.OpsPerSec)}, {"redirects followed", fmt.Sprint(r.Redirects)}}
	var fs []string
	for f := range r.Latency {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	lt := table{Title: "Latency (ms)", Head: []string{"f", "outcome", "count", "p50", "p95", "p99", "max"}}
	for _, f := range fs {
		for _, o := range []string{"ok", "fail", "info"} {
			l, ok := r.Latency[f][o]
			if !ok {
				continue
			}
			lt.Rows = append(lt.Rows, []string{cut(f, 40), o, num(l.Count), ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max)})
		}
	}
	if len(lt.Rows) > 0 {
		s.Tables = append(s.Tables, lt)
	}
	et := table{Title: "Errors by class", Head: []string{"class", "count", "per second"}}
	for _, c := range checker.ErrorClasses {
		if ec, ok := r.Errors[c]; ok {
			et.Rows = append(et.Rows, []string{c, num(ec.Count), fmt.Sprintf("%.2f", ec.PerSec)})
		}
	}
	if len(et.Rows) > 0 {
		s.Tables = append(s.Tables, et)
	}
}

func ms(v float64) string { return fmt.Sprintf("%.3f", v) }

func isRead(f string) bool { return f == "read" || f == "get" }

// witnessRecords lists a witness's invoke-record indexes: "#12, #15, #31".
func witnessRecords(idx []int64) string {
	var parts []string
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("#%d", i))
	}
	return strings.Join(capList(parts, 12), ", ")
}

// searchFact says what the search took against its budget and ceiling.
func searchFact(r *checker.LinearizableResult) string {
	took := r.SearchS
	if took == 0 {
		took = r.DurationS // a results.json from before search_s
	}
	s := fmt.Sprintf("%.2f s of a %.0f s budget", took, r.BudgetS)
	if r.MemoryCeiling > 0 {
		s += fmt.Sprintf("; peak memory %s of a %s ceiling", checker.SizeText(r.PeakMemory), checker.SizeText(r.MemoryCeiling))
	}
	return s
}
