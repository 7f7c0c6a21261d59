package history

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The history is the harness's largest input (a million lines for a long
// run), so records are encoded and decoded by hand: about 4× faster than
// encoding/json with an `any` field, and integers stay int64.

// AppendJSON appends o as one JSON object (no newline).
func AppendJSON(b []byte, o Op) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, o.Index, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, o.Time, 10)
	b = append(b, `,"process":`...)
	b = strconv.AppendInt(b, int64(o.Process), 10)
	b = append(b, `,"type":`...)
	b = appendString(b, string(o.Type))
	b = append(b, `,"f":`...)
	b = appendString(b, o.F)
	b = append(b, `,"key":`...)
	b = appendString(b, o.Key)
	b = append(b, `,"value":`...)
	b = appendValue(b, o.Value)
	if o.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, o.Error)
	}
	if o.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, o.Node)
	}
	if o.Redirects != 0 {
		b = append(b, `,"redirects":`...)
		b = strconv.AppendInt(b, int64(o.Redirects), 10)
	}
	return append(b, '}')
}

func appendValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, t)
	case int64:
		return strconv.AppendInt(b, t, 10)
	case int:
		return strconv.AppendInt(b, int64(t), 10)
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, t, 'g', -1, 64)
	case string:
		return appendString(b, t)
	case []any:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, x)
		}
		return append(b, ']')
	case []int64:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, x, 10)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, x)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, t[k])
		}
		return append(b, '}')
	}
	// Anything else is the caller's bug; keep the record valid JSON anyway.
	return appendString(b, fmt.Sprint(v))
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
// '<', '>' and '&' are escaped too, so that a history pasted into HTML stays inert.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// errTruncated marks input that ended inside a record.
var errTruncated = errors.New("record ends early")

// ParseOp decodes one record. Unknown fields are ignored (other tools may
// add their own); the contract's fields must have their JSON types.
func ParseOp(line []byte) (Op, error) { return parseOp(line, nil) }

// parseOp is ParseOp with the record's short strings (type, f, key, error,
// node) taken from names where it has them: a history repeats a few of
// them millions of times, and one copy of each is what keeps a big
// history's load within its memory.
func parseOp(line []byte, names *names) (Op, error) {
	p := parser{b: line, names: names}
	var o Op
	p.ws()
	if !p.eat('{') {
		return o, p.errorf("want a JSON object")
	}
	p.ws()
	if p.eat('}') {
		return o, p.end()
	}
	for {
		p.ws()
		raw, err := p.rawStr()
		if err != nil {
			return o, err
		}
		p.ws()
		if !p.eat(':') {
			return o, p.errorf("want ':' after %q", raw)
		}
		p.ws()
		// The field name is switched on in place: no string is made of it.
		switch string(raw) {
		case "index":
			o.Index, err = p.integer("index")
		case "time":
			o.Time, err = p.integer("time")
		case "process":
			var v int64
			v, err = p.integer("process")
			o.Process = int(v)
		case "redirects":
			var v int64
			v, err = p.integer("redirects")
			o.Redirects = int(v)
		case "type":
			var s string
			s, err = p.strOrNull("type")
			o.Type = Type(s)
		case "f":
			o.F, err = p.strOrNull("f")
		case "key":
			o.Key, err = p.strOrNull("key")
		case "error":
			o.Error, err = p.strOrNull("error")
		case "node":
			o.Node, err = p.strOrNull("node")
		case "value":
			o.Value, err = p.value(0)
		default:
			_, err = p.value(0)
		}
		if err != nil {
			return o, err
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return o, p.end()
		}
		return o, p.errorf("want ',' or '}'")
	}
}

type parser struct {
	b     []byte
	i     int
	names *names
}

// names holds one copy of each short string a reader has seen: at most
// maxNames strings of at most maxNameLen bytes, a few MiB at most
// however hostile the history (keys that never repeat get no help, and
// no unbounded table either; a reader that streams the records on keeps
// nothing big alive).
type names struct{ m map[string]string }

const (
	maxNames   = 1 << 16
	maxNameLen = 256
)

func newNames() *names { return &names{m: make(map[string]string, 64)} }

