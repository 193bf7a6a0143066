package dev.featurestream.flink.onlinestore;

import java.io.Serializable;

/**
 * How the sink talks to Redis, resolved from the table options at planning time.
 *
 * @param url Redis URL (may hold a password: never log it unredacted)
 * @param script the newer-wins Lua script text ({@code common/online_store.lua})
 * @param ttlMillis PEXPIRE of a written vector; 0 = none
 * @param batchSize rows per pipeline
 * @param flushIntervalMillis longest wait of a row in a partial batch; 0 = no timer
 * @param retryTimeoutMillis how long a batch is retried while Redis fails before the task fails
 */
record WriterSettings(
        String url,
        String script,
        long ttlMillis,
        int batchSize,
        long flushIntervalMillis,
        long retryTimeoutMillis)
        implements Serializable {

    @Override
    public String toString() {
        // Keeps the script and any password out of plan descriptions and logs.
        return "url="
                + RedisVectorStore.redact(url)
                + ", ttl="
                + ttlMillis
                + " ms, batch-size="
                + batchSize
                + ", flush-interval="
                + flushIntervalMillis
                + " ms, retry-timeout="
                + retryTimeoutMillis
                + " ms";
    }
}
