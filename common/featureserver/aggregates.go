package main

import (
	"math"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// The aggregate functions over the non-null input values of a window, with Flink SQL's
// results: null where SQL gives null (no value), counts 0.

// fsum is the correctly rounded sum of xs: Shewchuk's partials, as Python's math.fsum.
// NaN in xs, or +Inf with -Inf, gives NaN; an infinity otherwise gives that infinity.
func fsum(xs []float64) float64 {
	var partials []float64
	special := 0.0
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			special += x
			continue
		}
		i := 0
		for _, y := range partials {
			if math.Abs(x) < math.Abs(y) {
				x, y = y, x
			}
			hi := x + y
			lo := y - (hi - x)
			if lo != 0 {
				partials[i] = lo
				i++
			}
			x = hi
		}
		partials = append(partials[:i], x)
	}
	if special != 0 || math.IsNaN(special) {
		return special
	}
	n := len(partials)
	if n == 0 {
		return 0
	}
	n--
	hi := partials[n]
	lo := 0.0
	for n > 0 {
		x := hi
		n--
		y := partials[n]
		hi = x + y
		lo = y - (hi - x)
		if lo != 0 {
			break
		}
	}
	// Round half to even across the partials left over, as math.fsum does.
	if n > 0 && ((lo < 0 && partials[n-1] < 0) || (lo > 0 && partials[n-1] > 0)) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}

// stddevPop is the population standard deviation: corrected two-pass over accurate sums.
func stddevPop(xs []float64) float64 {
	n := float64(len(xs))
	mean := fsum(xs) / n
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		return math.NaN()
	}
	d := make([]float64, len(xs))
	d2 := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = x - mean
		d2[i] = d[i] * d[i]
	}
	s := fsum(d)
	variance := (fsum(d2) - s*s/n) / n
	if variance < 0 {
		variance = 0
	}
	return math.Sqrt(variance)
}

// less orders two non-null values of one kind: numbers numerically, false before true, strings
// as Java's String.compareTo (UTF-16 code units).
func less(a, b any) bool {
	switch x := a.(type) {
	case int64:
		return x < b.(int64)
	case float64:
		return x < b.(float64)
	case bool:
		return !x && b.(bool)
	case string:
		return compareUTF16(x, b.(string)) < 0
	}
	return false
}

// compareUTF16 compares as Java does. UTF-8 byte order equals code point order, which differs
// from UTF-16 order only where a supplementary character (surrogate pair) meets U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := utf16Units(ra), utf16Units(rb)
			for i := 0; i < len(ua) && i < len(ub); i++ {
				if ua[i] != ub[i] {
					return int(ua[i]) - int(ub[i])
				}
			}
			return len(ua) - len(ub)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func utf16Units(r rune) []uint16 {
	if r < 0x10000 {
		return []uint16{uint16(r)}
	}
	hi, lo := utf16.EncodeRune(r)
	return []uint16{uint16(hi), uint16(lo)}
}

type nanKey struct{}

// distinctKey makes equal values equal map keys: every NaN one value, -0 the same as 0.
func distinctKey(v any) any {
	if f, ok := v.(float64); ok {
		if math.IsNaN(f) {
			return nanKey{}
		}
		if f == 0 {
			return 0.0
		}
	}
	return v
}

// distinctCount is the number of distinct non-null values; strings and integers without
// boxing them into map keys.
func distinctCount(values []any) int64 {
	if len(values) == 0 {
		return 0
	}
	switch values[0].(type) {
	case string:
		if n, ok := distinctOf[string](values); ok {
			return n
		}
	case int64:
		if n, ok := distinctOf[int64](values); ok {
			return n
		}
	}
	seen := make(map[any]struct{}, len(values))
	for _, v := range values {
		seen[distinctKey(v)] = struct{}{}
	}
	return int64(len(seen))
}

// distinctOf counts distinct values all of type T; ok is false when one is not.
func distinctOf[T comparable](values []any) (int64, bool) {
	seen := make(map[T]struct{}, len(values))
	for _, v := range values {
		x, ok := v.(T)
		if !ok {
			return 0, false
		}
		seen[x] = struct{}{}
	}
	return int64(len(seen)), true
}

// aggregateValues computes fn over a window's values (nulls included, skipped here).
func aggregateValues(fn string, k kind, values []any) any {
	nonNull := values
	for i, v := range values {
		if v == nil {
			nonNull = slices.Clip(values[:i])
			for _, v := range values[i+1:] {
				if v != nil {
					nonNull = append(nonNull, v)
				}
			}
			break
		}
	}
	switch fn {
	case "count":
		return int64(len(nonNull))
	case "distinct_count":
		return distinctCount(nonNull)
	}
	if len(nonNull) == 0 {
		return nil
	}
	switch fn {
	case "min", "max":
		best := nonNull[0]
		for _, v := range nonNull[1:] {
			if (fn == "min" && less(v, best)) || (fn == "max" && less(best, v)) {
				best = v
			}
		}
		return best
	case "sum":
		if k == kindLong {
			if total, ok := intSum(nonNull); ok {
				return total
			}
		}
		return fsum(floats(nonNull))
	case "avg":
		if total, ok := intSum(nonNull); ok {
			return float64(total) / float64(len(nonNull))
		}
		return fsum(floats(nonNull)) / float64(len(nonNull))
	case "stddev_pop":
		return stddevPop(floats(nonNull))
	}
	return nil
}

// intSum sums integer values (wrapping like Java's long); ok is false for any other kind.
func intSum(values []any) (int64, bool) {
	var total int64
	for _, v := range values {
		n, ok := v.(int64)
		if !ok {
			return 0, false
		}
		total += n
	}
	return total, true
}

func floats(values []any) []float64 {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		out = append(out, asFloat(v))
	}
	return out
}

// asFloat is a non-null value as float64 (booleans 1 and 0, strings NaN).
func asFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	}
	return math.NaN()
}
