package dev.featurestream.flink.onlinestore;

import dev.featurestream.flink.onlinestore.VectorEncoder.VectorWrite;

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
import java.util.List;

/**
 * One Redis connection running the newer-wins script: SCRIPT LOAD once, then EVALSHA for a whole
 * batch in one pipeline. Failures are retried with exponential backoff (100 ms doubling up to
 * 5 s) for up to the retry timeout, so a Redis restart or a network blip holds the writer back
 * (backpressure) rather than failing the job. When failures outlast it, the write fails with an
 * IOException naming the (redacted) URL, which fails the task; Flink's restart strategy then
 * replays from the last checkpoint, which newer-wins makes harmless.
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

    /** What one batch did: each row was either written or skipped as older than the stored. */
    record Outcome(long written, long skippedOlder) {}

    private final URI uri;
    private final String redactedUrl;
    private final String script;
    private final long retryTimeoutMillis;
    private final Counter retries;
    private Jedis jedis;
    private String scriptSha;

    RedisVectorStore(String url, String script, long retryTimeoutMillis, Counter retries) {
        this.uri = URI.create(url);
        this.redactedUrl = redact(url);
        this.script = script;
        this.retryTimeoutMillis = retryTimeoutMillis;
        this.retries = retries;
    }

    /**
     * Runs the script for every row of {@code batch}; returns once all are applied.
     *
     * @throws IOException when Redis still fails after the retry timeout
     */
    Outcome write(List<VectorWrite> batch) throws IOException, InterruptedException {
        List<VectorWrite> pending = batch;
        long written = 0;
        long skipped = 0;
        RuntimeException lastError = null;
        long deadline = System.nanoTime() + retryTimeoutMillis * 1_000_000L;
        long backoff = FIRST_BACKOFF_MILLIS;
        for (int attempt = 1; ; attempt++) {
            List<VectorWrite> failed = new ArrayList<>();
            try {
                connect();
                Pipeline pipeline = jedis.pipelined();
                List<Response<Object>> responses = new ArrayList<>(pending.size());
                for (VectorWrite write : pending) {
                    responses.add(pipeline.evalsha(scriptSha, List.of(write.key()), write.args()));
                }
                pipeline.sync();
                for (int i = 0; i < responses.size(); i++) {
                    try {
                        if (((Long) responses.get(i).get()) == 1L) {
                            written++;
                        } else {
                            skipped++;
                        }
                    } catch (JedisNoScriptException e) {
                        // The server lost its script cache (restart, failover, SCRIPT FLUSH):
                        // load it again and resend only the rows that did not run.
                        scriptSha = null;
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
                // (rows Redis applied before the failure are rewritten identically).
                disconnect();
                failed = pending;
                lastError = e;
            }
            if (failed.isEmpty()) {
                return new Outcome(written, skipped);
            }
            pending = failed;
            if (System.nanoTime() - deadline >= 0) {
                break;
            }
            retries.inc();
            LOG.warn(
                    "online store: {} of {} rows not written to Redis at {} (attempt {}, retrying"
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
                        + " rows unwritten, e.g. key "
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
        if (scriptSha == null) {
            scriptSha = jedis.scriptLoad(script);
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
