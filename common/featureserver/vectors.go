package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisKey is the online store's key of one entity's vector (common/online_store.py).
func redisKey(view string, version int, entity string) string {
	return "fs:" + view + ":v" + strconv.Itoa(version) + ":" + entity
}

// badRequest is a client error (HTTP 400) with a message for the caller.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// modelRow is one lookup of a model: a value per entity key and the event inputs as text.
type modelRow struct {
	keys  map[string]string
	event map[string]string
	at    int64 // read time, epoch millis
}

// check validates a row against the model, as common.models.serving.model_vector does.
func (m *model) check(r modelRow) error {
	var absent []string
	for _, k := range m.spec.EntityKeys {
		if r.keys[k] == "" {
			absent = append(absent, k)
		}
	}
	if len(absent) > 0 {
		return badf("model %s.v%d needs entity keys %s", m.spec.Name, m.spec.Version, pyList(absent))
	}
	var unknown []string
	for name := range r.event {
		if _, ok := m.eventInputs[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		var known []string
		for name := range m.eventInputs {
			known = append(known, name)
		}
		return badf("%s are not event inputs of %s.v%d (those are %s)",
			pyList(sorted(unknown)), m.spec.Name, m.spec.Version, pyList(sorted(known)))
	}
	for name, text := range r.event {
		if _, err := typed(text, m.eventInputs[name]); err != nil {
			return badf("%s: %v", name, err)
		}
	}
	return nil
}

// readModels reads every view of every row in one pipeline: result[row][view] are the HMGET
// values of that view's fields (the last one event_time, nil when the key has no vector).
func (s *server) readModels(ctx context.Context, m *model, rows []modelRow) ([][][]any, error) {
	pipe := s.redis.Pipeline()
	cmds := make([][]*redis.SliceCmd, len(rows))
	for i, r := range rows {
		cmds[i] = make([]*redis.SliceCmd, len(m.views))
		for j, v := range m.views {
			cmds[i][j] = pipe.HMGet(ctx, redisKey(v.Name, v.Version, r.keys[v.Key]), v.fields...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([][][]any, len(rows))
	for i := range rows {
		out[i] = make([][]any, len(m.views))
		for j := range m.views {
			out[i][j] = cmds[i][j].Val()
		}
	}
	return out, nil
}

// readViews reads one view for several entity keys in one pipeline.
func (s *server) readViews(ctx context.Context, v *view, keys []string) ([][]any, error) {
	pipe := s.redis.Pipeline()
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, redisKey(v.Name, v.Version, k), v.fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([][]any, len(keys))
	for i := range keys {
		out[i] = cmds[i].Val()
	}
	return out, nil
}

// vectorJSON appends one model vector, the shape of common.models.serving.model_vector.
// It returns how many of the model's views had a vector.
func (m *model) vectorJSON(b []byte, r modelRow, stored [][]any, nowMs int64, bad *int) ([]byte, int) {
	b = m.appendKeys(appendHead(b, "model", m.spec.Name, m.spec.Version), r)
	b = append(b, `,"features":{`...)
	var missing []string
	for i, in := range m.inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, in.Name)
		b = append(b, ':')
		if in.view < 0 {
			b, missing = appendEventInput(b, r, in, missing)
			continue
		}
		b = appendStored(b, stored[in.view][in.field], in.Type, bad)
	}
	found := 0
	eventTimes := make([]int64, len(m.views))
	for j, v := range m.views {
		eventTimes[j] = -1
		if text, ok := stored[j][len(v.fields)-1].(string); ok {
			if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
				eventTimes[j] = ms
			}
		}
		if eventTimes[j] < 0 {
			missing = append(missing, v.Qualified)
		} else {
			found++
		}
	}
	b = m.appendAsOf(append(b, '}'), eventTimes, nowMs)
	b = appendStrings(append(b, `,"missing":`...), missing)
	return append(b, '}'), found
}

// appendKeys appends the model vector's `,"keys":{...}`: the entity keys in contract order.
func (m *model) appendKeys(b []byte, r modelRow) []byte {
	b = append(b, `,"keys":{`...)
	for i, k := range m.spec.EntityKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, r.keys[k])
	}
	return append(b, '}')
}

