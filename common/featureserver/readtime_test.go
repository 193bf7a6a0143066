package main

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func ptr[T any](v T) *T { return &v }

// testReadTime: inputs amount (BIGINT), merchant (STRING), price (DOUBLE), flag (BOOLEAN).
func testReadTime() ReadTimeSpec {
	agg := func(name, fn string, input *int, window *int64, kind string) AggregateSpec {
		return AggregateSpec{Name: name, Function: fn, Input: input, WindowMs: window, Kind: kind}
	}
	w := ptr(int64(1000))
	return ReadTimeSpec{
		EventsPrefix: "fse:card:v1:", KeepMs: 10_000, MarginMs: 500, LastEventRetentionMs: ptr(int64(5 * 86_400_000)),
		Inputs: []LogInputSpec{{"in_0", "BIGINT"}, {"in_1", "STRING"}, {"in_2", "DOUBLE"}, {"in_3", "BOOLEAN"}},
		Aggregates: []AggregateSpec{
			agg("n", "count", nil, w, "BIGINT"),
			agg("n_amount", "count", ptr(0), w, "BIGINT"),
			agg("sum", "sum", ptr(0), w, "BIGINT"),
			agg("avg", "avg", ptr(0), w, "DOUBLE"),
			agg("min", "min", ptr(0), w, "BIGINT"),
			agg("max_merchant", "max", ptr(1), w, "STRING"),
			agg("min_flag", "min", ptr(3), w, "BOOLEAN"),
			agg("price_sum", "sum", ptr(2), w, "DOUBLE"),
			agg("price_sd", "stddev_pop", ptr(2), w, "DOUBLE"),
			agg("merchants", "distinct_count", ptr(1), w, "BIGINT"),
			agg("amounts", "distinct_count", ptr(0), w, "BIGINT"),
			agg("last_merchant", "last", ptr(1), nil, "STRING"),
			agg("since", "seconds_since_prev", nil, nil, "DOUBLE"),
		},
		Derived: []DerivedSpec{{Name: "per_event", Expr: &ExprSpec{Op: "/", Args: []*ExprSpec{
			{Op: "ref", Name: "sum"},
			{Op: "nullif", Args: []*ExprSpec{{Op: "ref", Name: "n_amount"}, {Op: "num", Value: ptr(0.0)}}},
		}}}},
	}
}

func compiledReadTime(t *testing.T) *readTime {
	t.Helper()
	rt, err := compileReadTime(testReadTime())
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// ev builds an event from member-like values.
func ev(t *testing.T, rt *readTime, ms int64, member string) event {
	t.Helper()
	e, err := decodeMember(member, rt.inputs)
	if err != nil {
		t.Fatalf("%s: %v", member, err)
	}
	e.ms = ms
	return e
}

func values(rt *readTime, r reading) map[string]any {
	out := map[string]any{}
	for name, slot := range rt.slot {
		out[name] = r.slots[slot]
	}
	return out
}

func TestAggregatesOverTheWindowWithBothEndsIncluded(t *testing.T) {
	rt := compiledReadTime(t)
	events := []event{
		ev(t, rt, 8_999, `["e0",1000,"zzz",100.0,false]`), // T - w - 1: outside
		ev(t, rt, 9_000, `["e1",10,"b",1.5,true]`),        // T - w: inside
		ev(t, rt, 9_500, `["e2",null,"a",null,null]`),
		ev(t, rt, 10_000, `["e4",30,"b",2.5,true]`),
		ev(t, rt, 10_000, `["e3",20,"c",3.0E0,false]`), // same millisecond, smaller id
	}
	sortEvents(events)
	got := values(rt, rt.evaluate(events, 10_000))
	want := map[string]any{
		"n": int64(4), "n_amount": int64(3), "sum": int64(60), "avg": 20.0, "min": int64(10),
		"max_merchant": "c", "min_flag": false, "price_sum": 7.0, "merchants": int64(3), "amounts": int64(3),
		"last_merchant": "b", "since": 0.0, "per_event": 20.0,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %#v, want %#v", name, got[name], w)
		}
	}
	if sd := got["price_sd"].(float64); math.Abs(sd-exactStddev([]float64{1.5, 2.5, 3})) > 1e-15 {
		t.Errorf("price_sd = %v", sd)
	}
}

