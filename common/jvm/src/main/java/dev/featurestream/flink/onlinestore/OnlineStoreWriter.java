package dev.featurestream.flink.onlinestore;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.groups.SinkWriterMetricGroup;
import org.apache.flink.table.data.RowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Buffers encoded vectors (and, with {@code history-columns}, event-log or tile entries: one of
 * each per row) and sends them to Redis in pipelined batches: when the batch is full, every {@code
 * flush-interval}, and in {@link #flush} (before each checkpoint and at end of input).
 *
 * <p>The interval flush is a processing-time timer, whose callback Flink runs in the task's
 * mailbox thread, the same thread as {@link #write} and {@link #flush}: the buffer needs no lock.
 *
 * <p>Metrics: {@code onlineStoreWritten} (the script stored the vector), {@code
 * onlineStoreSkippedOlder} (a newer vector was already stored), {@code
 * onlineStoreEventsWritten} (the event log holds the row's event, or the tiles folded it), {@code
 * onlineStoreEventsSkippedOld} (the event is older than the log keeps behind the key's newest;
 * tiled: not after the key's newest event, a replay of one already folded),
 * {@code onlineStoreDroppedInvalid} (null key, event id or event time: the row cannot be placed
 * or ordered).
 */
final class OnlineStoreWriter implements SinkWriter<RowData> {

    private static final Logger LOG = LoggerFactory.getLogger(OnlineStoreWriter.class);

    private final VectorEncoder encoder;
    /** Null without {@code history-columns}: no event log or tiles. */
    private final EventLogEncoder eventLog;
    private final RedisVectorStore store;
    private final int batchSize;
    private final long flushIntervalMillis;
    private final ProcessingTimeService timeService;
    private final List<ScriptCall> buffer;
    /** Rows in {@link #buffer} (a row is one or two calls); the batch size counts rows. */
    private int bufferedRows;

    private final Counter written;
    private final Counter skippedOlder;
    private final Counter eventsWritten;
    private final Counter eventsSkippedOld;
    private final Counter droppedInvalid;
    private final Counter recordsSent;

    private boolean closed;

    OnlineStoreWriter(
            VectorLayout layout,
            EventLogLayout eventLogLayout,
            WriterSettings settings,
            WriterInitContext context) {
        this.encoder = new VectorEncoder(layout, settings.ttlMillis());
        this.eventLog =
                eventLogLayout == null
                        ? null
                        : new EventLogEncoder(
                                eventLogLayout,
                                settings.historyKeepMillis(),
                                settings.historyTtlMillis(),
                                settings.historyTileMillis());
        SinkWriterMetricGroup metrics = context.metricGroup();
        this.store =
                new RedisVectorStore(
                        settings.url(),
                        settings.scripts(),
                        settings.retryTimeoutMillis(),
                        metrics.counter("onlineStoreRetries"));
        this.batchSize = settings.batchSize();
        this.flushIntervalMillis = settings.flushIntervalMillis();
        this.timeService = context.getProcessingTimeService();
        this.buffer = new ArrayList<>(eventLog == null ? batchSize : 2 * batchSize);
        this.written = metrics.counter("onlineStoreWritten");
        this.skippedOlder = metrics.counter("onlineStoreSkippedOlder");
        this.eventsWritten = metrics.counter("onlineStoreEventsWritten");
        this.eventsSkippedOld = metrics.counter("onlineStoreEventsSkippedOld");
        this.droppedInvalid = metrics.counter("onlineStoreDroppedInvalid");
        this.recordsSent = metrics.getNumRecordsSendCounter();
        if (flushIntervalMillis > 0) {
            scheduleFlush();
        }
    }

    @Override
    public void write(RowData row, Context context) throws IOException, InterruptedException {
        // Encoded now, not kept as RowData: the runtime may reuse the row object.
        ScriptCall vector = encoder.encode(row);
        if (vector == null) {
            if (droppedInvalid.getCount() == 0) {
                LOG.warn(
                        "online store: dropping rows with a null key, event id or event time "
                                + "(counted in onlineStoreDroppedInvalid; logged once)");
            }
            droppedInvalid.inc();
            return;
        }
        buffer.add(vector);
        if (eventLog != null) {
            // Null only for the rows the vector encoder already refused.
            buffer.add(eventLog.encode(row));
        }
        bufferedRows++;
        if (bufferedRows >= batchSize) {
            flushBuffer();
        }
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        // Called before every checkpoint barrier goes downstream: writing everything here is
        // what makes a completed checkpoint imply the rows before it are in Redis.
        flushBuffer();
    }

    private void flushBuffer() throws IOException, InterruptedException {
        if (buffer.isEmpty()) {
            return;
        }
        RedisVectorStore.Outcome outcome = store.write(buffer);
        written.inc(outcome.written());
        skippedOlder.inc(outcome.skippedOlder());
        eventsWritten.inc(outcome.eventsWritten());
        eventsSkippedOld.inc(outcome.eventsSkippedOld());
        recordsSent.inc(bufferedRows);
        buffer.clear();
        bufferedRows = 0;
    }

    private void scheduleFlush() {
        timeService.registerTimer(
                timeService.getCurrentProcessingTime() + flushIntervalMillis, this::onFlushTimer);
    }

    private void onFlushTimer(long time) throws IOException, InterruptedException {
        if (closed) {
            return;
        }
        flushBuffer();
        scheduleFlush();
    }

    @Override
    public void close() {
        // No flush here: close also runs on cancel and failure, when the rows must not count as
        // written; the end-of-input flush has already run on a normal finish.
        closed = true;
        store.close();
    }
}
