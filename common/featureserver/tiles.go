package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// A busy key's tiles (decision 76), written by common/online_tiles.lua instead of an event log:
// the hash fst:<view>:v<N>:<key> with '@t' the newest event time (epoch millis), '@e' that event
// as a log member, and per tile '<start millis>' = [count, [parts of input 0], ...]. A column's
// parts are named by letters of "nslhwd" (the spec's tiles.parts): n non-null count, s sum,
// l min, h max, w Welford mean and m2, d the array of distinct non-null values.

const partOrder = "nslhwd"

// partsNeeded is what each function folds of its input's parts.
var partsNeeded = map[string]string{
	"count": "n", "sum": "ns", "avg": "ns", "min": "nl", "max": "nh", "stddev_pop": "nw", "distinct_count": "d",
}

// tiling is a tiled view's tile length and, per input, the letters its tiles keep.
type tiling struct {
	tileMs int64
	parts  []string
}

// compileTiles checks that the tiles hold what every aggregate folds. The script folds s, l, h
// and w as Lua numbers, so they need a numeric input: min/max of strings (Lua has no UTF-16
// order) and of booleans cannot be tiled.
func compileTiles(spec TilesSpec, inputs []kind, aggregates []aggregate) (*tiling, error) {
	switch {
	case spec.Prefix == "":
		return nil, fmt.Errorf("no prefix")
	case spec.TileMs <= 0:
		return nil, fmt.Errorf("tile_ms %d is not positive", spec.TileMs)
	case len(spec.Parts) != len(inputs):
		return nil, fmt.Errorf("%d parts for %d inputs", len(spec.Parts), len(inputs))
	}
	for i, letters := range spec.Parts {
		last := -1
		for _, c := range letters {
			at := strings.IndexRune(partOrder, c)
			if at <= last {
				return nil, fmt.Errorf("input %d: parts %q are not letters of %q in that order", i, letters, partOrder)
			}
			last = at
			if strings.ContainsRune("slhw", c) && !numeric(inputs[i]) {
				return nil, fmt.Errorf("input %d: part %c of a value that is not a number", i, c)
			}
		}
		// The script's Welford step divides by the column's count.
		if strings.Contains(letters, "w") && !strings.Contains(letters, "n") {
			return nil, fmt.Errorf("input %d: parts %q have w without n", i, letters)
		}
	}
	for _, a := range aggregates {
		switch {
		case a.function == "last" || a.function == "seconds_since_prev": // from '@t' and '@e'
		case a.windowMs < 0:
			return nil, fmt.Errorf("aggregate %s: %s without a window is not kept in tiles", a.name, a.function)
		case a.input >= 0 && strings.ContainsAny(partsNeeded[a.function], "slhw") && !numeric(inputs[a.input]):
			return nil, fmt.Errorf("aggregate %s: %s of a value that is not a number is not kept in tiles", a.name, a.function)
		case a.input >= 0:
			for _, c := range partsNeeded[a.function] {
				if !strings.ContainsRune(spec.Parts[a.input], c) {
					return nil, fmt.Errorf("aggregate %s: %s needs parts %q of input %d, which has %q",
						a.name, a.function, partsNeeded[a.function], a.input, spec.Parts[a.input])
				}
			}
		}
	}
	return &tiling{tileMs: spec.TileMs, parts: spec.Parts}, nil
}

func numeric(k kind) bool { return k == kindLong || k == kindDouble }

// tileHash is one key's decoded hash; empty when the key has none.
type tileHash struct {
	newest []event // '@t' and '@e': none or one event
	tiles  []tile  // ascending start
	// folded is, per aggregate, the last fold and the tiles it covered: a cached hash is read
	// many times between two events of its key, and its windows move a tile at a time, so most
	// reads fold the same tiles again (a busy merchant's distinct cards: ~20 µs a read).
	folded []atomic.Pointer[foldedRange]
}

// foldedRange is one aggregate's value over tiles[lo:hi].
type foldedRange struct {
	lo, hi int
	value  any
}

type tile struct {
	start int64
	count int64
	cols  []tileParts // per input
}

// tileParts is one input's parts in a tile; sum, min and max are int64 for integer inputs.
type tileParts struct {
	n        int64
	sum      any
	min, max any // nil: no value
	mean, m2 float64
	distinct []any
}

// decodeTiles decodes HGETALL of a key's tiles. A hash that does not parse (the script never
// writes one) reads as no hash, and bad is 1: a partial read would undercount silently.
func decodeTiles(fields map[string]string, rt *readTime) (h tileHash, bad int) {
	if len(fields) == 0 {
		return tileHash{}, 0
	}
	h, err := rt.tiles.decode(fields, rt.inputs, len(rt.aggregates))
	if err != nil {
		return tileHash{}, 1
	}
	return h, 0
}

