package main

import (
	"sync"
	"sync/atomic"
)

// tileCache keeps decoded tile hashes by Redis key, with the newest event they hold ('@t' and
// '@e' as stored) and the first event of the hash ('@f'). A busy key is read many times between
// two of its events, and its hash is kilobytes (~30 µs to decode), so a read asks Redis for
// '@t', '@e', '@f' and the two tiles a new event can have changed, and
//
//   - hit: '@t'/'@e' are the cached ones: the script changes them with every event it folds,
//     so the cached hash is the hash as stored;
//   - update: '@f' is the cached one (the same hash, not one created again after it expired)
//     and the newest event lies in the cached newest event's tile or the next: the script folds
//     only events after '@t'/'@e', so every tile that changed is one of the two just read, and
//     the cached hash with them replaced is the hash as stored, without a second round trip;
//   - miss: anything else (no entry, '@f' differs or is absent, a jump of more than a tile): the
//     whole hash is fetched and decoded.
//
// Entries are read-only once stored, so readers share them without copying.
type tileCache struct {
	mu      sync.RWMutex
	entries map[string]cachedTiles
	max     int // 0: no caching
	hits    atomic.Int64
	updates atomic.Int64
	misses  atomic.Int64
}

type cachedTiles struct {
	newestMs, newestMember, first string // '@t', '@e', '@f' as stored
	hash                          tileHash
}

func newTileCache(max int) *tileCache {
	return &tileCache{entries: make(map[string]cachedTiles), max: max}
}

// entry is what the cache holds for key, whatever its newest event.
func (c *tileCache) entry(key string) (cachedTiles, bool) {
	if c == nil || c.max == 0 {
		return cachedTiles{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	return e, ok
}

// put keeps e under key. When full, it drops an eighth of the entries, whichever Go's map order
// gives: a bound on memory, not a recency policy.
func (c *tileCache) put(key string, e cachedTiles) {
	if c == nil || c.max == 0 || len(e.hash.newest) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		drop := max(1, c.max/8)
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[key] = e
}

type cacheResult int

const (
	cacheHit cacheResult = iota
	cacheUpdate
	cacheMiss
)

// count records how a read of a tiled key with a hash was answered.
func (c *tileCache) count(r cacheResult) {
	if c == nil {
		return
	}
	[]*atomic.Int64{&c.hits, &c.updates, &c.misses}[r].Add(1)
}
