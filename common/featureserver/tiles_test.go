package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	testTile = int64(60_000)
	testHour = int64(3_600_000)
)

// testTiledReadTime: inputs amount (BIGINT), price (DOUBLE), merchant (STRING), flag (BOOLEAN),
// one-minute tiles, windows of an hour.
func testTiledReadTime() ReadTimeSpec {
	agg := func(name, fn string, input *int, window *int64, kind string) AggregateSpec {
		return AggregateSpec{Name: name, Function: fn, Input: input, WindowMs: window, Kind: kind}
	}
	w := ptr(testHour)
	return ReadTimeSpec{
		Tiles:  &TilesSpec{Prefix: "fst:merchant:v1:", TileMs: testTile, Parts: []string{"nslhw", "nslhwd", "nd", "d"}},
		KeepMs: testHour + testTile, LastEventRetentionMs: ptr(int64(5 * 86_400_000)),
		Inputs: []LogInputSpec{{"in_0", "BIGINT"}, {"in_1", "DOUBLE"}, {"in_2", "STRING"}, {"in_3", "BOOLEAN"}},
		Aggregates: []AggregateSpec{
			agg("n", "count", nil, w, "BIGINT"),
			agg("n_amount", "count", ptr(0), w, "BIGINT"),
			agg("sum", "sum", ptr(0), w, "BIGINT"),
			agg("avg", "avg", ptr(0), w, "DOUBLE"),
			agg("min", "min", ptr(0), w, "BIGINT"),
			agg("max_price", "max", ptr(1), w, "DOUBLE"),
			agg("price_sum", "sum", ptr(1), w, "DOUBLE"),
			agg("price_sd", "stddev_pop", ptr(1), ptr(10*testTile), "DOUBLE"),
			agg("prices", "distinct_count", ptr(1), w, "BIGINT"),
			agg("merchants", "distinct_count", ptr(2), w, "BIGINT"),
			agg("n_merchant", "count", ptr(2), w, "BIGINT"),
			agg("flags", "distinct_count", ptr(3), w, "BIGINT"),
			agg("last_merchant", "last", ptr(2), nil, "STRING"),
			agg("since", "seconds_since_prev", nil, nil, "DOUBLE"),
		},
		Derived: []DerivedSpec{{Name: "per_event", Expr: &ExprSpec{Op: "/", Args: []*ExprSpec{
			{Op: "ref", Name: "sum"},
			{Op: "nullif", Args: []*ExprSpec{{Op: "ref", Name: "n_amount"}, {Op: "num", Value: ptr(0.0)}}},
		}}}},
	}
}

