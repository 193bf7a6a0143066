package dev.featurestream.flink.onlinestore;

import java.io.Serializable;
import java.util.Map;

/**
 * How the sink talks to Redis, resolved from the table options at planning time.
 *
 * @param url Redis URL (may hold a password: never log it unredacted)
 * @param scripts the text of each Lua script the sink runs (the event log's, or the tiles', only
 *     with {@code history-columns})
 * @param ttlMillis PEXPIRE of a written vector; 0 = none
 * @param batchSize rows per pipeline
 * @param flushIntervalMillis longest wait of a row in a partial batch; 0 = no timer
 * @param retryTimeoutMillis how long a batch is retried while Redis fails before the task fails
 * @param historyKeepMillis how far behind a key's newest event its event log keeps events, or
 *     its tiles keep tiles (0 without either)
 * @param historyTtlMillis PEXPIRE of an event log or tiles hash after each write; 0 = none
 * @param historyTileMillis length of a tile (decision 76); 0 = the plain event log, or none
 */
record WriterSettings(
        String url,
        Map<StoreScript, String> scripts,
        long ttlMillis,
        int batchSize,
        long flushIntervalMillis,
        long retryTimeoutMillis,
        long historyKeepMillis,
        long historyTtlMillis,
        long historyTileMillis)
        implements Serializable {

    @Override
    public String toString() {
        // Keeps the scripts and any password out of plan descriptions and logs.
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
                + " ms"
                + (scripts.containsKey(StoreScript.EVENT_LOG)
                                || scripts.containsKey(StoreScript.EVENT_TILES)
                        ? ", history-keep="
                                + historyKeepMillis
                                + " ms, history-ttl="
                                + historyTtlMillis
                                + " ms"
                        : "")
                + (historyTileMillis > 0 ? ", history-tile=" + historyTileMillis + " ms" : "");
    }
}
