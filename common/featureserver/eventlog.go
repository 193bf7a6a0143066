package main

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
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
	for _, z := range members {
		text, ok := z.Member.(string)
		if !ok || math.IsNaN(z.Score) || math.IsInf(z.Score, 0) {
			bad++
			continue
		}
		e, err := decodeMember(text, inputs)
		if err != nil {
			bad++
			continue
		}
		e.ms = int64(z.Score)
		events = append(events, e)
	}
	sortEvents(events)
	return events, bad
}

// sortEvents puts events oldest first. Redis sorts by score, then member bytes; the id order
// within a millisecond is made explicit here.
func sortEvents(events []event) {
	sort.SliceStable(events, func(i, j int) bool { return events[j].newer(&events[i]) })
}

// decodeMember parses ["<event id>", v0, v1, ...] with values typed by inputs.
func decodeMember(text string, inputs []kind) (event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return event{}, err
	}
	if len(raw) != len(inputs)+1 {
		return event{}, fmt.Errorf("%d values, want the id and %d inputs", len(raw), len(inputs))
	}
	id, ok := jsonString(raw[0])
	if !ok {
		return event{}, fmt.Errorf("event id %s is not a string", raw[0])
	}
	e := event{id: id, values: make([]any, len(inputs))}
	for i, k := range inputs {
		v, err := logValue(raw[i+1], k)
		if err != nil {
			return event{}, fmt.Errorf("input %d: %w", i, err)
		}
		e.values[i] = v
	}
	return e, nil
}

// logValue is one JSON value of a member as its kind: DOUBLE numbers in Java's
// Double.toString form (1.0E10) or the strings "NaN", "Infinity", "-Infinity".
func logValue(raw json.RawMessage, k kind) (any, error) {
	text := string(raw)
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
		s, ok := jsonString(raw)
		if !ok {
			return nil, fmt.Errorf("%s is not a STRING", text)
		}
		return s, nil
	}
}

// jsonString decodes a JSON string; without escapes, without allocating a decoder.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if !strings.ContainsRune(string(raw), '\\') {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
