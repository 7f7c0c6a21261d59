package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, time.Now())
	ops := []Op{
		{Process: 0, Type: Invoke, F: "write", Key: "{r:1}", Value: int64(3)},
		{Process: 0, Type: OK, F: "write", Key: "{r:1}", Value: int64(3), Node: "10.0.0.3:6379", Redirects: 1},
		{Process: 1, Type: Invoke, F: "cas", Key: "{r:1}", Value: []any{int64(3), int64(4)}},
		{Process: 1, Type: Fail, F: "cas", Key: "{r:1}", Value: []any{int64(3), int64(4)}, Error: "cas-mismatch"},
		{Process: 2, Type: Invoke, F: "read", Key: "<script>\"\n\u2028é", Value: nil},
		{Process: 2, Type: Info, F: "read", Key: "<script>\"\n\u2028é", Error: "i/o timeout"},
		{Process: -1, Type: Info, F: "partition", Value: map[string]any{"target": "primaries", "nodes": []any{"n1"}}},
		{Process: 3, Type: Invoke, F: "txn", Key: "{l}", Value: []any{[]any{"append", "{l}:a", int64(1)}, []any{"r", "{l}:a", nil}}},
		{Process: 3, Type: OK, F: "txn", Key: "{l}", Value: []any{[]any{"append", "{l}:a", int64(1)}, []any{"r", "{l}:a", []any{int64(1)}}}},
	}
	for i := range ops {
		ops[i].Time = int64(i + 1)
		if _, err := w.Append(ops[i]); err != nil {
			t.Fatal(err)
		}
		ops[i].Index = int64(i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var got []Op
	res, err := Read(bytes.NewReader(buf.Bytes()), func(o Op) error { got = append(got, o); return nil })
	if err != nil || res.Records != int64(len(ops)) || res.Truncated != "" {
		t.Fatalf("read: %v %+v", err, res)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Fatalf("round trip:\n got %v\nwant %v", got, ops)
	}
	// Every line is valid JSON that encoding/json agrees with.
	for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d not JSON: %v: %s", i+1, err, line)
		}
		if m["key"] != ops[i].Key {
			t.Errorf("line %d key %q, want %q", i+1, m["key"], ops[i].Key)
		}
		if strings.Contains(line, "<") {
			t.Errorf("line %d has a raw '<': %s", i+1, line)
		}
	}
}

func TestReadForeignFormatting(t *testing.T) {
	// Written by another tool: spaces, other field order, extra fields, floats.
	in := `{ "type" : "ok", "f": "read", "process": 4, "time": 12, "index": 0, "value": 1.0, "extra": {"a": [1, 2]}, "key": "k" }
{"index":1,"time":13,"process":4,"type":"invoke","f":"write","key":"k","value":-7}`
	var got []Op
	if _, err := Read(strings.NewReader(in), func(o Op) error { got = append(got, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if got[0].Type != OK || got[0].Value != int64(1) && got[0].Value != 1.0 || got[0].Key != "k" || got[1].Value != int64(-7) {
		t.Errorf("got %+v", got)
	}
}

func TestTruncatedLastLineTolerated(t *testing.T) {
	in := "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"value\":null}\n{\"index\":1,\"time\":2,\"proc"
	n := 0
	res, err := Read(strings.NewReader(in), func(Op) error { n++; return nil })
	if err != nil || n != 1 || !strings.Contains(res.Truncated, "line 2") {
		t.Fatalf("n=%d res=%+v err=%v", n, res, err)
	}
}

func TestMalformedLineNamed(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"value\":null}\nnot json\n{}\n", "line 2"},
		{"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"done\",\"f\":\"read\"}\n", "type \"done\""},
		{"{\"index\":0,\"time\":1,\"process\":\"zero\",\"type\":\"ok\",\"f\":\"read\"}\n", "\"process\""},
		{"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\"\n{}\n", "line 1"},
	} {
		_, err := Read(strings.NewReader(tc.in), func(Op) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.in, err, tc.want)
		}
	}
}

