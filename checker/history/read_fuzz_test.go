package history

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRead: whatever a history file holds, Read returns records or an
// error naming a line, never panics, never returns more records than the
// input has lines; Pair takes what Read returns without panicking.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"{register:0}","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"{register:0}","value":1}
{"index":2,"time":3,"process":-1,"type":"info","f":"pause","value":{"action":0,"heal":true}}
`))
	f.Add([]byte("{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"ti"))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ops []Op
		res, err := Read(bytes.NewReader(data), func(o Op) error { ops = append(ops, o); return nil })
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("an error that names no line: %v", err)
			}
			return
		}
		if lines := bytes.Count(data, []byte{'\n'}) + 1; len(ops) > lines || res.Records != int64(len(ops)) {
			t.Fatalf("%d records (said %d) from %d lines", len(ops), res.Records, lines)
		}
		Pair(ops)
	})
}
