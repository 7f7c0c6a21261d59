package topology

import "context"

// What the external tests (package topology_test, which import the local
// backend and so cannot be in package topology) need of its internals.
var (
	ReadKeyslots     = readKeyslots
	MigrateTimedOut  = migrateTimedOut
	ReachableMasters = reachableMasters
	FindNode         = findNode
	Short            = short
	NodeRole         = nodeRole
	PlannedSlots     = plannedSlots
	SlotMap          = slotMap
)

// CountKeys is Admin.countKeys.
func (a *Admin) CountKeys(ctx context.Context, addr string, slot int) (int, error) {
	return a.countKeys(ctx, addr, slot)
}
