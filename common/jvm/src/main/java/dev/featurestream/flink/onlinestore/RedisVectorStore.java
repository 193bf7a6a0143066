package dev.featurestream.flink.onlinestore;

import org.apache.flink.metrics.Counter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisNoScriptException;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * One Redis connection running the store's scripts (the newer-wins vector write, and the event
 * log's or the tiles' when the sink keeps one): SCRIPT LOAD once each, then EVALSHA for a whole
 * batch, vectors and event-log entries together, in one pipeline. Failures are retried with
 * exponential backoff (100 ms doubling up to 5 s) for up to the retry timeout, so a Redis restart
 * or a network blip holds the writer back (backpressure) rather than failing the job. When
 * failures outlast it, the write fails with an IOException naming the (redacted) URL, which fails
 * the task; Flink's restart strategy then replays from the last checkpoint, which newer-wins
 * makes harmless.
 *
 * <p>Not thread-safe: used only from the writer's task thread.
 */
final class RedisVectorStore implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RedisVectorStore.class);

    private static final long FIRST_BACKOFF_MILLIS = 100;
    private static final long MAX_BACKOFF_MILLIS = 5_000;
    private static final int CONNECT_TIMEOUT_MILLIS = 2_000;
    /** Generous: a full pipeline of script calls on a busy server must not time out. */
    private static final int SOCKET_TIMEOUT_MILLIS = 10_000;

    /**
     * What one batch did: each vector was either written or skipped as older than the stored
     * one; each event-log entry either added or skipped as older than the log keeps; each tiles
     * entry (counted with the event log's) either folded or skipped as not after the key's
     * newest event (a replay).
     */
    record Outcome(long written, long skippedOlder, long eventsWritten, long eventsSkippedOld) {}

    private final URI uri;
    private final String redactedUrl;
    private final Map<StoreScript, String> scripts;
    private final long retryTimeoutMillis;
    private final Counter retries;
    private Jedis jedis;
    /** SHA1 of each loaded script; empty until connected and after a NOSCRIPT. */
    private final Map<StoreScript, String> shas = new EnumMap<>(StoreScript.class);

    RedisVectorStore(
            String url, Map<StoreScript, String> scripts, long retryTimeoutMillis, Counter retries) {
        this.uri = URI.create(url);
        this.redactedUrl = redact(url);
        this.scripts = scripts;
        this.retryTimeoutMillis = retryTimeoutMillis;
        this.retries = retries;
    }

    /**
     * Runs every call of {@code batch}; returns once all are applied.
     *
     * @throws IOException when Redis still fails after the retry timeout
     */
    Outcome write(List<ScriptCall> batch) throws IOException, InterruptedException {
        List<ScriptCall> pending = batch;
        // Script returns 1 and 0, per script.
        long[] ones = new long[StoreScript.values().length];
        long[] zeros = new long[StoreScript.values().length];
        RuntimeException lastError = null;
        long deadline = System.nanoTime() + retryTimeoutMillis * 1_000_000L;
        long backoff = FIRST_BACKOFF_MILLIS;
        for (int attempt = 1; ; attempt++) {
            List<ScriptCall> failed = new ArrayList<>();
            try {
                connect();
                Pipeline pipeline = jedis.pipelined();
                List<Response<Object>> responses = new ArrayList<>(pending.size());
                for (ScriptCall call : pending) {
                    responses.add(
                            pipeline.evalsha(
                                    shas.get(call.script()), List.of(call.key()), call.args()));
                }
                pipeline.sync();
                for (int i = 0; i < responses.size(); i++) {
                    try {
                        int script = pending.get(i).script().ordinal();
                        if (((Long) responses.get(i).get()) == 1L) {
                            ones[script]++;
                        } else {
                            zeros[script]++;
                        }
                    } catch (JedisNoScriptException e) {
                        // The server lost its script cache (restart, failover, SCRIPT FLUSH):
                        // load the scripts again and resend only the calls that did not run.
                        shas.clear();
                        failed.add(pending.get(i));
                        lastError = e;
                    } catch (JedisException e) {
                        // e.g. OOM or READONLY during a failover: may pass, so retried.
                        failed.add(pending.get(i));
                        lastError = e;
                    }
                }
            } catch (JedisException e) {
                // Connection-level failure: no reply was read, so the whole remainder is resent
                // (calls Redis applied before the failure are repeated: a vector is rewritten
                // identically, an event-log member is already there, a tiles call is skipped as
                // not after the newest event it already folded).
                disconnect();
                failed = pending;
                lastError = e;
            }
            if (failed.isEmpty()) {
                int vector = StoreScript.VECTOR.ordinal();
                int log = StoreScript.EVENT_LOG.ordinal();
                int tiles = StoreScript.EVENT_TILES.ordinal();
                return new Outcome(
                        ones[vector],
                        zeros[vector],
                        ones[log] + ones[tiles],
                        zeros[log] + zeros[tiles]);
            }
            pending = failed;
            if (System.nanoTime() - deadline >= 0) {
                break;
            }
            retries.inc();
            LOG.warn(
                    "online store: {} of {} script calls not run in Redis at {} (attempt {}, retrying"
                            + " for up to {} ms in all): {}",
                    failed.size(),
                    batch.size(),
                    redactedUrl,
                    attempt,
                    retryTimeoutMillis,
                    lastError.getMessage());
            if (!(lastError instanceof JedisNoScriptException)) {
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
            }
        }
        throw new IOException(
                "online store: writing to Redis at "
                        + redactedUrl
                        + " failed for "
                        + retryTimeoutMillis
                        + " ms ("
                        + pending.size()
                        + " script calls not run, e.g. key "
                        + pending.get(0).key()
                        + "): "
                        + lastError.getMessage(),
                lastError);
    }

    private void connect() {
        if (jedis == null || jedis.isBroken() || !jedis.isConnected()) {
            disconnect();
            jedis = new Jedis(uri, CONNECT_TIMEOUT_MILLIS, SOCKET_TIMEOUT_MILLIS);
            jedis.connect();
        }
        if (shas.isEmpty()) {
            // All or none: a failure halfway leaves nothing loaded, so the retry loads all.
            Map<StoreScript, String> loaded = new EnumMap<>(StoreScript.class);
            for (Map.Entry<StoreScript, String> script : scripts.entrySet()) {
                loaded.put(script.getKey(), jedis.scriptLoad(script.getValue()));
            }
            shas.putAll(loaded);
        }
    }

    private void disconnect() {
        if (jedis != null) {
            try {
                jedis.close();
            } catch (RuntimeException e) {
                LOG.debug("online store: closing a broken Redis connection failed", e);
            }
            jedis = null;
        }
    }

    @Override
    public void close() {
        disconnect();
    }

    /** {@code url} without its password, for messages and logs. */
    static String redact(String url) {
        int scheme = url.indexOf("://");
        int at = url.lastIndexOf('@');
        if (scheme < 0 || at < scheme) {
            return url;
        }
        return url.substring(0, scheme + 3) + "***@" + url.substring(at + 1);
    }
}
