// Package netfilter is the Linux plumbing that network faults are made of,
// with no knowledge of Redis: iptables chains in one network namespace
// (this process's, another entered with nsenter, or one a caller reaches
// itself through Table.Exec, e.g. a container sharing it) and the delay line, a
// hand-written nfnetlink_queue reader that holds and drops packets without
// tc or sch_netem.
//
// Every primitive returns the handle that undoes it (Table.Add returns the
// Rules it holds, OpenDelayLine the DelayLine to Close), and the package
// keeps no state of its own: the in-process lock of a namespace (Locks) and
// the registry of open delay lines (DelayLines) are values their owner, a
// backend, holds.
//
// It may import only the standard library and golang.org/x/sys.
package netfilter
