package main

import (
	"fmt"
	"math/rand"
	"reflect"
	"strconv"
	"testing"
)

func TestTileCacheStaysBounded(t *testing.T) {
	c := newTileCache(16)
	e := cachedTiles{newestMs: "5", newestMember: `["p",1]`, hash: tileHash{newest: []event{{ms: 5, id: "p"}}}}
	for i := 0; i < 100; i++ {
		c.put(fmt.Sprint(i), e)
	}
	if n := len(c.entries); n > 16 || n == 0 {
		t.Errorf("%d entries, bound 16", n)
	}
	c.put("empty", cachedTiles{}) // an absent key is never cached
	if _, ok := c.entry("empty"); ok {
		t.Error("cached a key without a hash")
	}
	var off *tileCache
	off.put("k", e)
	off.count(cacheHit)
	if _, ok := off.entry("k"); ok {
		t.Error("nil cache: want no entry")
	}
}

// cachedRead is one tiled read of "k" through pipelineReads.fromCache, the cache holding
// `cached` (a hash as the script writes it) and Redis holding `stored`: what the first round
// trip's HMGET returns for the fields add asks for.
func cachedRead(t *testing.T, rt *readTime, cached, stored map[string]string) (tileHash, bool, *tileCache) {
	t.Helper()
	c := newTileCache(8)
	h, bad := decodeTiles(cached, rt)
	if bad != 0 {
		t.Fatal("bad cached hash")
	}
	c.put("k", cachedTiles{newestMs: cached["@t"], newestMember: cached["@e"], first: cached["@f"], hash: h})
	entry, _ := c.entry("k")
	at := rt.tiles.tileStart(h.newest[0].ms)
	starts := []int64{at, at + rt.tiles.tileMs}
	got := []any{}
	for _, name := range []string{"@t", "@e", "@f", strconv.FormatInt(starts[0], 10), strconv.FormatInt(starts[1], 10)} {
		if v, ok := stored[name]; ok {
			got = append(got, v)
		} else {
			got = append(got, nil)
		}
	}
	p := pipelineReads{cache: c, rts: []*readTime{rt}, keys: []string{"k"}, entries: []cachedTiles{entry}, starts: [][]int64{starts}}
	out, ok := p.fromCache(0, got, c)
	return out, ok, c
}

// A cached hash is brought up to date from the two tiles read with the newest event exactly when
// those are all a new event can have changed; the result reads as the whole hash does.
func TestTheCachedHashIsUpdatedOnlyFromTilesThatCoverEveryChange(t *testing.T) {
	rt := compiledTiles(t)
	rng := rand.New(rand.NewSource(8))
	events := randomEvents(rng, 900, int64(1_800_000_000_000)) // ~8 s apart: several per tile
	updates, misses := 0, 0
	for round := 0; round < 200; round++ {
		k := 50 + rng.Intn(700)
		j := 1 + rng.Intn(30)
		if round%4 == 0 {
			j = 1 // the next event: most often the same tile
		}
		cached, stored := luaTiles(rt, events[:k]), luaTiles(rt, events[:k+j])
		newest, oldNewest := events[k+j-1].ms, events[k-1].ms
		covered := rt.tiles.tileStart(newest) <= rt.tiles.tileStart(oldNewest)+rt.tiles.tileMs
		h, ok, c := cachedRead(t, rt, cached, stored)
		if ok != covered || (ok && c.updates.Load() != 1) || (!ok && c.misses.Load() != 1) {
			t.Fatalf("round %d: %d events after the cached one, from tile %d to %d: ok %v, counts %d/%d/%d",
				round, j, oldNewest, newest, ok, c.hits.Load(), c.updates.Load(), c.misses.Load())
		}
		if !ok {
			misses++
			continue
		}
		updates++
		for _, at := range []int64{newest, newest + rng.Int63n(testHour), newest + 2*testHour} {
			got := values(rt, rt.evaluateTiles(h, at))
			for name, want := range tiledOracle(rt, events[:k+j], at) {
				if !near(got[name], want) {
					t.Fatalf("round %d at %d: %s = %#v, want %#v", round, at, name, got[name], want)
				}
			}
		}
		// The cache now holds the updated hash; the cached one was left as it was.
		if entry, _ := c.entry("k"); !reflect.DeepEqual(entry.hash.tiles, h.tiles) || entry.newestMs != stored["@t"] {
			t.Fatalf("round %d: the cache does not hold the updated hash", round)
		}
	}
	if updates < 20 || misses < 20 {
		t.Fatalf("%d updates, %d misses: the rounds do not test both", updates, misses)
	}
}

func TestTheCachedHashIsFetchedWholeWhenItWasCreatedAgain(t *testing.T) {
	rt := compiledTiles(t)
	events := randomEvents(rand.New(rand.NewSource(9)), 300, int64(1_800_000_000_000))
	cached := luaTiles(rt, events[:200])
	for name, stored := range map[string]map[string]string{
		// Expired and written again from later events: another first event.
		"created again": luaTiles(rt, events[150:201]),
		// Written by a script that kept no first event.
		"no first event": func() map[string]string {
			f := luaTiles(rt, events[:201])
			delete(f, "@f")
			return f
		}(),
	} {
		if _, ok, c := cachedRead(t, rt, cached, stored); ok || c.misses.Load() != 1 {
			t.Errorf("%s: want a miss (fetched whole)", name)
		}
	}
	if _, ok, c := cachedRead(t, rt, cached, cached); !ok || c.hits.Load() != 1 {
		t.Error("the same newest event: want a hit")
	}
}