func (ts *tiling) decode(fields map[string]string, inputs []kind, aggregates int) (tileHash, error) {
	newest, err := decodeNewest(fields["@t"], fields["@e"], inputs)
	if err != nil {
		return tileHash{}, err
	}
	h := tileHash{newest: []event{newest}, tiles: make([]tile, 0, len(fields))}
	h.folded = make([]atomic.Pointer[foldedRange], aggregates)
	// One backing array for every tile's columns.
	cols := make([]tileParts, len(fields)*len(inputs))
	for name, text := range fields {
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue // '@t', '@e', '@f' and names this reader does not know
		}
		t := tile{start: start, cols: cols[:len(inputs):len(inputs)]}
		cols = cols[len(inputs):]
		if t.count, err = ts.decodeTile(text, inputs, t.cols); err != nil {
			return tileHash{}, fmt.Errorf("tile %s: %w", name, err)
		}
		h.tiles = append(h.tiles, t)
	}
	slices.SortFunc(h.tiles, func(a, b tile) int { return cmp.Compare(a.start, b.start) })
	return h, nil
}

// decodeNewest is the hash's newest event from '@t' and '@e'.
func decodeNewest(ms, member string, inputs []kind) (event, error) {
	t, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return event{}, fmt.Errorf("@t: %w", err)
	}
	newest, err := decodeMember(member, inputs)
	if err != nil {
		return event{}, fmt.Errorf("@e: %w", err)
	}
	newest.ms = t
	return newest, nil
}

// tileStart is the start of the tile holding ms.
func (ts *tiling) tileStart(ms int64) int64 { return floorTo(ms, ts.tileMs) }

// floorTo is the largest multiple of step at or below x (Go's / truncates toward zero).
func floorTo(x, step int64) int64 {
	q := x / step
	if x%step != 0 && x < 0 {
		q--
	}
	return q * step
}

// updated is h with its newest event now (ms, member) and the tiles starting at each of starts
// replaced by texts (nil: no such tile), older tiles past keepMs behind the newest event left
// out as the script trims them (no window at or after the newest event reaches them). h itself
// is not changed: the cache shares it.
func (ts *tiling) updated(h tileHash, ms, member string, starts []int64, texts []any, inputs []kind, keepMs int64) (tileHash, error) {
	newest, err := decodeNewest(ms, member, inputs)
	if err != nil {
		return tileHash{}, err
	}
	out := tileHash{newest: []event{newest}, tiles: make([]tile, 0, len(h.tiles)+len(starts))}
	out.folded = make([]atomic.Pointer[foldedRange], len(h.folded))
	for _, t := range h.tiles {
		if !slices.Contains(starts, t.start) && (keepMs <= 0 || t.start >= newest.ms-keepMs) {
			out.tiles = append(out.tiles, t)
		}
	}
	for i, start := range starts {
		text, ok := texts[i].(string)
		if !ok {
			continue
		}
		t := tile{start: start, cols: make([]tileParts, len(inputs))}
		if t.count, err = ts.decodeTile(text, inputs, t.cols); err != nil {
			return tileHash{}, fmt.Errorf("tile %d: %w", start, err)
		}
		out.tiles = append(out.tiles, t)
	}
	slices.SortFunc(out.tiles, func(a, b tile) int { return cmp.Compare(a.start, b.start) })
	return out, nil
}

// decodeTile parses [count, [parts of input 0], ...] into cols.
func (ts *tiling) decodeTile(text string, inputs []kind, cols []tileParts) (int64, error) {
	s := tileScanner{memberScanner: memberScanner{text: text}}
	s.expect('[')
	count := s.count()
	for i, letters := range ts.parts {
		k, p := inputs[i], &cols[i]
		s.expect(',')
		s.expect('[')
		for j, c := range letters {
			if j > 0 {
				s.expect(',')
			}
			switch c {
			case 'n':
				p.n = s.count()
			case 's':
				p.sum = s.number(k)
			case 'l':
				p.min = s.scalar(k)
			case 'h':
				p.max = s.scalar(k)
			case 'w':
				p.mean, _ = s.number(kindDouble).(float64)
				s.expect(',')
				p.m2, _ = s.number(kindDouble).(float64)
			case 'd':
				p.distinct = s.distinct(k)
			}
		}
		s.expect(']')
	}
	s.expect(']')
	if s.space(); s.err == nil && s.i != len(text) {
		s.err = s.fail("the end")
	}
	return count, s.err
}

// tileScanner reads a tile field: memberScanner's scalars inside nested arrays. The first error
// sticks, and every later call is a no-op.
type tileScanner struct {
	memberScanner
	err error
}

func (s *tileScanner) expect(c byte) {
	if s.err != nil {
		return
	}
	if s.space(); !s.next(c) {
		s.err = s.fail(strconv.QuoteRune(rune(c)))
	}
}

func (s *tileScanner) scalar(k kind) any {
	if s.err != nil {
		return nil
	}
	s.space()
	raw, err := s.value()
	if err == nil {
		var v any
		if v, err = tileValue(raw, k); err == nil {
			return v
		}
	}
	s.err = err
	return nil
}

func (s *tileScanner) number(k kind) any {
	v := s.scalar(k)
	if v == nil && s.err == nil {
		s.err = fmt.Errorf("null where a number should be")
	}
	return v
}

func (s *tileScanner) count() int64 {
	n, ok := s.number(kindLong).(int64)
	if !ok || n < 0 {
		if s.err == nil {
			s.err = fmt.Errorf("count %d", n)
		}
		return 0
	}
	return n
}