func TestAnEmptyWindowCountsZeroAndAggregatesNull(t *testing.T) {
	rt := compiledReadTime(t)
	events := []event{ev(t, rt, 1_000, `["e1",10,"b",1.5,true]`)}
	const day = 86_400_000
	r := rt.evaluate(events, 1_000+3*day)
	if !r.found() || r.last == nil || r.last.id != "e1" {
		t.Fatalf("reading days later: %+v", r)
	}
	got := values(rt, r)
	for _, name := range []string{"n", "n_amount", "merchants", "amounts"} {
		if got[name] != int64(0) {
			t.Errorf("%s = %#v, want 0", name, got[name])
		}
	}
	for _, name := range []string{"sum", "avg", "min", "max_merchant", "min_flag", "price_sum", "price_sd", "per_event"} {
		if got[name] != nil {
			t.Errorf("%s = %#v, want null", name, got[name])
		}
	}
	if got["last_merchant"] != "b" || got["since"] != float64(3*day)/1000 {
		t.Errorf("last %v, since %v", got["last_merchant"], got["since"])
	}
	// Past last_event_retention_ms, seconds_since_prev is null.
	if got := values(rt, rt.evaluate(events, 1_000+6*day)); got["since"] != nil {
		t.Errorf("since after the retention: %v", got["since"])
	}
}

func TestAllNullInputs(t *testing.T) {
	rt := compiledReadTime(t)
	events := []event{ev(t, rt, 1_000, `["e1",null,null,null,null]`), ev(t, rt, 1_001, `["e2",null,null,null,null]`)}
	got := values(rt, rt.evaluate(events, 1_500))
	if got["n"] != int64(2) || got["n_amount"] != int64(0) || got["sum"] != nil || got["price_sd"] != nil ||
		got["merchants"] != int64(0) || got["last_merchant"] != nil || got["per_event"] != nil {
		t.Errorf("all null: %v", got)
	}
}

func TestReadingBeforeTheNewestEvent(t *testing.T) {
	rt := compiledReadTime(t)
	events := []event{ev(t, rt, 1_000, `["e1",10,"a",1,true]`), ev(t, rt, 2_000, `["e2",20,"b",2,true]`)}
	r := rt.evaluate(events, 1_600) // within the margin (500): events after T are not seen
	got := values(rt, r)
	if !r.found() || got["n"] != int64(1) || got["last_merchant"] != "a" || got["since"] != 0.6 || r.last.ms != 1_000 {
		t.Errorf("within the margin: %+v %v", r, got)
	}
	r = rt.evaluate(events, 900) // before every event, within the margin of none
	if !r.tooEarly || r.found() || r.missing {
		t.Errorf("T < newest - margin: %+v", r)
	}
	r = rt.evaluate(events, 1_499) // 2000 - 500 = 1500 > 1499
	if !r.tooEarly {
		t.Errorf("one millisecond too early: %+v", r)
	}
	if r := rt.evaluate(nil, 1_000); !r.missing || r.found() || values(rt, r)["n"] != int64(0) {
		t.Errorf("no events: an empty history (count 0), reported missing: %+v", r)
	}
}

func TestDistinctCountsValuesNotEvents(t *testing.T) {
	rt := compiledReadTime(t)
	events := []event{
		ev(t, rt, 1, `["a",5,"x",0.0,true]`), ev(t, rt, 2, `["b",5,"x",-0.0,true]`),
		ev(t, rt, 3, `["c",6,"ü",1,true]`), ev(t, rt, 4, `["d",null,null,null,null]`),
	}
	got := values(rt, rt.evaluate(events, 4))
	if got["merchants"] != int64(2) || got["amounts"] != int64(2) {
		t.Errorf("distinct: merchants %v amounts %v", got["merchants"], got["amounts"])
	}
}

