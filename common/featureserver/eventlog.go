package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A key's event log (issue 17), written by the feature job next to its stored vector: the sorted
// set fse:<view>:v<N>:<key>, score the event time in epoch millis, member the JSON array
// ["<event id>", v0, v1, ...] with one value per read-time input of the view.

// kind is the SQL kind of a log input or an aggregate; values are int64, float64, string,
// bool or nil (null), as appendValue writes them.
type kind byte

const (
	kindLong kind = iota
	kindDouble
	kindString
	kindBool
)

var kinds = map[string]kind{
	"BIGINT": kindLong, "INT": kindLong, "INTEGER": kindLong, "SMALLINT": kindLong, "TINYINT": kindLong,
	"DOUBLE": kindDouble, "FLOAT": kindDouble, "REAL": kindDouble,
	"STRING": kindString, "VARCHAR": kindString, "CHAR": kindString,
	"BOOLEAN": kindBool,
}

func parseKind(text string) (kind, error) {
	k, ok := kinds[strings.ToUpper(text)]
	if !ok {
		return 0, fmt.Errorf("unknown kind %q", text)
	}
	return k, nil
}

// event is one decoded log member.
type event struct {
	ms     int64
	id     string
	values []any
}

// newer orders events by time, then id: the order in which "last" is the last.
func (e *event) newer(o *event) bool {
	return e.ms > o.ms || (e.ms == o.ms && e.id > o.id)
}

// decodeLog turns ZRANGE ... WITHSCORES into events oldest first; bad counts members that do
// not parse (those events are left out).
func decodeLog(members []redis.Z, inputs []kind) (events []event, bad int) {
	events = make([]event, 0, len(members))
	// One backing array for every event's values: a slot per input per member.
	values := make([]any, len(members)*len(inputs))
	for _, z := range members {
		text, ok := z.Member.(string)
		if !ok || math.IsNaN(z.Score) || math.IsInf(z.Score, 0) {
			bad++
			continue
		}
		vs := values[:len(inputs):len(inputs)]
		id, err := decodeMemberInto(text, inputs, vs)
		if err != nil {
			clear(vs)
			bad++
			continue
		}
		values = values[len(inputs):]
		events = append(events, event{ms: int64(z.Score), id: id, values: vs})
	}
	sortEvents(events)
	return events, bad
}

// sortEvents puts events oldest first. Redis sorts by score, then member bytes, which is
// (ms, id) order unless an id holds a character JSON escapes or is a prefix of another; the
// order is checked in one pass and the events sorted only when it does not hold.
func sortEvents(events []event) {
	for i := 1; i < len(events); i++ {
		if events[i-1].newer(&events[i]) {
			slices.SortStableFunc(events, compareEvents)
			return
		}
	}
}

