// Package logtail cuts the last lines off a log for an error message: a
// server that would not start, a node that exited, an apt run that failed.
// It imports nothing of ours.
package logtail

import "bytes"

// Last returns the last n lines of b, indented for an error message.
func Last(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + string(bytes.Join(lines, []byte("\n    ")))
}