func (s *tileScanner) distinct(k kind) []any {
	s.expect('[')
	if s.space(); s.err != nil || s.next(']') {
		return nil
	}
	var out []any
	for s.err == nil {
		out = append(out, s.number(k))
		if s.space(); !s.next(',') {
			s.expect(']')
			break
		}
	}
	return out
}

// tileValue is logValue for what Lua wrote: every number a double printed with %.17g, so an
// integer may read 1e+20 or 1.2345678901234568e+17.
func tileValue(raw string, k kind) (any, error) {
	v, err := logValue(raw, k)
	if err != nil && k == kindLong {
		if f, ferr := strconv.ParseFloat(raw, 64); ferr == nil && f == math.Trunc(f) && f >= -0x1p63 && f < 0x1p63 {
			return int64(f), nil
		}
	}
	return v, err
}

// evaluateTiles reads the features at t from a key's tiles: seconds_since_prev and last from its
// newest event, exactly; a window w from the tiles starting at or after T - w rounded to the
// nearest tile boundary. A read before the newest event is too early: a tile cannot drop the
// events after t.
func (rt *readTime) evaluateTiles(h tileHash, t int64) reading {
	if len(h.newest) > 0 && t < h.newest[0].ms {
		return reading{tooEarly: true}
	}
	r := reading{missing: len(h.newest) == 0, slots: make([]any, len(rt.aggregates)+len(rt.derived))}
	if len(h.newest) > 0 {
		r.last = &h.newest[0]
	}
	for i, a := range rt.aggregates {
		if a.function == "last" || a.function == "seconds_since_prev" {
			r.slots[i] = as(a.kind, rt.aggregateAt(a, h.newest, t))
		} else {
			r.slots[i] = as(a.kind, h.foldOnce(i, a, rt.tiles.tileMs, t))
		}
	}
	rt.derive(r.slots)
	return r
}

// windowStart is the first tile start a window w folds at t: T - w rounded to the nearest tile
// boundary (halves up), so a window is at most half a tile off at its old end, unbiased.
func windowStart(t, w, tileMs int64) int64 {
	return floorTo(t-w+tileMs/2, tileMs)
}

// foldOnce is fold of the i-th aggregate, from folded when the window covers the same tiles as
// the last read's: the tiles never change under a decoded hash, so the value is the same.
func (h *tileHash) foldOnce(i int, a aggregate, tileMs, t int64) any {
	from := windowStart(t, a.windowMs, tileMs)
	lo := sort.Search(len(h.tiles), func(i int) bool { return h.tiles[i].start >= from })
	hi := max(lo, sort.Search(len(h.tiles), func(i int) bool { return h.tiles[i].start > t }))
	if i >= len(h.folded) {
		return fold(a, h.tiles[lo:hi])
	}
	if last := h.folded[i].Load(); last != nil && last.lo == lo && last.hi == hi {
		return last.value
	}
	value := fold(a, h.tiles[lo:hi])
	h.folded[i].Store(&foldedRange{lo: lo, hi: hi, value: value})
	return value
}

// fold merges aggregate a's parts over its window's tiles, oldest first: the same floats on
// every read.
func fold(a aggregate, window []tile) any {
	if a.input < 0 { // count of events
		var n int64
		for i := range window {
			n += window[i].count
		}
		return n
	}
	col := func(i int) *tileParts { return &window[i].cols[a.input] }
	if a.function == "distinct_count" {
		var values []any
		for i := range window {
			values = append(values, col(i).distinct...)
		}
		return distinctCount(values)
	}
	var n int64
	for i := range window {
		n += col(i).n
	}
	if a.function == "count" {
		return n
	}
	if n == 0 {
		return nil
	}
	switch a.function {
	case "sum", "avg":
		var ints int64
		reals := math.Copysign(0, -1) // -0 is the identity of IEEE addition, as is no tile
		integer := false
		for i := range window {
			if p := col(i); p.n > 0 {
				switch s := p.sum.(type) {
				case int64:
					ints, integer = ints+s, true
				case float64:
					reals += s
				}
			}
		}
		var total any = reals
		if integer {
			total = ints
		}
		if a.function == "avg" {
			return asFloat(total) / float64(n)
		}
		return total
	case "min", "max":
		var best any
		for i := range window {
			p := col(i)
			v := p.max
			if a.function == "min" {
				v = p.min
			}
			if p.n == 0 || v == nil {
				continue
			}
			if best == nil || (a.function == "min" && less(v, best)) || (a.function == "max" && less(best, v)) {
				best = v
			}
		}
		return best
	case "stddev_pop":
		// Chan et al.'s merge of the tiles' Welford (n, mean, m2).
		var count int64
		var mean, m2 float64
		for i := range window {
			p := col(i)
			if p.n == 0 {
				continue
			}
			merged := count + p.n
			delta := p.mean - mean
			mean += delta * float64(p.n) / float64(merged)
			m2 += p.m2 + delta*delta*float64(count)*float64(p.n)/float64(merged)
			count = merged
		}
		return math.Sqrt(m2 / float64(count))
	}
	return nil
}
