package history

import "fmt"

// Operation is a client op: its invocation and its completion, pointing
// into the records Pair was given (a history of millions of records is
// not held twice).
type Operation struct {
	Invoke *Op
	// Complete is the ok/fail/info record; for an invoke that never
	// completed (the harness died) it is a synthesized info with Index -1.
	Complete *Op
}

// Type is the outcome: ok, fail or info.
func (o Operation) Type() Type { return o.Complete.Type }

// Pair matches every client invoke with the next completion of the same
// process; the operations point into ops, which must outlive them and not
// be changed. Nemesis records are skipped. A process with two invokes
// outstanding, or a completion without an invoke, is an error naming the
// record: the history breaks the contract.
func Pair(ops []Op) ([]Operation, error) {
	open := map[int]int{} // process → index in out
	out := make([]Operation, 0, len(ops)/2+1)
	for k := range ops {
		op := &ops[k]
		if !op.IsClient() {
			continue
		}
		if op.Type == Invoke {
			if i, ok := open[op.Process]; ok {
				return nil, fmt.Errorf("record %d: process %d invokes again while record %d is outstanding", op.Index, op.Process, out[i].Invoke.Index)
			}
			open[op.Process] = len(out)
			out = append(out, Operation{Invoke: op})
			continue
		}
		i, ok := open[op.Process]
		if !ok {
			return nil, fmt.Errorf("record %d: %s for process %d, which has no op outstanding", op.Index, op.Type, op.Process)
		}
		if op.F != out[i].Invoke.F {
			return nil, fmt.Errorf("record %d: completes %q but process %d invoked %q (record %d)", op.Index, op.F, op.Process, out[i].Invoke.F, out[i].Invoke.Index)
		}
		out[i].Complete = op
		delete(open, op.Process)
	}
	for _, i := range open {
		inv := out[i].Invoke
		out[i].Complete = &Op{Index: -1, Time: -1, Process: inv.Process, Type: Info, F: inv.F, Key: inv.Key, Value: inv.Value, Error: "no completion recorded"}
	}
	return out, nil
}
