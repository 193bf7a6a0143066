package dev.featurestream.flink.onlinestore;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.table.data.RowData;

/**
 * Sink V2 writing feature vectors to the Redis online store, newer-wins. Stateless: rows are
 * flushed before every checkpoint ({@link SinkWriter#flush}), so a completed checkpoint never
 * leaves rows unwritten (at-least-once), and a replay after a restore rewrites the same vectors,
 * which the script turns into no-ops or identical writes (and the event log's into members it
 * already holds, the tiles' into skips of events not after the newest folded).
 */
public final class OnlineStoreSink implements Sink<RowData> {

    private static final long serialVersionUID = 1L;

    private final VectorLayout layout;
    /** Null without {@code history-columns}. */
    private final EventLogLayout eventLog;
    private final WriterSettings settings;

    OnlineStoreSink(VectorLayout layout, EventLogLayout eventLog, WriterSettings settings) {
        this.layout = layout;
        this.eventLog = eventLog;
        this.settings = settings;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) {
        return new OnlineStoreWriter(layout, eventLog, settings, context);
    }
}