func compiledTiles(t *testing.T) *readTime {
	t.Helper()
	rt, err := compileReadTime(testTiledReadTime())
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// readTiles decodes a hash and reads it at `at`, failing the test on a bad hash.
func readTiles(t *testing.T, rt *readTime, fields map[string]string, at int64) (reading, map[string]any) {
	t.Helper()
	h, bad := decodeTiles(fields, rt)
	if bad != 0 {
		_, err := rt.tiles.decode(fields, rt.inputs, len(rt.aggregates))
		t.Fatalf("bad hash %v: %v", fields, err)
	}
	r := rt.evaluateTiles(h, at)
	if r.tooEarly {
		return r, nil
	}
	return r, values(rt, r)
}

// luaTiles folds events (in order) into a hash as common/online_tiles.lua does: every number a
// double, written with %.17g.
func luaTiles(rt *readTime, events []event) map[string]string {
	type column struct {
		n, s, mean, m2 float64
		l, h           *float64
		d              []string
	}
	type state struct {
		count float64
		cols  []column
	}
	num := func(x float64) string {
		switch {
		case math.IsNaN(x):
			return `"NaN"`
		case math.IsInf(x, 0):
			return map[bool]string{true: `"Infinity"`, false: `"-Infinity"`}[x > 0]
		}
		return fmt.Sprintf("%.17g", x)
	}
	tiles := map[int64]*state{}
	fields := map[string]string{}
	for _, e := range events {
		start := e.ms - ((e.ms%rt.tiles.tileMs)+rt.tiles.tileMs)%rt.tiles.tileMs // floor
		s := tiles[start]
		if s == nil {
			s = &state{cols: make([]column, len(rt.inputs))}
			tiles[start] = s
		}
		s.count++
		for i, v := range e.values {
			if v == nil {
				continue
			}
			c, x := &s.cols[i], asFloat(v)
			c.n++
			c.s += x
			if c.l == nil || x < *c.l {
				c.l = ptr(x)
			}
			if c.h == nil || x > *c.h {
				c.h = ptr(x)
			}
			delta := x - c.mean
			c.mean += delta / c.n
			c.m2 += delta * (x - c.mean)
			text := num(x)
			if _, ok := v.(float64); !ok {
				text = string(appendValue(nil, v))
			}
			if !strings.Contains(","+strings.Join(c.d, ",")+",", ","+text+",") {
				c.d = append(c.d, text)
			}
		}
		out := []string{num(s.count)}
		for i, letters := range rt.tiles.parts {
			c := s.cols[i]
			var parts []string
			for _, l := range letters {
				switch l {
				case 'n':
					parts = append(parts, num(c.n))
				case 's':
					parts = append(parts, num(c.s))
				case 'l', 'h':
					m := map[rune]*float64{'l': c.l, 'h': c.h}[l]
					if m == nil {
						parts = append(parts, "null")
					} else {
						parts = append(parts, num(*m))
					}
				case 'w':
					parts = append(parts, num(c.mean), num(c.m2))
				case 'd':
					parts = append(parts, "["+strings.Join(c.d, ",")+"]")
				}
			}
			out = append(out, "["+strings.Join(parts, ",")+"]")
		}
		fields[strconv.FormatInt(start, 10)] = "[" + strings.Join(out, ",") + "]"
		fields["@t"] = strconv.FormatInt(e.ms, 10)
		fields["@e"] = member(e)
		if _, ok := fields["@f"]; !ok {
			fields["@f"] = member(e)
		}
	}
	return fields
}

// member writes an event as a log member.
func member(e event) string {
	b := appendString([]byte{'['}, e.id)
	for _, v := range e.values {
		b = appendValue(append(b, ','), v)
	}
	return string(append(b, ']'))
}

// tiledOracle is what a read at `at` must give: every aggregate over the events of [b, at] by
// the log views' functions (b the window start rounded to a tile), last and
// seconds_since_prev from the newest event.
func tiledOracle(rt *readTime, events []event, at int64) map[string]any {
	slots := make([]any, len(rt.aggregates)+len(rt.derived))
	newest := events[len(events)-1:]
	for i, a := range rt.aggregates {
		if a.function == "last" || a.function == "seconds_since_prev" {
			slots[i] = as(a.kind, rt.aggregateAt(a, newest, at))
			continue
		}
		from := windowStart(at, a.windowMs, rt.tiles.tileMs)
		var window []event
		for _, e := range events {
			if e.ms >= from && e.ms <= at {
				window = append(window, e)
			}
		}
		slots[i] = as(a.kind, rt.aggregateAt(a, window, at))
	}
	rt.derive(slots)
	out := map[string]any{}
	for name, slot := range rt.slot {
		out[name] = slots[slot]
	}
	return out
}

// near is equality, floats within 1e-9 relative.
func near(got, want any) bool {
	g, ok1 := got.(float64)
	w, ok2 := want.(float64)
	if !ok1 || !ok2 {
		return got == want
	}
	return g == w || math.Abs(g-w) <= 1e-9*math.Max(math.Abs(g), math.Abs(w))
}

// randomEvents: a busy key over two hours before `end`, a fifth of the inputs null.
func randomEvents(rng *rand.Rand, n int, end int64) []event {
	events := make([]event, n)
	for i := range events {
		ms := end - 2*testHour + int64(i)*2*testHour/int64(n) + rng.Int63n(5)
		values := []any{rng.Int63n(200_000) - 1000, 1e6 + rng.Float64()*1000, fmt.Sprintf("m%d", rng.Intn(12)), rng.Intn(2) == 0}
		for j := range values {
			if rng.Intn(5) == 0 {
				values[j] = nil
			}
		}
		events[i] = event{ms: ms, id: fmt.Sprintf("e%05d", i), values: values}
	}
	return events
}

func TestTileFieldsDecodeEveryPart(t *testing.T) {
	rt := compiledTiles(t)
	fields := map[string]string{
		"@t": "-59000", "@e": `["e9",7,0.5,"m\u00e9",true]`, "@other": "ignored", "note": "ignored",
		"-60000": ` [ 4 , [3, 1e+15 ,-7,1.2345678901234568e+17,2.5,0.10000000000000001],` +
			`[2,"NaN",null,"-Infinity",1,2,[0.10000000000000001,1e+20,"NaN"]],[2,["a","caf\u00e9"]],[[true,false]] ] `,
		"0": `[1,[0,0,null,null,0,0],[0,0,null,null,0,0,[]],[0,[]],[[]]]`,
	}
	h, bad := decodeTiles(fields, rt)
	if bad != 0 || len(h.tiles) != 2 || len(h.newest) != 1 {
		t.Fatalf("bad %d, %+v", bad, h)
	}
	if e := h.newest[0]; e.ms != -59_000 || e.id != "e9" || e.values[0] != int64(7) || e.values[2] != "mé" || e.values[3] != true {
		t.Errorf("@t and @e: %+v", e)
	}
	tl := h.tiles[0]
	if tl.start != -60_000 || tl.count != 4 || h.tiles[1].start != 0 || h.tiles[1].count != 1 {
		t.Errorf("tiles %+v", h.tiles)
	}
	// BIGINT parts are integers however Lua printed them.
	if a := tl.cols[0]; a.n != 3 || a.sum != int64(1e15) || a.min != int64(-7) || a.max != int64(123456789012345680) ||
		a.mean != 2.5 || a.m2 != 0.1 {
		t.Errorf("amount parts %+v", a)
	}
	if p := tl.cols[1]; p.n != 2 || !math.IsNaN(p.sum.(float64)) || p.min != nil || p.max != math.Inf(-1) ||
		p.mean != 1 || p.m2 != 2 || len(p.distinct) != 3 || p.distinct[0] != 0.1 || p.distinct[1] != 1e20 ||
		!math.IsNaN(p.distinct[2].(float64)) {
		t.Errorf("price parts %+v", p)
	}
	if m, f := tl.cols[2], tl.cols[3]; m.n != 2 || len(m.distinct) != 2 || m.distinct[1] != "café" ||
		len(f.distinct) != 2 || f.distinct[0] != true || f.distinct[1] != false {
		t.Errorf("merchant parts %+v, flag parts %+v", m, f)
	}
	if empty := h.tiles[1].cols; empty[0].n != 0 || empty[0].sum != int64(0) || empty[0].min != nil ||
		empty[1].distinct != nil || empty[2].distinct != nil || empty[3].distinct != nil {
		t.Errorf("empty parts %+v", empty)
	}
}

func TestTheWindowStartRoundsToTheNearestTile(t *testing.T) {
	for _, c := range []struct{ t, w, want int64 }{
		{3_630_000, testHour, 60_000}, // T - w + tile/2 = 60000, exactly a boundary
		{3_629_999, testHour, 0},      // T - w = 29999: under half a tile, rounds down
		{-1, testHour, -3_600_000},    // -3570001: floor, not Go's truncation (-3540000)
		{-30_000, 0, 0},
		{-30_001, 0, -60_000},
		{-90_000, 0, -60_000},
		{-90_001, 0, -120_000},
	} {
		if got := windowStart(c.t, c.w, testTile); got != c.want {
			t.Errorf("windowStart(%d, %d) = %d, want %d", c.t, c.w, got, c.want)
		}
	}
	// Tiles at -3..2 minutes, the i-th holding 1<<i events: count(*) says which were folded.
	rt, err := compileReadTime(ReadTimeSpec{
		Tiles: &TilesSpec{Prefix: "fst:x:v1:", TileMs: testTile, Parts: []string{}},
		Aggregates: []AggregateSpec{
			{Name: "n2", Function: "count", WindowMs: ptr(2 * testTile), Kind: "BIGINT"},
			{Name: "n0", Function: "count", WindowMs: ptr(int64(0)), Kind: "BIGINT"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{"@t": "-180000", "@e": `["e"]`}
	for i := range 6 {
		fields[strconv.Itoa((i-3)*60_000)] = fmt.Sprintf("[%d]", 1<<i)
	}
	for _, c := range []struct{ at, n2, n0 int64 }{
		{-150_000, 0b1, 0},   // n2 from -240000 exactly; n0 from -120000 exactly (after T)
		{-150_001, 0b1, 0b1}, // n0 from -180000
		{-1, 0b110, 0},       // n2 from -120000; n0 from 0, after T
		{0, 0b1110, 0b1000},  // -90000 floors to -120000
		{29_999, 0b1110, 0b1000},
		{30_000, 0b1100, 0},    // n2 from -60000; n0 from 60000
		{179_999, 0b110000, 0}, // n2 from 60000: tiles 60000 and 120000
	} {
		_, got := readTiles(t, rt, fields, c.at)
		if got["n2"] != c.n2 || got["n0"] != c.n0 {
			t.Errorf("at %d: n2 %b n0 %b, want %b %b", c.at, got["n2"], got["n0"], c.n2, c.n0)
		}
	}
}

func TestTiledReadsBeforeTheNewestEventAreTooEarly(t *testing.T) {
	rt := compiledTiles(t)
	fields := luaTiles(rt, []event{{ms: 1_000, id: "e1", values: []any{int64(5), 1.5, "a", true}}})
	if r, _ := readTiles(t, rt, fields, 999); !r.tooEarly || r.found() || r.last != nil {
		t.Errorf("T < @t: %+v", r)
	}
	r, got := readTiles(t, rt, fields, 1_000)
	if !r.found() || r.last.id != "e1" || got["n"] != int64(1) || got["sum"] != int64(5) || got["since"] != 0.0 ||
		got["last_merchant"] != "a" {
		t.Errorf("T = @t: %+v %v", r, got)
	}
	// Past last_event_retention_ms seconds_since_prev is null; last stays.
	if _, got := readTiles(t, rt, fields, 1_000+6*86_400_000); got["since"] != nil || got["last_merchant"] != "a" || got["n"] != int64(0) {
		t.Errorf("days later: %v", got)
	}
}

func TestAnUnknownTiledKeyIsAnEmptyHistory(t *testing.T) {
	rt := compiledTiles(t)
	r, got := readTiles(t, rt, map[string]string{}, 1_000)
	if !r.missing || r.found() || r.last != nil {
		t.Errorf("unknown key: %+v", r)
	}
	for name, v := range got {
		counts := strings.HasPrefix(name, "n") || name == "prices" || name == "merchants" || name == "flags"
		if (counts && v != int64(0)) || (!counts && v != nil) {
			t.Errorf("%s = %#v", name, v)
		}
	}
}

func TestTiledAggregatesAreTheLogsOverTheRoundedWindow(t *testing.T) {
	rt := compiledTiles(t)
	rng := rand.New(rand.NewSource(11))
	for round := range 20 {
		end := int64(1_800_000_000_000) + int64(round)*7_777_777
		if round%2 == 1 { // before 1970
			end = -end / 1000
		}
		events := randomEvents(rng, 50+rng.Intn(400), end)
		fields := luaTiles(rt, events)
		newest := events[len(events)-1].ms
		for _, at := range []int64{newest, newest + 1 + rng.Int63n(testTile), end + rng.Int63n(testHour), newest + 2*testHour} {
			_, got := readTiles(t, rt, fields, at)
			for name, want := range tiledOracle(rt, events, at) {
				if !near(got[name], want) {
					t.Errorf("round %d at %d: %s = %#v, want %#v", round, at, name, got[name], want)
				}
			}
		}
	}
}

// One decoded hash, as the cache shares it, read at times whose windows move forward, back and
// stay: each read's fold is the oracle's, never an earlier read's remembered for other tiles.
func TestOneDecodedHashReadAtManyTimesFoldsEachWindow(t *testing.T) {
	rt := compiledTiles(t)
	rng := rand.New(rand.NewSource(5))
	end := int64(1_800_000_000_000)
	events := randomEvents(rng, 300, end)
	h, bad := decodeTiles(luaTiles(rt, events), rt)
	if bad != 0 {
		t.Fatal("bad hash")
	}
	newest := events[len(events)-1].ms
	hits := 0
	for i := range 400 {
		at := newest + rng.Int63n(3*testHour)
		if i%3 == 0 { // the same window again, a few millis on
			at = newest + int64(i)
		}
		r := rt.evaluateTiles(h, at)
		got := values(rt, r)
		for name, want := range tiledOracle(rt, events, at) {
			if !near(got[name], want) {
				t.Fatalf("read %d at %d: %s = %#v, want %#v", i, at, name, got[name], want)
			}
		}
		for j := range h.folded {
			if h.folded[j].Load() != nil {
				hits++
			}
		}
	}
	if hits == 0 {
		t.Fatal("no fold was remembered")
	}
}

func TestTiledStddevMergesWelfordParts(t *testing.T) {
	rt := compiledTiles(t)
	sd := rt.aggregates[rt.slot["price_sd"]]
	rng := rand.New(rand.NewSource(5))
	for round := range 100 {
		base := math.Pow(10, float64(rng.Intn(10)))
		var events []event
		var xs []float64
		at := int64(round) * testHour
		for i := range 2 + rng.Intn(200) {
			// Spread at least 1e-3 of the mean: the script's Welford step itself (not the merge)
			// loses about eps * mean / sd, 1e-7 for values 1e9 apart by 0.1.
			x := base + rng.Float64()*base*math.Pow(10, -float64(rng.Intn(4)))
			ms := at - sd.windowMs + testTile/2 + int64(i)*(sd.windowMs-testTile/2)/250
			events = append(events, event{ms: ms, id: "e" + strconv.Itoa(i), values: []any{nil, x, nil, nil}})
			xs = append(xs, x)
		}
		_, got := readTiles(t, rt, luaTiles(rt, events), at)
		want := exactStddev(xs)
		if g := got["price_sd"].(float64); math.Abs(g-want) > 1e-9*want && math.Abs(g-want) > 1e-9 {
			t.Fatalf("round %d: stddev %v, exact %v over %d values", round, g, want, len(xs))
		}
	}
}

func TestTiledBigintSumsAreIntegers(t *testing.T) {
	rt := compiledTiles(t)
	big := int64(1) << 52
	events := []event{
		{ms: 0, id: "a", values: []any{big + 1, nil, nil, nil}},
		{ms: testTile, id: "b", values: []any{big + 1, nil, nil, nil}},
		{ms: 2 * testTile, id: "c", values: []any{int64(-3), nil, nil, nil}},
	}
	_, got := readTiles(t, rt, luaTiles(rt, events), 2*testTile)
	if got["sum"] != 2*big-1 || got["min"] != int64(-3) || got["avg"] != float64(2*big-1)/3 || got["per_event"] != float64(2*big-1)/3 {
		t.Errorf("sum %#v min %#v avg %#v per_event %#v", got["sum"], got["min"], got["avg"], got["per_event"])
	}
}

func TestDistinctValuesUnionAcrossTiles(t *testing.T) {
	rt := compiledTiles(t)
	empty := `[0,0,null,null,0,0]`
	fields := map[string]string{
		"@t": "120000", "@e": `["e",null,null,null,null]`,
		"0":      `[2,` + empty + `,[2,1,0,1,0.5,0.5,[0,1]],[2,["a","b"]],[[true]]]`,
		"60000":  `[2,` + empty + `,[2,"NaN",-0,"NaN",0,0,[-0,"NaN"]],[2,["b","c"]],[[true]]]`,
		"120000": `[1,` + empty + `,[1,"NaN","NaN","NaN",0,0,["NaN"]],[1,["c"]],[[false]]]`,
	}
	_, got := readTiles(t, rt, fields, 120_000)
	if got["merchants"] != int64(3) || got["prices"] != int64(3) || got["flags"] != int64(2) || got["n_merchant"] != int64(5) {
		t.Errorf("merchants %v prices %v flags %v n_merchant %v", got["merchants"], got["prices"], got["flags"], got["n_merchant"])
	}
}

func TestMalformedTileHashesReadAsNotFound(t *testing.T) {
	rt := compiledTiles(t)
	good := `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`
	e := `["e",5,1.5,"a",true]`
	for _, fields := range []map[string]string{
		{"0": good},                                     // no @t
		{"@t": "1.5", "@e": e, "0": good},               // @t not millis
		{"@t": "1", "0": good},                          // no @e
		{"@t": "1", "@e": `["e",5,1.5,"a"]`, "0": good}, // @e short of an input
		{"@t": "1", "@e": e, "0": `[1`},
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]]]`},             // an input short
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]],[]]`}, // one too many
		{"@t": "1", "@e": e, "0": `[1.5,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`},  // count
		{"@t": "1", "@e": e, "0": `[-1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`},
		{"@t": "1", "@e": e, "0": `[1,[null,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`},
		{"@t": "1", "@e": e, "0": `[1,[1,5.5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`}, // BIGINT sum
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`},     // w short
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`}, // a part too many
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,1.5],[1,["a"]],[[true]]]`},     // d not an array
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,["a",null]],[[true]]]`},
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,1.5,1.5,1.5,1.5,0,[1.5]],[1,[1]],[[true]]]`}, // not a STRING
		{"@t": "1", "@e": e, "0": `[1,[1,5,5,5,5,0],[1,"x",1.5,1.5,1.5,0,[1.5]],[1,["a"]],[[true]]]`},
		{"@t": "1", "@e": e, "0": good + ` x`},
		{"@t": "1", "@e": e, "0": good, "60000": `{}`},
	} {
		h, bad := decodeTiles(fields, rt)
		r := rt.evaluateTiles(h, 100_000)
		if got := values(rt, r); bad != 1 || !r.missing || r.last != nil || got["n"] != int64(0) || got["sum"] != nil {
			t.Errorf("%v: bad %d, %+v", fields, bad, r)
		}
	}
	// Names that are not tile starts are not this reader's.
	_, got := readTiles(t, rt, map[string]string{"@t": "1", "@e": e, "0": good, "@x": "?", "x0": "?", "": "?"}, 1)
	if got["n"] != int64(1) || got["price_sum"] != 1.5 {
		t.Errorf("with unknown names: %v", got)
	}
}

func TestTiledSpecsAreChecked(t *testing.T) {
	for name, change := range map[string]func(*ReadTimeSpec){
		"no prefix":            func(s *ReadTimeSpec) { s.Tiles.Prefix = "" },
		"tile_ms 0":            func(s *ReadTimeSpec) { s.Tiles.TileMs = 0 },
		"tile_ms -1":           func(s *ReadTimeSpec) { s.Tiles.TileMs = -1 },
		"3 parts for 4":        func(s *ReadTimeSpec) { s.Tiles.Parts = s.Tiles.Parts[:3] },
		"unknown letter":       func(s *ReadTimeSpec) { s.Tiles.Parts[3] = "dx" },
		"out of order":         func(s *ReadTimeSpec) { s.Tiles.Parts[0] = "snlhw" },
		"twice":                func(s *ReadTimeSpec) { s.Tiles.Parts[2] = "ndd" },
		"sum without s":        func(s *ReadTimeSpec) { s.Tiles.Parts[0] = "nlhw" },
		"count without n":      func(s *ReadTimeSpec) { s.Tiles.Parts[2] = "d" },
		"distinct without d":   func(s *ReadTimeSpec) { s.Tiles.Parts[1] = "nslhw" },
		"w without n":          func(s *ReadTimeSpec) { s.Tiles.Parts[0] = "slhw" },
		"min of a STRING":      func(s *ReadTimeSpec) { s.Aggregates[4].Input = ptr(2) },
		"min of a STRING, nl":  func(s *ReadTimeSpec) { s.Aggregates[4].Input, s.Tiles.Parts[2] = ptr(2), "nld" },
		"max of a BOOLEAN":     func(s *ReadTimeSpec) { s.Aggregates[5].Input, s.Tiles.Parts[3] = ptr(3), "nhd" },
		"windowless sum":       func(s *ReadTimeSpec) { s.Aggregates[2].WindowMs = nil },
		"windowless count(*)":  func(s *ReadTimeSpec) { s.Aggregates[0].WindowMs = nil },
		"tiles and log":        func(s *ReadTimeSpec) { s.EventsPrefix = "fse:merchant:v1:" },
		"neither tiles or log": func(s *ReadTimeSpec) { s.Tiles = nil },
	} {
		spec := testTiledReadTime()
		spec.Tiles.Parts = append([]string(nil), spec.Tiles.Parts...)
		change(&spec)
		if _, err := compileReadTime(spec); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
	spec := testTiledReadTime()
	spec.Tiles.Parts[3] = "" // flags: no distinct count, nothing kept
	spec.Aggregates = append(spec.Aggregates[:11], spec.Aggregates[12:]...)
	if _, err := compileReadTime(spec); err != nil {
		t.Errorf("an input without parts: %v", err)
	}
}

// tiledPlan serves view card from tiles: count over a second, avg of amount, last flag.
func tiledPlan() Plan {
	plan := testPlan()
	rt := testTiledReadTime()
	rt.Aggregates = append(rt.Aggregates,
		AggregateSpec{Name: "count", Function: "count", WindowMs: ptr(int64(1000)), Kind: "BIGINT"},
		AggregateSpec{Name: "flag", Function: "last", Input: ptr(3), Kind: "BOOLEAN"})
	rt.Tiles.TileMs = 100
	plan.Views[0].ReadTime = &rt
	return plan
}

func TestModelAndViewVectorsFromTiles(t *testing.T) {
	c, err := compile(tiledPlan())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c.view("card", 1)
	events := []event{
		{ms: 1_000, id: "e1", values: []any{int64(10), nil, "a", true}},
		{ms: 1_500, id: "e2", values: []any{int64(30), nil, "b", false}},
	}
	h, bad := decodeTiles(luaTiles(v.rt, events), v.rt)
	m, _ := c.model("m", 2)
	row := modelRow{keys: map[string]string{"card_id": "c1"}, event: map[string]string{"amount": "5"}}
	body, found := m.readJSON(nil, row, []viewRead{{tiles: h}}, 1_800, 3_800, &bad)
	want := `{"model":"m","version":2,"keys":{"card_id":"c1"},"features":{"amount":5,"count":2,"avg":20},` +
		`"as_of":{"card.v1":"1970-01-01T00:00:01.500+00:00"},"staleness_s":{"card.v1":2.3},"missing":[],"too_early":[],` +
		`"read_at":"1970-01-01T00:00:01.800+00:00"}`
	if string(body) != want || found != 1 {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	body, found = m.readJSON(nil, row, []viewRead{{tiles: h}}, 1_400, 3_800, &bad)
	if found != 0 || !strings.Contains(string(body), `"features":{"amount":5,"count":null,"avg":null},"as_of":{"card.v1":null}`) ||
		!strings.Contains(string(body), `"missing":["card.v1"],"too_early":["card.v1"]`) {
		t.Errorf("too early: %s", body)
	}
	// At 2.45 s the second's window starts at 1.5 s (1.45 rounded to a 100 ms tile): e2 only.
	body, ok := v.readJSON(nil, "c1", viewRead{tiles: h}, 2_450, 3_600, &bad)
	want = `{"view":"card","version":1,"key":"c1","found":true,"event_id":"e2","event_time":"1970-01-01T00:00:01.500+00:00",` +
		`"staleness_s":2.1,"features":{"count":1,"avg":20,"flag":false},"too_early":[],"read_at":"1970-01-01T00:00:02.450+00:00"}`
	if string(body) != want || !ok {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	body, ok = v.readJSON(nil, "c1", viewRead{}, 2_600, 3_600, &bad)
	if ok || !strings.HasPrefix(string(body), `{"view":"card","version":1,"key":"c1","found":false,"event_id":null,"event_time":null,"staleness_s":null,"features":{"count":0,"avg":null,"flag":null}`) {
		t.Errorf("absent: %s", body)
	}
	if bad != 0 {
		t.Errorf("bad = %d", bad)
	}
}

// TestTilesWrittenByTheScript folds events with common/online_tiles.lua in a real Redis and reads
// them through the server's pipeline: the script's format and the decoder agree. It runs when
// FEATURESERVER_TEST_REDIS names a Redis (host:port) it may write fst:test:* keys to.
func TestTilesWrittenByTheScript(t *testing.T) {
	addr := os.Getenv("FEATURESERVER_TEST_REDIS")
	if addr == "" {
		t.Skip("FEATURESERVER_TEST_REDIS is not set")
	}
	script, err := os.ReadFile("../online_tiles.lua")
	if err != nil {
		t.Skip(err)
	}
	plan := Plan{Views: []ViewSpec{{Name: "test", Version: 1, Key: "k"}}}
	spec := testTiledReadTime()
	spec.Tiles.Prefix = fmt.Sprintf("fst:test:%d:", time.Now().UnixNano())
	for _, a := range spec.Aggregates {
		plan.Views[0].Features = append(plan.Views[0].Features, FeatureSpec{Name: a.Name, Type: map[string]string{
			"BIGINT": "long", "DOUBLE": "double", "STRING": "string", "BOOLEAN": "boolean"}[a.Kind]})
	}
	plan.Views[0].ReadTime = &spec
	c, err := compile(plan)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c.view("test", 1)
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewSource(3))
	end := int64(1_800_000_000_000)
	keys := []string{"a", "b", "unknown"}
	logs := map[string][]event{}
	for _, key := range keys[:2] {
		logs[key] = randomEvents(rng, 300, end)
		for _, e := range logs[key] {
			folded, err := client.Eval(ctx, string(script), []string{spec.Tiles.Prefix + key}, e.ms, member(e),
				spec.KeepMs, 60_000, spec.Tiles.TileMs, strings.Join(spec.Tiles.Parts, ",")).Int()
			if err != nil || folded != 1 {
				t.Fatalf("%s: %d %v", member(e), folded, err)
			}
		}
		defer client.Del(ctx, spec.Tiles.Prefix+key)
	}
	s := &server{catalog: c, redis: client, tiles: newTileCache(10)}
	at := end + 12_345
	bad := 0
	reads, err := s.readViewsAt(ctx, v, keys, &bad)
	if err != nil || bad != 0 {
		t.Fatalf("read: %v, bad %d", err, bad)
	}
	// Read again: the same hashes, from the cache this time.
	again, err := s.readViewsAt(ctx, v, keys, &bad)
	if err != nil || s.tiles.hits.Load() != 2 || s.tiles.misses.Load() != 2 {
		t.Fatalf("second read: %v, hits %d, misses %d", err, s.tiles.hits.Load(), s.tiles.misses.Load())
	}
	for i := range keys {
		if !reflect.DeepEqual(again[i].tiles, reads[i].tiles) {
			t.Errorf("%s: cached read differs", keys[i])
		}
	}
	for i, key := range keys {
		r := v.rt.evaluateTiles(reads[i].tiles, at)
		if key == "unknown" {
			if !r.missing {
				t.Errorf("unknown key: %+v", r)
			}
			continue
		}
		got := values(v.rt, r)
		for name, want := range tiledOracle(v.rt, logs[key], at) {
			if !near(got[name], want) {
				t.Errorf("%s: %s = %#v, want %#v", key, name, got[name], want)
			}
		}
	}
	// One more event for "a" at the same time as its newest (another id): the cached hash is
	// stale, so the read fetches the new one.
	newest := logs["a"][len(logs["a"])-1]
	for _, e := range logs["a"] {
		if e.ms > newest.ms || (e.ms == newest.ms && e.id > newest.id) {
			newest = e
		}
	}
	next := event{ms: newest.ms, id: newest.id + "~", values: newest.values}
	if _, err := client.Eval(ctx, string(script), []string{spec.Tiles.Prefix + "a"}, next.ms, member(next),
		spec.KeepMs, 60_000, spec.Tiles.TileMs, strings.Join(spec.Tiles.Parts, ",")).Int(); err != nil {
		t.Fatal(err)
	}
	logs["a"] = append(logs["a"], next)
	fresh, err := s.readViewsAt(ctx, v, keys[:1], &bad)
	if err != nil || s.tiles.updates.Load() != 1 || s.tiles.misses.Load() != 2 {
		t.Fatalf("after a new event: %v, updates %d, misses %d (want the cached hash brought up to date)",
			err, s.tiles.updates.Load(), s.tiles.misses.Load())
	}
	got := values(v.rt, v.rt.evaluateTiles(fresh[0].tiles, at))
	for name, want := range tiledOracle(v.rt, logs["a"], at) {
		if !near(got[name], want) {
			t.Errorf("after a new event: %s = %#v, want %#v", name, got[name], want)
		}
	}
	var text map[string]any
	body, _ := v.readJSON(nil, "a", reads[0], at, at, &bad)
	if err := json.Unmarshal(body, &text); err != nil || text["found"] != true {
		t.Errorf("view JSON %s: %v", body, err)
	}
}
