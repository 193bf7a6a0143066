package main

import (
	"fmt"
	"math"
	"sort"
)

// readTime is a view's features evaluated at a read time T from the key's event log (issue 17):
// every aggregate over its window [T - w, T], both ends inclusive, of the events up to T, as if
// an event arrived at T; the derived features over those. Slots hold the aggregates' values in
// plan order, then the derived ones. With tiles, the key's tiles stand for its log (tiles.go).
type readTime struct {
	prefix      string  // of the log's keys, or of the tile hashes
	tiles       *tiling // nil: an event log
	keepMs      int64
	marginMs    int64
	retentionMs int64 // -1: seconds_since_prev never expires
	inputs      []kind
	aggregates  []aggregate
	derived     []*expr
	slot        map[string]int
}

type aggregate struct {
	name     string
	function string
	input    int   // -1: the events themselves
	windowMs int64 // -1: every event up to T
	kind     kind
}

var functions = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true, "stddev_pop": true,
	"distinct_count": true, "last": true, "seconds_since_prev": true,
}

func compileReadTime(spec ReadTimeSpec) (*readTime, error) {
	rt := &readTime{
		prefix: spec.EventsPrefix, keepMs: spec.KeepMs, marginMs: spec.MarginMs, retentionMs: -1,
		slot: map[string]int{},
	}
	if (spec.EventsPrefix == "") == (spec.Tiles == nil) {
		return nil, fmt.Errorf("needs one of events_prefix and tiles")
	}
	if spec.LastEventRetentionMs != nil {
		rt.retentionMs = *spec.LastEventRetentionMs
	}
	for _, in := range spec.Inputs {
		k, err := parseKind(in.Kind)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Column, err)
		}
		rt.inputs = append(rt.inputs, k)
	}
	for _, a := range spec.Aggregates {
		if !functions[a.Function] {
			return nil, fmt.Errorf("aggregate %s: unknown function %q", a.Name, a.Function)
		}
		k, err := parseKind(a.Kind)
		if err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", a.Name, err)
		}
		c := aggregate{name: a.Name, function: a.Function, input: -1, windowMs: -1, kind: k}
		if a.Input != nil {
			if *a.Input < 0 || *a.Input >= len(rt.inputs) {
				return nil, fmt.Errorf("aggregate %s: input %d of %d", a.Name, *a.Input, len(rt.inputs))
			}
			c.input = *a.Input
		} else if a.Function != "count" && a.Function != "seconds_since_prev" {
			return nil, fmt.Errorf("aggregate %s: %s needs an input", a.Name, a.Function)
		}
		if a.WindowMs != nil {
			c.windowMs = *a.WindowMs
		}
		if _, dup := rt.slot[a.Name]; dup {
			return nil, fmt.Errorf("aggregate %s twice", a.Name)
		}
		rt.slot[a.Name] = len(rt.aggregates)
		rt.aggregates = append(rt.aggregates, c)
	}
	if spec.Tiles != nil {
		var err error
		if rt.tiles, err = compileTiles(*spec.Tiles, rt.inputs, rt.aggregates); err != nil {
			return nil, fmt.Errorf("tiles: %w", err)
		}
		rt.prefix = spec.Tiles.Prefix
	}
	lookup := func(name string) (int, bool) {
		i, ok := rt.slot[name]
		return i, ok && i < len(rt.aggregates)
	}
	for _, d := range spec.Derived {
		e, err := compileExpr(d.Expr, lookup)
		if err != nil {
			return nil, fmt.Errorf("derived %s: %w", d.Name, err)
		}
		if _, dup := rt.slot[d.Name]; dup {
			return nil, fmt.Errorf("derived %s: name taken", d.Name)
		}
		rt.slot[d.Name] = len(rt.aggregates) + len(rt.derived)
		rt.derived = append(rt.derived, e)
	}
	return rt, nil
}