func TestSumsAreAccuratelyRounded(t *testing.T) {
	if got := fsum([]float64{1e16, 1, -1e16}); got != 1 {
		t.Errorf("fsum(1e16, 1, -1e16) = %v", got)
	}
	if got := fsum([]float64{1, math.Inf(1)}); !math.IsInf(got, 1) {
		t.Errorf("with +Inf: %v", got)
	}
	if got := fsum([]float64{math.Inf(-1), math.Inf(1)}); !math.IsNaN(got) {
		t.Errorf("-Inf + Inf: %v", got)
	}
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 200; round++ {
		xs := make([]float64, 1+rng.Intn(50))
		exact := new(big.Float).SetPrec(4096)
		for i := range xs {
			xs[i] = (rng.Float64() - 0.5) * math.Pow(10, float64(rng.Intn(40)-20))
			exact.Add(exact, new(big.Float).SetFloat64(xs[i]))
		}
		want, _ := exact.Float64()
		if got := fsum(xs); got != want {
			t.Fatalf("fsum(%v) = %v, exact %v", xs, got, want)
		}
	}
}

func TestStddevOfLargeNearlyEqualValues(t *testing.T) {
	want := math.Sqrt(2.0 / 3)
	if got := stddevPop([]float64{1e9 + 1, 1e9 + 2, 1e9 + 3}); math.Abs(got-want) > 1e-9*want {
		t.Errorf("stddev = %v, want %v", got, want)
	}
	if got := stddevPop([]float64{42.5}); got != 0 {
		t.Errorf("one value: %v", got)
	}
	rng := rand.New(rand.NewSource(3))
	for round := 0; round < 100; round++ {
		xs := make([]float64, 2+rng.Intn(40))
		base := math.Pow(10, float64(rng.Intn(12)))
		for i := range xs {
			xs[i] = base + rng.Float64()*math.Pow(10, float64(rng.Intn(6)-3))
		}
		want := exactStddev(xs)
		got := stddevPop(xs)
		if math.Abs(got-want) > 1e-9*want && math.Abs(got-want) > 1e-9 {
			t.Fatalf("stddev(%v) = %v, exact %v", xs, got, want)
		}
	}
}

func exactStddev(xs []float64) float64 {
	prec := uint(4096)
	n := new(big.Float).SetPrec(prec).SetInt64(int64(len(xs)))
	sum := new(big.Float).SetPrec(prec)
	for _, x := range xs {
		sum.Add(sum, big.NewFloat(x))
	}
	mean := new(big.Float).SetPrec(prec).Quo(sum, n)
	ss := new(big.Float).SetPrec(prec)
	for _, x := range xs {
		d := new(big.Float).SetPrec(prec).Sub(big.NewFloat(x), mean)
		ss.Add(ss, new(big.Float).SetPrec(prec).Mul(d, d))
	}
	variance := new(big.Float).SetPrec(prec).Quo(ss, n)
	sd, _ := new(big.Float).SetPrec(prec).Sqrt(variance).Float64()
	return sd
}

func TestStringsCompareAsJavaDoes(t *testing.T) {
	// U+1F600 sorts after U+FF61 in UTF-8 bytes, before it in UTF-16 (Java: D83D < FF61).
	if compareUTF16("\U0001F600", "\uFF61") >= 0 || compareUTF16("a", "b") >= 0 || compareUTF16("ab", "a") <= 0 ||
		compareUTF16("\U0001F600", "\U0001F601") >= 0 || compareUTF16("é", "é") != 0 {
		t.Error("compareUTF16 does not follow UTF-16 code units")
	}
	if !less("\U0001F600", "\uFF61") || less("\uFF61", "\U0001F600") {
		t.Error("less on strings is not Java's order")
	}
}