func TestPair(t *testing.T) {
	ops := []Op{
		{Index: 0, Process: 0, Type: Invoke, F: "write", Value: int64(1)},
		{Index: 1, Process: -1, Type: Info, F: "kill"},
		{Index: 2, Process: 1, Type: Invoke, F: "read"},
		{Index: 3, Process: 0, Type: OK, F: "write", Value: int64(1)},
		{Index: 4, Process: 0, Type: Invoke, F: "read"},
	}
	got, err := Pair(ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Type() != OK || got[1].Type() != Info || got[1].Complete.Index != -1 || got[2].Type() != Info {
		t.Fatalf("%+v", got)
	}
	bad := []Op{{Index: 0, Process: 0, Type: Invoke, F: "read"}, {Index: 1, Process: 0, Type: Invoke, F: "read"}}
	if _, err := Pair(bad); err == nil || !strings.Contains(err.Error(), "outstanding") {
		t.Errorf("double invoke: %v", err)
	}
	if _, err := Pair([]Op{{Index: 0, Process: 2, Type: OK, F: "read"}}); err == nil {
		t.Error("completion without invoke accepted")
	}
}

// FuzzParseOp: whatever ParseOp accepts, encoding/json accepts too, and
// re-encoding what it decoded reads back the same.
func FuzzParseOp(f *testing.F) {
	f.Add([]byte(`{"index":1,"time":2,"process":3,"type":"ok","f":"read","key":"k","value":[1,"a",null,{"b":true}]}`))
	f.Add([]byte(`{"key":"\u00e9\ud83d\ude00\n","value":-1.5e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := ParseOp(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("ParseOp accepted invalid JSON %q", b)
		}
		again, err := ParseOp(AppendJSON(nil, op))
		if err != nil {
			t.Fatalf("re-encoded record does not parse: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(op)) {
			t.Fatalf("round trip changed %+v into %+v", op, again)
		}
	})
}

func normalize(o Op) Op {
	o.Value = string(appendValue(nil, o.Value))
	return o
}

// TestFastIntAgrees: the in-place integer reader gives what JSON's
// number grammar and strconv give, and leaves every other number alone.
func TestFastIntAgrees(t *testing.T) {
	grammar := regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`)
	for _, s := range []string{"0", "-0", "7", "-7", "1234567890", "999999999999999999", "-999999999999999999",
		"9999999999999999999", "01", "-", "1.5", "1e3", "2E2", "-0.0", "12,", "12}", "123456789012345678901", "5x"} {
		p := parser{b: []byte(s)}
		n, ok := p.fastInt()
		m := grammar.FindStringSubmatch(s)
		isInt := m != nil && m[2] == "" && m[3] == ""
		var want int64
		var werr error = strconv.ErrSyntax
		if isInt {
			want, werr = strconv.ParseInt(m[0], 10, 64)
		}
		switch {
		case ok && (werr != nil || n != want || p.i != len(m[0])):
			t.Errorf("%q: fast read %d (to byte %d); the grammar says %v", s, n, p.i, m)
		case !ok && p.i != 0:
			t.Errorf("%q: declined but moved to byte %d", s, p.i)
		case !ok && isInt && werr == nil && len(m[0]) <= 18 && (len(s) == len(m[0]) || s[len(m[0])] < '0' || s[len(m[0])] > '9'):
			t.Errorf("%q: declined a short integer", s)
		}
	}
}

// TestNamesBounded: the reader's table of repeated strings stops at
// maxNames entries and never holds a string longer than maxNameLen,
// whatever the history: 70,000 distinct keys, then keys of 4 KiB, each
// still read right.
func TestNamesBounded(t *testing.T) {
	names := newNames()
	line := func(i int, key string) []byte {
		return AppendJSON(nil, Op{Index: int64(i), Time: int64(i), Process: 0, Type: Invoke, F: "write", Key: key, Value: int64(i)})
	}
	for i := range 70_000 {
		key := fmt.Sprintf("{register:%d}", i)
		o, err := parseOp(line(i, key), names)
		if err != nil || o.Key != key {
			t.Fatalf("record %d: key %q, %v", i, o.Key, err)
		}
	}
	if len(names.m) != maxNames {
		t.Fatalf("table holds %d strings, want the cap %d", len(names.m), maxNames)
	}
	names = newNames()
	long := strings.Repeat("k", 4096)
	for i := range 100 {
		key := fmt.Sprint(long, i)
		o, err := parseOp(line(i, key), names)
		if err != nil || o.Key != key {
			t.Fatalf("long record %d: %v", i, err)
		}
	}
	var held int
	for s := range names.m {
		if len(s) > maxNameLen {
			t.Errorf("table holds a string of %d bytes", len(s))
		}
		held += len(s)
	}
	if len(names.m) > 3 { // type, f and the like: not the keys
		t.Errorf("table holds %d strings (%d bytes) after 100 distinct long keys", len(names.m), held)
	}
}