// appendAsOf appends `,"as_of":{...},"staleness_s":{...}` of each view's last event time
// (epoch millis; -1: none, null in both).
func (m *model) appendAsOf(b []byte, lastMs []int64, nowMs int64) []byte {
	b = append(b, `,"as_of":{`...)
	for j, v := range m.views {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, v.Qualified), ':')
		if lastMs[j] < 0 {
			b = append(b, "null"...)
		} else {
			b = appendString(b, isoMillis(lastMs[j]))
		}
	}
	b = append(b, `},"staleness_s":{`...)
	for j, v := range m.views {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, v.Qualified), ':')
		if lastMs[j] < 0 {
			b = append(b, "null"...)
		} else {
			b = appendFloat(b, float64(nowMs-lastMs[j])/1000)
		}
	}
	return append(b, '}')
}

// vectorJSON appends one raw view vector; found says whether the key had one.
func (v *view) vectorJSON(b []byte, key string, stored []any, nowMs int64, bad *int) ([]byte, bool) {
	b = append(appendHead(b, "view", v.Name, v.Version), `,"key":`...)
	b = appendString(b, key)
	n := len(v.Features)
	eventTime := int64(-1)
	if text, ok := stored[n].(string); ok {
		if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
			eventTime = ms
		}
	}
	found := eventTime >= 0
	b = append(b, `,"found":`...)
	b = strconv.AppendBool(b, found)
	b = append(b, `,"event_id":`...)
	if id, ok := stored[n+1].(string); ok && found {
		b = appendString(b, id)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"event_time":`...)
	if found {
		b = appendString(b, isoMillis(eventTime))
		b = append(b, `,"staleness_s":`...)
		b = appendFloat(b, float64(nowMs-eventTime)/1000)
	} else {
		b = append(b, `null,"staleness_s":null`...)
	}
	b = append(b, `,"features":{`...)
	for i, f := range v.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Name)
		b = append(b, ':')
		if !found {
			b = append(b, "null"...)
			continue
		}
		b = appendStored(b, stored[i], f.Type, bad)
	}
	return append(b, "}}"...), found
}

// appendEventInput appends an input the request carries (event.<name>); absent, it is null and
// its ref joins missing.
func appendEventInput(b []byte, r modelRow, in compiledInput, missing []string) ([]byte, []string) {
	text, ok := r.event[in.Name]
	if !ok {
		return append(b, "null"...), append(missing, in.Ref)
	}
	value, _ := typed(text, in.Type) // checked already
	return appendValue(b, value), missing
}

// appendStored appends one stored field (an HMGET value: a string, or nil when absent) as a
// value of typ; a value that does not parse as typ is null and counted in bad.
func appendStored(b []byte, raw any, typ string, bad *int) []byte {
	text, ok := raw.(string)
	if !ok {
		return append(b, "null"...)
	}
	value, err := typed(text, typ)
	if err != nil {
		*bad++
		return append(b, "null"...)
	}
	return appendValue(b, value)
}

// appendHead opens an object with what it describes: {"model": name, "version": N.
func appendHead(b []byte, kind, name string, version int) []byte {
	b = append(b, `{"`...)
	b = append(b, kind...)
	b = append(b, `":`...)
	b = appendString(b, name)
	b = append(b, `,"version":`...)
	return strconv.AppendInt(b, int64(version), 10)
}

// typed parses a stored or query-string value as its Avro type (common.models.serving.parse_value).
func typed(text, avroType string) (any, error) {
	switch avroType {
	case "long":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a long", text)
		}
		return n, nil
	case "double":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a double", text)
		}
		return f, nil
	case "boolean":
		if text != "true" && text != "false" {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return text == "true", nil
	default:
		return text, nil
	}
}

func appendValue(b []byte, value any) []byte {
	switch v := value.(type) {
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return appendFloat(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendString(b, v)
	}
	return append(b, "null"...)
}

// appendFloat writes a double as encoding/json does; NaN and infinities (not JSON) as null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

// appendString writes a JSON string; plain ASCII (every key and name here) without allocating.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			quoted, _ := json.Marshal(s)
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// isoMillis is Python's datetime.isoformat(timespec="milliseconds") of a UTC time.
func isoMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000+00:00")
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// pyList formats names like Python's repr of a list of str, as the Python server's messages do.
func pyList(s []string) string {
	b := []byte{'['}
	for i, x := range s {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '\'')
		b = append(b, x...)
		b = append(b, '\'')
	}
	return string(append(b, ']'))
}
