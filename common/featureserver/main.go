// Command featureserver serves model and view feature vectors from the online store over HTTP.
//
// It is started by `featurestream serve`, which compiles the serving plan (model contracts and
// feature views) from the Python definitions and passes it with -plan: the definitions stay in
// one place, and this process only reads Redis and writes JSON (decision 70).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "featureserver:", err)
		os.Exit(1)
	}
}

func run() error {
	plan := flag.String("plan", "", "serving plan JSON (written by `featurestream serve`)")
	listen := flag.String("listen", "127.0.0.1:18090", "address to listen on")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:16379/0", "the online store")
	poolSize := flag.Int("redis-pool", 32, "Redis connections kept per process")
	timeout := flag.Duration("timeout", 250*time.Millisecond, "Redis deadline per request (504 past it)")
	maxBatch := flag.Int("max-batch", 100, "most lookups in one POST")
	accessLogOn := flag.Bool("access-log", true, "write a JSON access log line per request to stdout")
	drain := flag.Duration("drain", 0, "on SIGTERM, answer /readyz 503 this long before closing (let load balancers notice)")
	grace := flag.Duration("grace", 10*time.Second, "on SIGTERM, wait this long for requests in flight")
	tileCacheKeys := flag.Int("tile-cache-keys", 10000, "tiled keys whose decoded hash is kept between their events (0: none)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until shutdown (diagnostics)")
	flag.Parse()
	if *cpuProfile != "" {
		out, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *plan == "" {
		return errors.New("-plan is required")
	}
	catalog, err := loadPlan(*plan)
	if err != nil {
		return err
	}
	options, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("-redis-url: %w", err)
	}
	options.PoolSize = *poolSize
	options.MinIdleConns = min(*poolSize, 4)
	options.DialTimeout = time.Second
	options.ReadTimeout = *timeout
	options.WriteTimeout = *timeout
	options.ContextTimeoutEnabled = true
	options.MaxRetries = 1
	client := redis.NewClient(options)
	defer client.Close()

	metrics := newMetrics()
	tiles := newTileCache(*tileCacheKeys)
	metrics.watchTileCache(tiles)
	s := &server{
		catalog: catalog, redis: client, metrics: metrics, maxBatch: *maxBatch, timeout: *timeout,
		tiles: tiles,
		log:   newAccessLog(os.Stdout, *accessLogOn, metrics.dropped),
	}
	defer s.log.close()
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.NewJSONHandler(os.Stderr, nil), slog.LevelWarn),
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	logger.Info("serving", "address", listener.Addr().String(), "models", len(catalog.list),
		"views", len(catalog.views), "redis", options.Addr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(listener) }()
	select {
	case err := <-served:
		return err
	case sig := <-stop:
		logger.Info("shutting down", "signal", sig.String(), "drain", drain.String())
		s.draining.Store(true)
		time.Sleep(*drain)
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		if err := httpServer.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		logger.Info("stopped")
		return nil
	}
}