// slotsOf is where each named feature's value is among the evaluated slots.
func (rt *readTime) slotsOf(names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, name := range names {
		s, ok := rt.slot[name]
		if !ok {
			return nil, fmt.Errorf("feature %s is neither an aggregate nor a derived feature of read_time", name)
		}
		out[i] = s
	}
	return out, nil
}

// logKey is the Redis key of one entity's event log or tile hash.
func (rt *readTime) logKey(entity string) string { return rt.prefix + entity }

// reading is one key's view at T.
type reading struct {
	missing  bool   // no event in the log
	tooEarly bool   // T < newest - margin: the log may have lost events T's windows need
	last     *event // the newest event at or before T; nil if none
	slots    []any
}

// found is whether the log held events of the key and answered T exactly.
func (r reading) found() bool { return !r.missing && !r.tooEarly }

// evaluate reads the features at t from events, oldest first (decodeLog's order). A key
// without events reads as an empty history (counts 0, the rest null), as the definitions say
// of a virtual event at t; it is still reported missing.
func (rt *readTime) evaluate(events []event, t int64) reading {
	if len(events) > 0 && t < events[len(events)-1].ms-rt.marginMs {
		return reading{tooEarly: true}
	}
	upTo := events[:sort.Search(len(events), func(i int) bool { return events[i].ms > t })]
	r := reading{missing: len(events) == 0, slots: make([]any, len(rt.aggregates)+len(rt.derived))}
	if len(upTo) > 0 {
		r.last = &upTo[len(upTo)-1]
	}
	for i, a := range rt.aggregates {
		window := upTo
		if a.windowMs >= 0 {
			from := t - a.windowMs
			window = upTo[sort.Search(len(upTo), func(i int) bool { return upTo[i].ms >= from }):]
		}
		r.slots[i] = as(a.kind, rt.aggregateAt(a, window, t))
	}
	rt.derive(r.slots)
	return r
}

// derive evaluates the derived features over the aggregates' slots.
func (rt *readTime) derive(slots []any) {
	for i, e := range rt.derived {
		if x, ok := e.eval(slots); ok {
			slots[len(rt.aggregates)+i] = x
		}
	}
}

// aggregateAt is one aggregate over the events of its window (oldest first).
func (rt *readTime) aggregateAt(a aggregate, window []event, t int64) any {
	switch {
	case a.function == "seconds_since_prev":
		if len(window) == 0 {
			return nil
		}
		age := t - window[len(window)-1].ms
		if rt.retentionMs >= 0 && age > rt.retentionMs {
			return nil
		}
		return float64(age) / 1000
	case a.function == "last":
		if len(window) == 0 {
			return nil
		}
		return window[len(window)-1].values[a.input]
	case a.input < 0: // count of events
		return int64(len(window))
	}
	values := make([]any, 0, len(window)) // the non-null ones: aggregateValues skips nulls
	for i := range window {
		if v := window[i].values[a.input]; v != nil {
			values = append(values, v)
		}
	}
	return aggregateValues(a.function, a.kind, values)
}

// as converts a value to kind k (a BIGINT aggregate of doubles, a DOUBLE one of integers).
func as(k kind, v any) any {
	switch k {
	case kindLong:
		if f, ok := v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil
			}
			return int64(f)
		}
	case kindDouble:
		if n, ok := v.(int64); ok {
			return float64(n)
		}
	}
	return v
}

// asAvro converts an evaluated value to the type the plan serves it as ("long", "double", ...);
// null when it cannot be.
func asAvro(avroType string, v any) any {
	switch avroType {
	case "long":
		v = as(kindLong, v)
		if _, ok := v.(int64); ok {
			return v
		}
	case "double":
		v = as(kindDouble, v)
		if _, ok := v.(float64); ok {
			return v
		}
	case "boolean":
		if _, ok := v.(bool); ok {
			return v
		}
	default:
		if _, ok := v.(string); ok {
			return v
		}
	}
	return nil
}
