package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const maxBodyBytes = 1 << 20

// server answers feature lookups from the online store.
type server struct {
	catalog  *catalog
	redis    *redis.Client
	metrics  *metrics
	log      *accessLog
	maxBatch int
	timeout  time.Duration
	tiles    *tileCache // nil: none
	draining atomic.Bool
	buffers  sync.Pool
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /models", s.observe("models", s.listModels))
	mux.HandleFunc("GET /models/{model}/features", s.observe("model", s.getModel))
	mux.HandleFunc("POST /models/{model}/features", s.observe("model_batch", s.postModel))
	mux.HandleFunc("GET /views/{view}/features", s.observe("view", s.getView))
	mux.HandleFunc("POST /views/{view}/features", s.observe("view_batch", s.postView))
	mux.HandleFunc("/", s.observe("other", func(w http.ResponseWriter, r *http.Request) (int, []byte) {
		return errorBody(http.StatusNotFound, "no such resource "+r.Method+" "+r.URL.Path)
	}))
	return mux
}

// handler returns the status and JSON body; observe writes them, times and logs the request.
type handler func(w http.ResponseWriter, r *http.Request) (int, []byte)

func (s *server) observe(route string, h handler) http.HandlerFunc {
	timers := s.metrics.route(route)
	return func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		status, body := h(w, r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
		elapsed := time.Since(started)
		timers.observe(status, elapsed)
		s.log.record(started, r, route, status, len(body), elapsed)
	}
}

