package dev.featurestream.flink.onlinestore;

import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;

/**
 * The planner's view of a {@code featurestream-redis} table: insert-only (each row is a complete
 * vector; the store keeps the newest per key by event time, so updates and deletes have no
 * meaning here), run by {@link OnlineStoreSink}.
 */
public final class OnlineStoreTableSink implements DynamicTableSink {

    private final VectorLayout layout;
    /** Null without {@code history-columns}. */
    private final EventLogLayout eventLog;
    private final WriterSettings settings;
    private final Integer parallelism;

    OnlineStoreTableSink(
            VectorLayout layout,
            EventLogLayout eventLog,
            WriterSettings settings,
            Integer parallelism) {
        this.layout = layout;
        this.eventLog = eventLog;
        this.settings = settings;
        this.parallelism = parallelism;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new OnlineStoreSink(layout, eventLog, settings), parallelism);
    }

    @Override
    public DynamicTableSink copy() {
        return new OnlineStoreTableSink(layout, eventLog, settings, parallelism);
    }

    @Override
    public String asSummaryString() {
        return OnlineStoreTableSinkFactory.IDENTIFIER
                + "("
                + layout
                + (eventLog == null ? "" : ", " + eventLog)
                + ", "
                + settings
                + ")";
    }
}
