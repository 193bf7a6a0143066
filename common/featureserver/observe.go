package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series (README "Operating the feature server").
type metrics struct {
	registry    *prometheus.Registry
	duration    *prometheus.HistogramVec
	hits        prometheus.Counter
	misses      prometheus.Counter
	redisErrors prometheus.Counter
	bad         prometheus.Counter
	dropped     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "featureserver_request_duration_seconds",
			Help: "Time from the request's arrival to its response, by route and status code.",
			// Fine below 5 ms, where the serving target (p99 <= 2 ms) lives.
			Buckets: []float64{.0001, .00025, .0005, .00075, .001, .0015, .002, .003, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route", "code"}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "featureserver_vectors_total", Help: "View vectors looked up, by result.",
			ConstLabels: prometheus.Labels{"result": "hit"},
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "featureserver_vectors_total", Help: "View vectors looked up, by result.",
			ConstLabels: prometheus.Labels{"result": "miss"},
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "featureserver_redis_errors_total",
			Help: "Lookups answered 503/504 because Redis failed or timed out.",
		}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "featureserver_unparseable_values_total",
			Help: "Stored values that did not parse as their declared type (served as null), and event log members that did not parse (left out).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "featureserver_access_log_dropped_total",
			Help: "Access log lines dropped because the log writer fell behind.",
		}),
	}
	m.registry.MustRegister(m.duration, m.hits, m.misses, m.redisErrors, m.bad, m.dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchTileCache exports the tile cache's lookups: a hit skipped fetching and decoding a hash,
// an update fetched and decoded only the tiles a new event can have changed.
func (m *metrics) watchTileCache(c *tileCache) {
	for result, n := range map[string]*atomic.Int64{"hit": &c.hits, "update": &c.updates, "miss": &c.misses} {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "featureserver_tile_cache_total",
			Help:        "Tiled keys read, by whether the cached decoded hash was current (hit), brought up to date from the tiles read with its newest event (update), or fetched whole (miss).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(n.Load()) }))
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// routeTimers caches the histogram children of one route (label lookups off the hot path).
type routeTimers struct {
	route string
	vec   *prometheus.HistogramVec
	mu    sync.RWMutex
	codes map[int]prometheus.Observer
}

func (m *metrics) route(route string) *routeTimers {
	return &routeTimers{route: route, vec: m.duration, codes: map[int]prometheus.Observer{}}
}

func (t *routeTimers) observe(status int, elapsed time.Duration) {
	t.mu.RLock()
	o, ok := t.codes[status]
	t.mu.RUnlock()
	if !ok {
		o = t.vec.WithLabelValues(t.route, strconv.Itoa(status))
		t.mu.Lock()
		t.codes[status] = o
		t.mu.Unlock()
	}
	o.Observe(elapsed.Seconds())
}

func (m *metrics) vectors(hits, misses int) {
	if hits > 0 {
		m.hits.Add(float64(hits))
	}
	if misses > 0 {
		m.misses.Add(float64(misses))
	}
}

func (m *metrics) redisError() { m.redisErrors.Inc() }

func (m *metrics) badValues(n int) {
	if n > 0 {
		m.bad.Add(float64(n))
	}
}

// accessLog writes one JSON line per request from a goroutine of its own: a request only
// enqueues, and drops (counted) when the writer is behind, so logging never slows serving.
type accessLog struct {
	lines   chan accessLine
	dropped prometheus.Counter
	done    chan struct{}
}

type accessLine struct {
	Time     string  `json:"time"`
	Method   string  `json:"method"`
	Path     string  `json:"path"`
	Route    string  `json:"route"`
	Status   int     `json:"status"`
	Bytes    int     `json:"bytes"`
	Duration float64 `json:"duration_ms"`
	Remote   string  `json:"remote"`
}

func newAccessLog(out io.Writer, enabled bool, dropped prometheus.Counter) *accessLog {
	if !enabled {
		return nil
	}
	l := &accessLog{lines: make(chan accessLine, 8192), dropped: dropped, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		encoder := json.NewEncoder(out)
		for line := range l.lines {
			_ = encoder.Encode(line)
		}
	}()
	return l
}

func (l *accessLog) record(at time.Time, r *http.Request, route string, status, size int, elapsed time.Duration) {
	if l == nil {
		return
	}
	// The path only: query strings carry entity keys, which are kept out of logs.
	line := accessLine{
		Time: at.UTC().Format(time.RFC3339Nano), Method: r.Method, Path: r.URL.Path, Route: route,
		Status: status, Bytes: size, Duration: float64(elapsed.Microseconds()) / 1000, Remote: r.RemoteAddr,
	}
	select {
	case l.lines <- line:
	default:
		l.dropped.Inc()
	}
}

func (l *accessLog) close() {
	if l == nil {
		return
	}
	close(l.lines)
	<-l.done
}