func errorBody(status int, msg string) (int, []byte) {
	b := appendString([]byte(`{"error":`), msg)
	return status, append(b, '}')
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"shutting down"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if err := s.redis.Ping(ctx).Err(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(appendString([]byte(`{"status":"redis unavailable","error":`), err.Error()))
		_, _ = w.Write([]byte("}"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func (s *server) listModels(_ http.ResponseWriter, _ *http.Request) (int, []byte) {
	body, err := json.Marshal(s.catalog.list)
	if err != nil {
		return errorBody(http.StatusInternalServerError, err.Error())
	}
	return http.StatusOK, body
}

func versionParam(text string) (int, error) {
	if text == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(text)
	if err != nil || v < 1 {
		return 0, badf("version %q is not a positive number", text)
	}
	return v, nil
}

func (s *server) getModel(_ http.ResponseWriter, r *http.Request) (int, []byte) {
	query := r.URL.Query()
	version, err := versionParam(query.Get("version"))
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	m, err := s.catalog.model(r.PathValue("model"), version)
	if err != nil {
		return errorBody(http.StatusNotFound, err.Error())
	}
	read, err := parseReadAt(query.Get("as_of"), query.Get("at"), time.Now().UnixMilli())
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	row := modelRow{keys: map[string]string{}, event: map[string]string{}, at: read.ms}
	for name, values := range query {
		if readParams[name] {
			continue
		}
		value := values[len(values)-1]
		if isKey(m, name) {
			row.keys[name] = value
		} else {
			row.event[name] = value
		}
	}
	return s.models(r.Context(), m, []modelRow{row}, read, false)
}

// readParams are the query parameters that are neither entity keys nor event inputs.
var readParams = map[string]bool{"version": true, "as_of": true, "at": true}

func isKey(m *model, name string) bool {
	for _, k := range m.spec.EntityKeys {
		if k == name {
			return true
		}
	}
	return false
}

// batchRequest is a POST body: {"rows": [{"card_id": "...", "amount_usd_cents": 1250}, ...]}
// for a model, {"keys": ["k1", "k2"]} for a view; "version", "as_of" (epoch millis or ISO-8601;
// a model row may carry its own) and "at" ("last_event") optional.
type batchRequest struct {
	Version int              `json:"version"`
	Rows    []map[string]any `json:"rows"`
	Keys    []string         `json:"keys"`
	AsOf    any              `json:"as_of"`
	At      string           `json:"at"`
}

// readAt is the request's read time from its "as_of" and "at".
func (req batchRequest) readAt(nowMs int64) (readAt, error) {
	text, _, err := scalarText(req.AsOf)
	if err != nil {
		return readAt{}, badf("as_of: %v", err)
	}
	return parseReadAt(text, req.At, nowMs)
}

func (s *server) decode(r *http.Request) (batchRequest, error) {
	var req batchRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return req, badf("reading the body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return req, badf("body larger than %d bytes", maxBodyBytes)
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber() // numbers keep their text, as a query string would carry them
	if err := decoder.Decode(&req); err != nil {
		return req, badf("body is not JSON of the form {\"rows\": [...]} or {\"keys\": [...]}: %v", err)
	}
	if req.Version < 0 {
		return req, badf("version %d is not a positive number", req.Version)
	}
	return req, nil
}

func (s *server) postModel(_ http.ResponseWriter, r *http.Request) (int, []byte) {
	req, err := s.decode(r)
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	m, err := s.catalog.model(r.PathValue("model"), req.Version)
	if err != nil {
		return errorBody(http.StatusNotFound, err.Error())
	}
	if len(req.Rows) == 0 || len(req.Rows) > s.maxBatch {
		return errorBody(http.StatusBadRequest, fmt.Sprintf("\"rows\" must hold 1 to %d lookups, not %d", s.maxBatch, len(req.Rows)))
	}
	now := time.Now().UnixMilli()
	read, err := req.readAt(now)
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	rows := make([]modelRow, len(req.Rows))
	for i, fields := range req.Rows {
		row := modelRow{keys: map[string]string{}, event: map[string]string{}, at: read.ms}
		for name, value := range fields {
			text, present, err := scalarText(value)
			if err != nil {
				return errorBody(http.StatusBadRequest, fmt.Sprintf("rows[%d].%s: %v", i, name, err))
			}
			if name == "as_of" {
				if !present {
					continue
				}
				if read.lastEvent {
					return errorBody(http.StatusBadRequest, fmt.Sprintf("rows[%d].as_of: as_of and at=last_event exclude each other", i))
				}
				if row.at, err = parseAsOf(text, now); err != nil {
					return errorBody(http.StatusBadRequest, fmt.Sprintf("rows[%d]: %v", i, err))
				}
				continue
			}
			if isKey(m, name) {
				row.keys[name] = text
			} else if present {
				row.event[name] = text
			}
		}
		rows[i] = row
	}
	return s.models(r.Context(), m, rows, read, true)
}

// scalarText is a JSON scalar as the text a query string would carry; null is absent.
func scalarText(value any) (string, bool, error) {
	switch v := value.(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	case bool:
		return strconv.FormatBool(v), true, nil
	case json.Number:
		return v.String(), true, nil
	}
	return "", false, fmt.Errorf("must be a string, number or boolean")
}

func (s *server) models(ctx context.Context, m *model, rows []modelRow, read readAt, batch bool) (int, []byte) {
	for i, row := range rows {
		if err := m.check(row); err != nil {
			if batch {
				return errorBody(http.StatusBadRequest, fmt.Sprintf("rows[%d]: %v", i, err))
			}
			return errorBody(http.StatusBadRequest, err.Error())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	bad := 0
	var stored [][][]any
	var logs [][]viewRead
	var err error
	if read.lastEvent {
		stored, err = s.readModels(ctx, m, rows)
	} else {
		logs, err = s.readModelsAt(ctx, m, rows, &bad)
	}
	if err != nil {
		return s.storeError(err)
	}
	now := time.Now().UnixMilli()
	var b []byte
	if batch {
		b = append(appendHead(b, "model", m.spec.Name, m.spec.Version), `,"results":[`...)
	}
	for i, row := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		var found int
		if read.lastEvent {
			b, found = m.vectorJSON(b, row, stored[i], now, &bad)
		} else {
			b, found = m.readJSON(b, row, logs[i], row.at, now, &bad)
		}
		s.metrics.vectors(found, len(m.views)-found)
	}
	if batch {
		b = append(b, "]}"...)
	}
	s.metrics.badValues(bad)
	return http.StatusOK, b
}

func (s *server) getView(_ http.ResponseWriter, r *http.Request) (int, []byte) {
	query := r.URL.Query()
	version, err := versionParam(query.Get("version"))
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	v, err := s.catalog.view(r.PathValue("view"), version)
	if err != nil {
		return errorBody(http.StatusNotFound, err.Error())
	}
	for name := range query {
		if !readParams[name] && name != v.Key {
			return errorBody(http.StatusBadRequest, fmt.Sprintf("unknown parameter %q: view %s.v%d is keyed by %s", name, v.Name, v.Version, v.Key))
		}
	}
	key := query.Get(v.Key)
	if key == "" {
		return errorBody(http.StatusBadRequest, fmt.Sprintf("view %s.v%d needs ?%s=", v.Name, v.Version, v.Key))
	}
	read, err := parseReadAt(query.Get("as_of"), query.Get("at"), time.Now().UnixMilli())
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	return s.views(r.Context(), v, []string{key}, read, false)
}

func (s *server) postView(_ http.ResponseWriter, r *http.Request) (int, []byte) {
	req, err := s.decode(r)
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	v, err := s.catalog.view(r.PathValue("view"), req.Version)
	if err != nil {
		return errorBody(http.StatusNotFound, err.Error())
	}
	if len(req.Keys) == 0 || len(req.Keys) > s.maxBatch {
		return errorBody(http.StatusBadRequest, fmt.Sprintf("\"keys\" must hold 1 to %d entity keys, not %d", s.maxBatch, len(req.Keys)))
	}
	for i, k := range req.Keys {
		if k == "" {
			return errorBody(http.StatusBadRequest, fmt.Sprintf("keys[%d] is empty", i))
		}
	}
	read, err := req.readAt(time.Now().UnixMilli())
	if err != nil {
		return errorBody(http.StatusBadRequest, err.Error())
	}
	return s.views(r.Context(), v, req.Keys, read, true)
}

func (s *server) views(ctx context.Context, v *view, keys []string, read readAt, batch bool) (int, []byte) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	bad := 0
	var stored [][]any
	var logs []viewRead
	var err error
	if read.lastEvent {
		stored, err = s.readViews(ctx, v, keys)
	} else {
		logs, err = s.readViewsAt(ctx, v, keys, &bad)
	}
	if err != nil {
		return s.storeError(err)
	}
	now := time.Now().UnixMilli()
	var b []byte
	if batch {
		b = append(appendHead(b, "view", v.Name, v.Version), `,"results":[`...)
	}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var found bool
		if read.lastEvent {
			b, found = v.vectorJSON(b, k, stored[i], now, &bad)
		} else {
			b, found = v.readJSON(b, k, logs[i], read.ms, now, &bad)
		}
		if found {
			s.metrics.vectors(1, 0)
		} else {
			s.metrics.vectors(0, 1)
		}
	}
	if batch {
		b = append(b, "]}"...)
	}
	s.metrics.badValues(bad)
	return http.StatusOK, b
}

func (s *server) storeError(err error) (int, []byte) {
	s.metrics.redisError()
	status := http.StatusServiceUnavailable
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	return errorBody(status, "online store unavailable: "+err.Error())
}