func TestDerivedExpressions(t *testing.T) {
	slots := []any{int64(10), int64(0), nil, 2.5}
	spec := func(op string, args ...*ExprSpec) *ExprSpec { return &ExprSpec{Op: op, Args: args} }
	ref := func(name string) *ExprSpec { return &ExprSpec{Op: "ref", Name: name} }
	num := func(v float64) *ExprSpec { return &ExprSpec{Op: "num", Value: ptr(v)} }
	lookup := func(name string) (int, bool) { i := strings.Index("abcd", name); return i, i >= 0 }
	cases := []struct {
		e    *ExprSpec
		want any
	}{
		{spec("/", ref("a"), spec("nullif", ref("b"), num(0))), nil},
		{spec("/", ref("a"), ref("b")), math.Inf(1)},
		{spec("+", ref("a"), ref("c")), nil},
		{spec("coalesce", ref("c"), ref("d"), num(1)), 2.5},
		{spec("abs", spec("neg", spec("*", ref("d"), num(2)))), 5.0},
		{spec("-", ref("a"), ref("d")), 7.5},
		{spec("nullif", ref("a"), ref("c")), 10.0},
	}
	for _, c := range cases {
		e, err := compileExpr(c.e, lookup)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if x, ok := e.eval(slots); ok {
			got = x
		}
		if got != c.want {
			t.Errorf("%+v = %v, want %v", c.e, got, c.want)
		}
	}
	if _, err := compileExpr(spec("/", ref("a")), lookup); err == nil {
		t.Error("compiled / with one argument")
	}
	if _, err := compileExpr(ref("zz"), lookup); err == nil {
		t.Error("compiled a ref to nothing")
	}
}

