package main

import (
	"context"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Vectors read at a time T (issue 17): each view with a read-time plan is evaluated from the
// key's event log or tiles; a view without one is served as stored (its last event's vector).

// viewRead is what the pipeline brought back for one (lookup, view).
type viewRead struct {
	events []event  // read time: the decoded log, oldest first
	tiles  tileHash // read time, tiled: the decoded hash
	stored []any    // no read-time plan: the HMGET values
}

// pipelineReads queues a read per (key, view); results decodes them once the pipeline ran.
type pipelineReads struct {
	cache   *tileCache
	cmds    []redis.Cmder
	rts     []*readTime
	keys    []string      // the Redis key of each read-time read
	entries []cachedTiles // tiled reads: the cache's entry when they were queued
	starts  [][]int64     // tiled reads: the tiles read with the newest event
}

func (p *pipelineReads) add(ctx context.Context, pipe redis.Pipeliner, rt *readTime, vectorKey, entity string, fields []string) {
	var cmd redis.Cmder
	key := ""
	var entry cachedTiles
	var starts []int64
	switch {
	case rt == nil:
		cmd = pipe.HMGet(ctx, vectorKey, fields...)
	case rt.tiles != nil:
		// The newest and first events, and the tiles a new event since the cached hash can
		// have changed: the whole hash comes in a second round trip, and only when the cache
		// cannot be brought up to date with these (tileCache).
		key = rt.logKey(entity)
		names := []string{"@t", "@e", "@f"}
		var ok bool
		if entry, ok = p.cache.entry(key); ok && entry.first != "" {
			at := rt.tiles.tileStart(entry.hash.newest[0].ms)
			starts = []int64{at, at + rt.tiles.tileMs}
			names = append(names, strconv.FormatInt(starts[0], 10), strconv.FormatInt(starts[1], 10))
		}
		cmd = pipe.HMGet(ctx, key, names...)
	default:
		key = rt.logKey(entity)
		cmd = pipe.ZRangeWithScores(ctx, key, 0, -1)
	}
	p.cmds = append(p.cmds, cmd)
	p.rts = append(p.rts, rt)
	p.keys = append(p.keys, key)
	p.entries = append(p.entries, entry)
	p.starts = append(p.starts, starts)
}

// results are the reads in the order added: tile hashes from the cache, brought up to date from
// the tiles read, or fetched whole in one more pipeline; bad counts log members and tile hashes
// that did not parse.
func (p *pipelineReads) results(ctx context.Context, s *server, bad *int) ([]viewRead, error) {
	out := make([]viewRead, len(p.rts))
	var fetch []int
	for i, rt := range p.rts {
		switch cmd := p.cmds[i].(type) {
		case *redis.SliceCmd:
			if rt == nil {
				out[i].stored = cmd.Val()
				continue
			}
			got := cmd.Val()
			if got[0] == nil { // no hash: an empty history
				continue
			}
			if h, ok := p.fromCache(i, got, s.tiles); ok {
				out[i].tiles = h
			} else {
				fetch = append(fetch, i)
			}
		case *redis.ZSliceCmd:
			var n int
			out[i].events, n = decodeLog(cmd.Val(), rt.inputs)
			*bad += n
		}
	}
	if len(fetch) == 0 {
		return out, nil
	}
	pipe := s.redis.Pipeline()
	hashes := make([]*redis.MapStringStringCmd, len(fetch))
	for j, i := range fetch {
		hashes[j] = pipe.HGetAll(ctx, p.keys[i])
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	for j, i := range fetch {
		fields := hashes[j].Val()
		h, n := decodeTiles(fields, p.rts[i])
		if n == 0 {
			s.tiles.put(p.keys[i], cachedTiles{newestMs: fields["@t"], newestMember: fields["@e"], first: fields["@f"], hash: h})
		}
		*bad += n
		out[i].tiles = h
	}
	return out, nil
}

// fromCache answers tiled read i from the cache (tileCache): got is '@t', '@e', '@f' and the
// tiles of p.starts[i]. ok is false when the whole hash must be fetched.
func (p *pipelineReads) fromCache(i int, got []any, cache *tileCache) (tileHash, bool) {
	ms, _ := got[0].(string)
	member, _ := got[1].(string)
	first, _ := got[2].(string)
	entry, rt := p.entries[i], p.rts[i]
	switch {
	case len(entry.hash.newest) == 0:
	case entry.newestMs == ms && entry.newestMember == member:
		cache.count(cacheHit)
		return entry.hash, true
	case first != "" && first == entry.first && len(got) == 5:
		t, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || t < entry.hash.newest[0].ms || !slices.Contains(p.starts[i], rt.tiles.tileStart(t)) {
			break
		}
		h, err := rt.tiles.updated(entry.hash, ms, member, p.starts[i], got[3:], rt.inputs, rt.keepMs)
		if err != nil {
			break // fetched whole, and counted bad there if it really is
		}
		cache.put(p.keys[i], cachedTiles{newestMs: ms, newestMember: member, first: first, hash: h})
		cache.count(cacheUpdate)
		return h, true
	}
	cache.count(cacheMiss)
	return tileHash{}, false
}

// readModelsAt reads every view of every row in one pipeline: result[row][view].
func (s *server) readModelsAt(ctx context.Context, m *model, rows []modelRow, bad *int) ([][]viewRead, error) {
	pipe := s.redis.Pipeline()
	reads := pipelineReads{cache: s.tiles}
	for _, r := range rows {
		for _, v := range m.views {
			key := r.keys[v.Key]
			reads.add(ctx, pipe, v.rt, redisKey(v.Name, v.Version, key), key, v.fields)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	flat, err := reads.results(ctx, s, bad)
	if err != nil {
		return nil, err
	}
	out := make([][]viewRead, len(rows))
	for i := range rows {
		out[i] = flat[i*len(m.views) : (i+1)*len(m.views)]
	}
	return out, nil
}

// readViewsAt reads one view for several entity keys in one pipeline.
func (s *server) readViewsAt(ctx context.Context, v *view, keys []string, bad *int) ([]viewRead, error) {
	pipe := s.redis.Pipeline()
	reads := pipelineReads{cache: s.tiles}
	for _, k := range keys {
		reads.add(ctx, pipe, v.rt, redisKey(v.Name, v.Version, k), k, v.fields)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	return reads.results(ctx, s, bad)
}

// viewAt is one view of one key at T, values in the order of the fields asked for.
type viewAt struct {
	found    bool
	tooEarly bool
	lastMs   int64 // the key's newest event at or before T; -1 if none
	lastID   string
	values   []any
}

// at evaluates a read: from the log or tiles with rt, else from the stored vector (fields then
// event_time, event_id), typed as types.
func at(read viewRead, rt *readTime, slots []int, types []string, t int64, bad *int) viewAt {
	out := viewAt{lastMs: -1, values: make([]any, len(types))}
	if rt == nil {
		stored := read.stored
		if text, ok := stored[len(types)].(string); ok {
			if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
				out.found, out.lastMs = true, ms
			}
		}
		if len(stored) > len(types)+1 {
			out.lastID, _ = stored[len(types)+1].(string)
		}
		for i, typ := range types {
			text, ok := stored[i].(string)
			if !ok || !out.found {
				continue
			}
			value, err := typed(text, typ)
			if err != nil {
				*bad++
				continue
			}
			out.values[i] = value
		}
		return out
	}
	var r reading
	if rt.tiles != nil {
		r = rt.evaluateTiles(read.tiles, t)
	} else {
		r = rt.evaluate(read.events, t)
	}
	out.found, out.tooEarly = r.found(), r.tooEarly
	if r.last != nil {
		out.lastMs, out.lastID = r.last.ms, r.last.id
	}
	if !r.tooEarly {
		for i, typ := range types {
			out.values[i] = asAvro(typ, r.slots[slots[i]])
		}
	}
	return out
}

// readJSON appends one model vector read at t: model_vector's shape, plus read_at and
// too_early. It returns how many of the model's views were found.
func (m *model) readJSON(b []byte, r modelRow, reads []viewRead, t, nowMs int64, bad *int) ([]byte, int) {
	views := make([]viewAt, len(m.views))
	for j, v := range m.views {
		types := make([]string, len(v.fields)-1)
		for _, in := range m.inputs {
			if in.view == j {
				types[in.field] = in.Type
			}
		}
		views[j] = at(reads[j], v.rt, v.slots, types, t, bad)
	}
	b = m.appendKeys(appendHead(b, "model", m.spec.Name, m.spec.Version), r)
	b = append(b, `,"features":{`...)
	var missing, tooEarly []string
	for i, in := range m.inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, in.Name)
		b = append(b, ':')
		if in.view >= 0 {
			b = appendValue(b, views[in.view].values[in.field])
			continue
		}
		b, missing = appendEventInput(b, r, in, missing)
	}
	found := 0
	for j, v := range m.views {
		switch {
		case views[j].found:
			found++
		case views[j].tooEarly:
			missing = append(missing, v.Qualified)
			tooEarly = append(tooEarly, v.Qualified)
		default:
			missing = append(missing, v.Qualified)
		}
	}
	lastMs := make([]int64, len(views))
	for j := range views {
		lastMs[j] = views[j].lastMs
	}
	b = m.appendAsOf(append(b, '}'), lastMs, nowMs)
	b = appendStrings(append(b, `,"missing":`...), missing)
	b = appendStrings(append(b, `,"too_early":`...), tooEarly)
	b = appendString(append(b, `,"read_at":`...), isoMillis(t))
	return append(b, '}'), found
}

// readJSON appends one view vector read at t: the stored vector's shape (event_id and
// event_time of the key's newest event at or before t), plus read_at and too_early.
func (v *view) readJSON(b []byte, key string, read viewRead, t, nowMs int64, bad *int) ([]byte, bool) {
	types := make([]string, len(v.Features))
	for i, f := range v.Features {
		types[i] = f.Type
	}
	got := at(read, v.rt, v.slots, types, t, bad)
	b = append(appendHead(b, "view", v.Name, v.Version), `,"key":`...)
	b = appendString(b, key)
	b = append(b, `,"found":`...)
	b = strconv.AppendBool(b, got.found)
	b = append(b, `,"event_id":`...)
	if got.lastMs >= 0 {
		b = appendString(b, got.lastID)
		b = appendString(append(b, `,"event_time":`...), isoMillis(got.lastMs))
		b = appendFloat(append(b, `,"staleness_s":`...), float64(nowMs-got.lastMs)/1000)
	} else {
		b = append(b, `null,"event_time":null,"staleness_s":null`...)
	}
	b = append(b, `,"features":{`...)
	for i, f := range v.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Name)
		b = append(b, ':')
		b = appendValue(b, got.values[i])
	}
	var tooEarly []string
	if got.tooEarly {
		tooEarly = []string{v.Name + ".v" + strconv.Itoa(v.Version)}
	}
	b = appendStrings(append(b, `},"too_early":`...), tooEarly)
	b = appendString(append(b, `,"read_at":`...), isoMillis(t))
	return append(b, '}'), got.found
}

func appendStrings(b []byte, s []string) []byte {
	b = append(b, '[')
	for i, x := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, x)
	}
	return append(b, ']')
}