func compareEvents(a, b event) int {
	if c := cmp.Compare(a.ms, b.ms); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// decodeMember parses ["<event id>", v0, v1, ...] with values typed by inputs.
func decodeMember(text string, inputs []kind) (event, error) {
	values := make([]any, len(inputs))
	id, err := decodeMemberInto(text, inputs, values)
	if err != nil {
		return event{}, err
	}
	return event{id: id, values: values}, nil
}

// decodeMemberInto is decodeMember in one pass over text, without encoding/json but for strings
// with escapes: it accepts exactly the JSON arrays of the id string and one scalar per input
// that encoding/json would, and decodes them alike. values (len(inputs)) receives the inputs;
// strings without escapes share text's bytes.
func decodeMemberInto(text string, inputs []kind, values []any) (string, error) {
	s := memberScanner{text: text}
	s.space()
	if !s.next('[') {
		return "", s.fail("an array")
	}
	want := len(inputs) + 1
	var id string
	for n := 0; ; n++ {
		s.space()
		if n == 0 && s.peek(']') {
			return "", fmt.Errorf("0 values, want the id and %d inputs", len(inputs))
		}
		raw, err := s.value()
		if err != nil {
			return "", err
		}
		if n == 0 {
			var ok bool
			if id, ok = jsonString(raw); !ok {
				return "", fmt.Errorf("event id %s is not a string", raw)
			}
		} else if n < want {
			v, err := logValue(raw, inputs[n-1])
			if err != nil {
				return "", fmt.Errorf("input %d: %w", n-1, err)
			}
			values[n-1] = v
		}
		s.space()
		if s.next(',') {
			continue
		}
		if !s.next(']') {
			return "", s.fail("',' or ']'")
		}
		if n+1 != want {
			return "", fmt.Errorf("%d values, want the id and %d inputs", n+1, len(inputs))
		}
		break
	}
	s.space()
	if s.i != len(text) {
		return "", s.fail("the end")
	}
	return id, nil
}

// memberScanner reads the JSON text of a log member.
type memberScanner struct {
	text string
	i    int
}

func (s *memberScanner) space() {
	for s.i < len(s.text) {
		switch s.text[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *memberScanner) peek(c byte) bool { return s.i < len(s.text) && s.text[s.i] == c }

func (s *memberScanner) next(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

func (s *memberScanner) fail(want string) error {
	if s.i >= len(s.text) {
		return fmt.Errorf("member ends where %s should be", want)
	}
	return fmt.Errorf("%q at %d where %s should be", s.text[s.i], s.i, want)
}

func (s *memberScanner) digits() int {
	start := s.i
	for s.i < len(s.text) && s.text[s.i] >= '0' && s.text[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// value is the text of the scalar JSON value at s.i: a string (quotes included), a number,
// true, false or null. An array or object is an error: no input is one.
func (s *memberScanner) value() (string, error) {
	start := s.i
	if s.i >= len(s.text) {
		return "", s.fail("a value")
	}
	switch c := s.text[s.i]; {
	case c == '"':
		s.i++
		for {
			if s.i >= len(s.text) {
				return "", s.fail(`'"'`)
			}
			c := s.text[s.i]
			switch {
			case c == '"':
				s.i++
				return s.text[start:s.i], nil
			case c == '\\':
				s.i++
				if s.i >= len(s.text) {
					return "", s.fail("an escape")
				}
				switch s.text[s.i] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					s.i++
				case 'u':
					s.i++
					for range 4 {
						if s.i >= len(s.text) || !isHex(s.text[s.i]) {
							return "", s.fail("a hex digit")
						}
						s.i++
					}
				default:
					return "", s.fail("an escape")
				}
			case c < 0x20:
				return "", s.fail("a string character")
			default:
				s.i++
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		s.next('-')
		if !s.next('0') && s.digits() == 0 {
			return "", s.fail("a digit")
		}
		if s.next('.') && s.digits() == 0 {
			return "", s.fail("a digit")
		}
		if s.next('e') || s.next('E') {
			if !s.next('+') {
				s.next('-')
			}
			if s.digits() == 0 {
				return "", s.fail("a digit")
			}
		}
		return s.text[start:s.i], nil
	default:
		for _, word := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(s.text[s.i:], word) {
				s.i += len(word)
				return word, nil
			}
		}
		return "", s.fail("a value")
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// logValue is one JSON value of a member as its kind: DOUBLE numbers in Java's
// Double.toString form (1.0E10) or the strings "NaN", "Infinity", "-Infinity".
func logValue(text string, k kind) (any, error) {
	if text == "null" {
		return nil, nil
	}
	switch k {
	case kindLong:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a BIGINT", text)
		}
		return n, nil
	case kindDouble:
		switch text {
		case `"NaN"`:
			return math.NaN(), nil
		case `"Infinity"`:
			return math.Inf(1), nil
		case `"-Infinity"`:
			return math.Inf(-1), nil
		}
		if text == "" || text[0] == '"' {
			return nil, fmt.Errorf("%s is not a DOUBLE", text)
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a DOUBLE", text)
		}
		return f, nil
	case kindBool:
		if text != "true" && text != "false" {
			return nil, fmt.Errorf("%s is not a BOOLEAN", text)
		}
		return text == "true", nil
	default:
		s, ok := jsonString(text)
		if !ok {
			return nil, fmt.Errorf("%s is not a STRING", text)
		}
		return s, nil
	}
}

// jsonString decodes a valid JSON string token: without escapes, the text between the quotes
// (no copy); with them, as encoding/json does (invalid UTF-8 becomes U+FFFD there).
func jsonString(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if strings.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", false
	}
	return s, true
}
