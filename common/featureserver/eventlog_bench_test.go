package main

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A merchant's log as the payment jobs write it: 150 events in the last hour, inputs
// amount_usd_cents (BIGINT) and card_id (STRING), read by payment_merchant's count, sum and
// distinct_count over 1 h.

const benchT = int64(1_700_000_000_000)

var benchInputs = []kind{kindLong, kindString}

func benchMembers(n int) []redis.Z {
	out := make([]redis.Z, n)
	for i := range out {
		out[i] = redis.Z{
			// Ascending scores, a few sharing a millisecond, as ZRANGE returns them.
			Score:  float64(benchT - 3_500_000 + int64(i/2)*20_000 + int64(i%2)),
			Member: fmt.Sprintf(`["pay-bench-12-%d-%010x",%d,"tok_bench%05x%s"]`, i, 0xa1b2c3d4+i*7919, 1000+i*37%50_000, i%40, "a2"),
		}
	}
	return out
}

func benchMerchantView(b *testing.B) *readTime {
	return benchMerchant(b, ReadTimeSpec{EventsPrefix: "fse:payment_merchant:v1:", KeepMs: 3_600_000, MarginMs: 60_000})
}

// benchMerchant compiles payment_merchant's aggregates over where (a log or tiles).
func benchMerchant(b *testing.B, where ReadTimeSpec) *readTime {
	h := ptr(int64(3_600_000))
	where.Inputs = []LogInputSpec{{"amount_usd_cents", "BIGINT"}, {"card_id", "STRING"}}
	where.Aggregates = []AggregateSpec{
		{Name: "merchant_txn_count_1h", Function: "count", WindowMs: h, Kind: "BIGINT"},
		{Name: "merchant_amount_usd_sum_1h", Function: "sum", Input: ptr(0), WindowMs: h, Kind: "BIGINT"},
		{Name: "merchant_distinct_cards_1h", Function: "distinct_count", Input: ptr(1), WindowMs: h, Kind: "BIGINT"},
	}
	rt, err := compileReadTime(where)
	if err != nil {
		b.Fatal(err)
	}
	return rt
}

func BenchmarkDecodeLog(b *testing.B) {
	members := benchMembers(150)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		events, bad := decodeLog(members, benchInputs)
		if bad != 0 || len(events) != 150 {
			b.Fatalf("%d bad, %d events", bad, len(events))
		}
	}
}

func BenchmarkEvaluateMerchant(b *testing.B) {
	rt := benchMerchantView(b)
	events, _ := decodeLog(benchMembers(150), rt.inputs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := rt.evaluate(events, benchT)
		if r.slots[0] != int64(150) {
			b.Fatalf("count %v", r.slots[0])
		}
	}
}

// BenchmarkLookupMerchant is the server's work on one read-time lookup's log: decode, evaluate.
func BenchmarkLookupMerchant(b *testing.B) {
	rt := benchMerchantView(b)
	members := benchMembers(150)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		events, _ := decodeLog(members, rt.inputs)
		r := rt.evaluate(events, benchT)
		if r.slots[0] != int64(150) {
			b.Fatalf("count %v", r.slots[0])
		}
	}
}

// benchMerchantTiles is a merchant's tile hash as online_tiles.lua writes it: 150 payments in
// the last hour in one-minute tiles, amount parts "ns", card_id parts "d".
func benchMerchantTiles(b *testing.B) (*readTime, map[string]string) {
	rt := benchMerchant(b, ReadTimeSpec{
		Tiles:  &TilesSpec{Prefix: "fst:payment_merchant:v1:", TileMs: 60_000, Parts: []string{"ns", "d"}},
		KeepMs: 3_660_000,
	})
	fields := map[string]string{}
	members := benchMembers(150)
	for i := 0; i < 150; i += 3 {
		start := (int64(members[i].Score) / 60_000) * 60_000
		text := fmt.Sprintf(`[3,[3,%d],[["tok_bench%05xa2","tok_bench%05xa2","tok_bench%05xa2"]]]`, 3000+i, i%40, (i+1)%40, (i+2)%40)
		fields[fmt.Sprint(start)] = text
	}
	fields["@t"] = fmt.Sprint(int64(members[149].Score))
	fields["@e"] = members[149].Member.(string)
	return rt, fields
}

func BenchmarkEvaluateMerchantTiles(b *testing.B) {
	rt, fields := benchMerchantTiles(b)
	h, bad := decodeTiles(fields, rt)
	if bad != 0 {
		b.Fatal("bad tiles")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := rt.evaluateTiles(h, benchT)
		if r.slots[0] == int64(0) {
			b.Fatalf("count %v", r.slots[0])
		}
	}
}

func BenchmarkLookupCard(b *testing.B) {
	h := ptr(int64(86_400_000))
	rt, err := compileReadTime(ReadTimeSpec{
		EventsPrefix: "fse:payment_card:v1:", KeepMs: 86_400_000, MarginMs: 60_000,
		Inputs: []LogInputSpec{{"amount_usd_cents", "BIGINT"}, {"card_id", "STRING"}},
		Aggregates: []AggregateSpec{
			{Name: "c10m", Function: "count", WindowMs: ptr(int64(600_000)), Kind: "BIGINT"},
			{Name: "c1h", Function: "count", WindowMs: ptr(int64(3_600_000)), Kind: "BIGINT"},
			{Name: "c24h", Function: "count", WindowMs: h, Kind: "BIGINT"},
			{Name: "s1h", Function: "sum", Input: ptr(0), WindowMs: ptr(int64(3_600_000)), Kind: "BIGINT"},
			{Name: "s24h", Function: "sum", Input: ptr(0), WindowMs: h, Kind: "BIGINT"},
			{Name: "a24h", Function: "avg", Input: ptr(0), WindowMs: h, Kind: "DOUBLE"},
			{Name: "m24h", Function: "max", Input: ptr(0), WindowMs: h, Kind: "BIGINT"},
			{Name: "d24h", Function: "distinct_count", Input: ptr(1), WindowMs: h, Kind: "BIGINT"},
			{Name: "ssp", Function: "seconds_since_prev", Kind: "DOUBLE"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	members := benchMembers(10)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		events, _ := decodeLog(members, rt.inputs)
		r := rt.evaluate(events, benchT)
		if r.slots[2] != int64(10) {
			b.Fatalf("count %v", r.slots[2])
		}
	}
}
