package nemesis

import (
	"github.com/redis-harness/harness/topology"
)

func pauseKinds() []Kind {
	return []Kind{{
		Name:    "pause",
		Doc:     "freeze the target's servers (SIGSTOP / docker pause); heal resumes them",
		Targets: []string{"one", "primary", "replica"},
		Needs:   needs(topology.AbilityLifecycle),
		New:     func(Params) (Nemesis, error) { return pause, nil },
	}}
}

// pause freezes servers: their connections stay open and say nothing, like
// a long GC pause or a stalled disk, and a master paused past the node
// timeout comes back to find itself replaced.
var pause = stopStart{name: "pause", stop: topology.Lifecycle.Pause, start: topology.Lifecycle.Resume}