func TestLogMembersDecodeByKind(t *testing.T) {
	kinds := []kind{kindLong, kindDouble, kindDouble, kindDouble, kindString, kindBool}
	e, err := decodeMember(`["id\"1",1250,1.0E10,"NaN","-Infinity","caf\u00e9",true]`, kinds)
	if err != nil {
		t.Fatal(err)
	}
	if e.id != `id"1` || e.values[0] != int64(1250) || e.values[1] != 1e10 || !math.IsNaN(e.values[2].(float64)) ||
		!math.IsInf(e.values[3].(float64), -1) || e.values[4] != "café" || e.values[5] != true {
		t.Errorf("decoded %#v", e)
	}
	for _, bad := range []string{`not json`, `["id",1,2.0,3.0,4.0,"s"]`, `["id",1.5,2.0,3.0,4.0,"s",true]`,
		`["id",1,"x",3.0,4.0,"s",true]`, `[7,1,2.0,3.0,4.0,"s",true]`, `["id",1,2.0,3.0,4.0,5,true]`, `["id",1,2.0,3.0,4.0,"s","yes"]`} {
		if _, err := decodeMember(bad, kinds); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
	events, bad := decodeLog([]redis.Z{
		{Score: 2, Member: `["b",1,1.0,1.0,1.0,"s",true]`}, {Score: 2, Member: `["a",1,1.0,1.0,1.0,"s",true]`},
		{Score: 1, Member: `garbage`}, {Score: 1, Member: `["c",1,1.0,1.0,1.0,"s",false]`},
	}, kinds)
	if bad != 1 || len(events) != 3 || events[0].id != "c" || events[1].id != "a" || events[2].id != "b" {
		t.Errorf("decodeLog: %d bad, %+v", bad, events)
	}
}

func readTimePlan() Plan {
	plan := testPlan()
	rt := testReadTime()
	rt.Aggregates = append(rt.Aggregates,
		AggregateSpec{Name: "count", Function: "count", WindowMs: ptr(int64(1000)), Kind: "BIGINT"},
		AggregateSpec{Name: "flag", Function: "last", Input: ptr(3), Kind: "BOOLEAN"})
	rt.Derived = append(rt.Derived, DerivedSpec{Name: "avg", Expr: &ExprSpec{Op: "ref", Name: "avg"}})
	rt.Aggregates[3].Name = "avg_amount"
	rt.Derived[1].Expr.Name = "avg_amount"
	plan.Views[0].ReadTime = &rt
	return plan
}

func TestModelAndViewVectorsAtAReadTime(t *testing.T) {
	c, err := compile(readTimePlan())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := c.model("m", 2)
	rt := m.views[0].rt
	events := []event{ev(t, rt, 1_000, `["e1",10,"a",1,true]`), ev(t, rt, 1_500, `["e2",30,"b",2,false]`)}
	row := modelRow{keys: map[string]string{"card_id": "c1"}, event: map[string]string{"amount": "5"}}
	bad := 0
	body, found := m.readJSON(nil, row, []viewRead{{events: events}}, 1_800, 3_800, &bad)
	want := `{"model":"m","version":2,"keys":{"card_id":"c1"},"features":{"amount":5,"count":2,"avg":20},` +
		`"as_of":{"card.v1":"1970-01-01T00:00:01.500+00:00"},"staleness_s":{"card.v1":2.3},"missing":[],"too_early":[],` +
		`"read_at":"1970-01-01T00:00:01.800+00:00"}`
	if string(body) != want || found != 1 {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	body, found = m.readJSON(nil, row, []viewRead{{events: events}}, 900, 3_800, &bad)
	if found != 0 || !strings.Contains(string(body), `"features":{"amount":5,"count":null,"avg":null},"as_of":{"card.v1":null}`) ||
		!strings.Contains(string(body), `"missing":["card.v1"],"too_early":["card.v1"]`) {
		t.Errorf("too early: %s", body)
	}
	v, _ := c.view("card", 1)
	body, ok := v.readJSON(nil, "c1", viewRead{events: events}, 2_400, 3_600, &bad)
	want = `{"view":"card","version":1,"key":"c1","found":true,"event_id":"e2","event_time":"1970-01-01T00:00:01.500+00:00",` +
		`"staleness_s":2.1,"features":{"count":1,"avg":30,"flag":false},"too_early":[],"read_at":"1970-01-01T00:00:02.400+00:00"}`
	if string(body) != want || !ok {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	body, ok = v.readJSON(nil, "c1", viewRead{}, 2_600, 3_600, &bad)
	if ok || !strings.HasPrefix(string(body), `{"view":"card","version":1,"key":"c1","found":false,"event_id":null,"event_time":null,"staleness_s":null,"features":{"count":0,"avg":null`) {
		t.Errorf("absent: %s", body)
	}
	if bad != 0 {
		t.Errorf("bad = %d", bad)
	}
}

func TestAViewWithoutAReadTimePlanIsServedAsStored(t *testing.T) {
	c, _ := compile(testPlan())
	m, _ := c.model("m", 2)
	bad := 0
	row := modelRow{keys: map[string]string{"card_id": "c1"}, event: map[string]string{}}
	body, found := m.readJSON(nil, row, []viewRead{{stored: []any{"3", "2.5", "1000"}}}, 4_000, 3_500, &bad)
	if found != 1 || !strings.Contains(string(body), `"features":{"amount":null,"count":3,"avg":2.5},"as_of":{"card.v1":"1970-01-01T00:00:01.000+00:00"}`) {
		t.Errorf("stored: %s", body)
	}
}

func TestPlansNamingUnknownFeaturesOrFunctionsAreRefused(t *testing.T) {
	plan := readTimePlan()
	plan.Views[0].ReadTime.Aggregates[0].Function = "median"
	if _, err := compile(plan); err == nil || !strings.Contains(err.Error(), "median") {
		t.Errorf("unknown function: %v", err)
	}
	plan = readTimePlan()
	plan.Views[0].Features = append(plan.Views[0].Features, FeatureSpec{Name: "nowhere", Type: "long"})
	if _, err := compile(plan); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("unknown feature: %v", err)
	}
}

func TestAsOfParsing(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixMilli()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	for text, want := range map[string]int64{
		"1796205600000":                    1796205600000,
		"2026-12-02T10:00:00Z":             at,
		"2026-12-02T10:00:00.123+00:00":    at + 123,
		"2026-12-02T11:00:00.123456+01:00": at + 123,
		"2026-12-02T10:00:00+0000":         at,
		"2026-12-02 10:00:00Z":             at,
	} {
		got, err := parseAsOf(text, now)
		if err != nil || got != want {
			t.Errorf("parseAsOf(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	for text, msg := range map[string]string{
		"2026-12-02T10:00:00":  "needs its zone",
		"yesterday":            "neither epoch milliseconds",
		"2026-12-02T13:00:00Z": "is later than now",
		"1896205600000":        "is later than now",
	} {
		if _, err := parseAsOf(text, now); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("parseAsOf(%q): %v, want %q", text, err, msg)
		}
	}
	if r, err := parseReadAt("", "", now); err != nil || r.lastEvent || r.ms != now {
		t.Errorf("default: %+v %v", r, err)
	}
	if r, err := parseReadAt("", "last_event", now); err != nil || !r.lastEvent {
		t.Errorf("last_event: %+v %v", r, err)
	}
	for _, c := range [][2]string{{"", "bogus"}, {"1000", "last_event"}} {
		if _, err := parseReadAt(c[0], c[1], now); err == nil {
			t.Errorf("parseReadAt(%q, %q) accepted", c[0], c[1])
		}
	}
}

// testServer has no Redis behind it: requests refused before the read answer 400; those that
// read answer 503.
func testServer(t *testing.T) http.Handler {
	t.Helper()
	c, err := compile(readTimePlan())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	s := &server{catalog: c, redis: client, metrics: newMetrics(), maxBatch: 10, timeout: 100 * time.Millisecond}
	return s.routes()
}

func TestReadTimeRequestParameters(t *testing.T) {
	h := testServer(t)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		method, path, body string
		status             int
		message            string
	}{
		{"GET", "/models/m/features?card_id=c&as_of=" + future, "", 400, "is later than now"},
		{"GET", "/models/m/features?card_id=c&as_of=noon", "", 400, "as_of"},
		{"GET", "/models/m/features?card_id=c&at=bogus", "", 400, "the only value is"},
		{"GET", "/views/card/features?card_id=c&as_of=" + future, "", 400, "is later than now"},
		{"GET", "/views/card/features?card_id=c&at=yesterday", "", 400, "at="},
		{"POST", "/models/m/features", `{"rows":[{"card_id":"c"}],"as_of":"` + future + `"}`, 400, "is later than now"},
		{"POST", "/models/m/features", `{"rows":[{"card_id":"c","as_of":"` + future + `"}]}`, 400, "rows[0]"},
		{"POST", "/models/m/features", `{"rows":[{"card_id":"c"}],"at":"now"}`, 400, "the only value is"},
		{"POST", "/views/card/features", `{"keys":["c"],"as_of":"` + future + `"}`, 400, "is later than now"},
		// Accepted parameters reach the store (here: none, so 503).
		{"GET", "/models/m/features?card_id=c&at=last_event", "", 503, "online store unavailable"},
		{"GET", "/models/m/features?card_id=c&as_of=2026-01-02T10:00:00Z", "", 503, "online store unavailable"},
		{"GET", "/views/card/features?card_id=c&as_of=1000", "", 503, "online store unavailable"},
		{"POST", "/models/m/features", `{"rows":[{"card_id":"c","as_of":1000}],"as_of":"2026-01-02T10:00:00.123+00:00"}`, 503, "online store unavailable"},
		{"POST", "/views/card/features", `{"keys":["c"],"at":"last_event"}`, 503, "online store unavailable"},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		status := rec.Code
		if status == http.StatusGatewayTimeout { // the dial may outlast the deadline
			status = http.StatusServiceUnavailable
		}
		if status != c.status || !strings.Contains(body.Error, c.message) {
			t.Errorf("%s %s %s: %d %s, want %d %q", c.method, c.path, c.body, rec.Code, rec.Body, c.status, c.message)
		}
	}
}
