package main

import (
	"fmt"
	"testing"
)

func TestTileCacheHitsOnlyTheSameNewestEventAndStaysBounded(t *testing.T) {
	c := newTileCache(16)
	h := tileHash{newest: []event{{ms: 5, id: "p"}}}
	fields := map[string]string{"@t": "5", "@e": `["p",1]`}
	c.put("k", fields, h)
	if _, ok := c.get("k", "5", `["p",1]`); !ok {
		t.Error("same newest event: want a hit")
	}
	for _, other := range [][2]string{{"6", `["p",1]`}, {"5", `["q",1]`}} {
		if _, ok := c.get("k", other[0], other[1]); ok {
			t.Errorf("newest %v: want a miss", other)
		}
	}
	if c.hits.Load() != 1 || c.misses.Load() != 2 {
		t.Errorf("hits %d misses %d", c.hits.Load(), c.misses.Load())
	}
	for i := 0; i < 100; i++ {
		c.put(fmt.Sprint(i), fields, h)
	}
	if n := len(c.entries); n > 16 || n == 0 {
		t.Errorf("%d entries, bound 16", n)
	}
	c.put("empty", map[string]string{}, tileHash{}) // an absent key is never cached
	if _, ok := c.entries["empty"]; ok {
		t.Error("cached a key without a hash")
	}
	var off *tileCache
	off.put("k", fields, h)
	if _, ok := off.get("k", "5", `["p",1]`); ok {
		t.Error("nil cache: want a miss")
	}
}
