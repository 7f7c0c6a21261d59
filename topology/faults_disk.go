package topology

import (
	"context"
)

// AbilityDisk is TruncateAOF and WipeData.
const AbilityDisk Ability = "disk"

// Disk damages a stopped node's data files, as a power cut or a lost disk
// would. Both primitives refuse a node whose server runs: kill it first,
// restart it after.
type Disk interface {
	// TruncateAOF cuts the last bytes bytes off the node's newest
	// incremental AOF file (what appendfsync everysec or no loses in a power
	// cut; a SIGKILL alone loses nothing, the page cache survives it) and
	// returns what it did: the file and how many bytes it cut (less when
	// the file is shorter).
	TruncateAOF(ctx context.Context, c *Cluster, node string, bytes int64) (DiskReport, error)
	// WipeData removes the node's AOF dir and RDB file, keeping nodes.conf:
	// the node restarts with the same identity and an empty dataset. It
	// returns the files it removed.
	WipeData(ctx context.Context, c *Cluster, node string) (DiskReport, error)
}

// DiskChecker says, before a run, why the disk primitives cannot work here
// (CanFault answers only the abilities its backend's file lists).
type DiskChecker interface {
	CanDisk() error
}

// DiskReport is what a disk primitive did to a node's files, for the
// history.
type DiskReport struct {
	// Dir is the node's data dir as this machine sees it.
	Dir string `json:"dir"`
	// Files are the files touched (truncated or removed), relative to Dir.
	Files []string `json:"files"`
	// Size is the truncated file's size before the cut.
	Size int64 `json:"size,omitempty"`
	// Truncated is how many bytes TruncateAOF cut.
	Truncated int64 `json:"truncated,omitempty"`
}