// rawStr reads a string with no escapes and returns its bytes in place
// (valid only until the line is reused); a string with escapes is
// decoded by str into a new slice.
func (p *parser) rawStr() ([]byte, error) {
	if !p.eat('"') {
		return nil, p.errorf("want a string")
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			p.i++
			return p.b[start : p.i-1], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	p.i = start - 1
	s, err := p.str()
	return []byte(s), err
}

func (p *parser) errorf(format string, a ...any) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("%w: %s", errTruncated, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("column %d: %s", p.i+1, fmt.Sprintf(format, a...))
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() error {
	p.ws()
	if p.i != len(p.b) {
		return p.errorf("text after the object")
	}
	return nil
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *parser) integer(key string) (int64, error) {
	if n, ok := p.fastInt(); ok {
		return n, nil
	}
	v, err := p.value(0)
	if err != nil {
		return 0, err
	}
	n, ok := Int(v)
	if !ok {
		return 0, fmt.Errorf("%q: want an integer, got %v", key, v)
	}
	return n, nil
}

func (p *parser) strOrNull(key string) (string, error) {
	if p.lit("null") {
		return "", nil
	}
	if p.i < len(p.b) && p.b[p.i] != '"' {
		return "", p.errorf("%q: want a string", key)
	}
	if p.names == nil {
		return p.str()
	}
	raw, err := p.rawStr()
	if err != nil {
		return "", err
	}
	if len(raw) > maxNameLen {
		return validUTF8(string(raw)), nil
	}
	if s, ok := p.names.m[string(raw)]; ok {
		return s, nil
	}
	s := validUTF8(string(raw))
	if len(p.names.m) < maxNames {
		p.names.m[s] = s
	}
	return s, nil
}

const maxDepth = 64

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	if p.i >= len(p.b) {
		return nil, p.errorf("want a value")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '[':
		p.i++
		out := []any{}
		p.ws()
		if p.eat(']') {
			return out, nil
		}
		for {
			p.ws()
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(']') {
				return out, nil
			}
			return nil, p.errorf("want ',' or ']'")
		}
	case c == '{':
		p.i++
		out := map[string]any{}
		p.ws()
		if p.eat('}') {
			return out, nil
		}
		for {
			p.ws()
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.ws()
			if !p.eat(':') {
				return nil, p.errorf("want ':'")
			}
			p.ws()
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				return out, nil
			}
			return nil, p.errorf("want ',' or '}'")
		}
	case c == 'n':
		if p.lit("null") {
			return nil, nil
		}
	case c == 't':
		if p.lit("true") {
			return true, nil
		}
	case c == 'f':
		if p.lit("false") {
			return false, nil
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.errorf("want a JSON value")
}

// fastInt reads an integer of at most 18 digits in place, with no string
// made of it; anything else (a fraction, an exponent, a longer number, a
// malformed one) is left for the full grammar, and ok is false.
func (p *parser) fastInt() (n int64, ok bool) {
	i, neg := p.i, false
	if i < len(p.b) && p.b[i] == '-' {
		neg, i = true, i+1
	}
	start := i
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' && i-start < 18 {
		n = n*10 + int64(p.b[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 1 && p.b[start] == '0' {
		return 0, false
	}
	if i < len(p.b) {
		switch c := p.b[i]; {
		case c == '.' || c == 'e' || c == 'E' || c >= '0' && c <= '9':
			return 0, false
		}
	}
	p.i = i
	if neg {
		n = -n
	}
	return n, true
}

// number reads a number by JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() (any, error) {
	if n, ok := p.fastInt(); ok {
		return n, nil
	}
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	p.eat('-')
	if p.eat('0') {
		if p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			return nil, p.errorf("number with a leading zero")
		}
	} else if digits() == 0 {
		return nil, p.errorf("want digits")
	}
	isInt := true
	if p.eat('.') {
		isInt = false
		if digits() == 0 {
			return nil, p.errorf("want digits after '.'")
		}
	}
	if p.eat('e') || p.eat('E') {
		isInt = false
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return nil, p.errorf("want digits in the exponent")
		}
	}
	s := string(p.b[start:p.i])
	if isInt {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("column %d: number %q: %w", start+1, s, err)
	}
	return f, nil
}

func (p *parser) str() (string, error) {
	if !p.eat('"') {
		return "", p.errorf("want a string")
	}
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := validUTF8(string(p.b[start:p.i]))
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	buf := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return validUTF8(string(buf)), nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.lit(`\u`) {
					var ok bool
					if r2, ok = p.hex4(); !ok {
						return "", p.errorf("bad \\u escape")
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf("bad escape \\%c", e)
		}
	}
	return "", p.errorf("unterminated string")
}

// validUTF8 replaces invalid bytes with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}
