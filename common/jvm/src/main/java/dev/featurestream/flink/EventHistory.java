package dev.featurestream.flink;

import org.apache.flink.table.api.dataview.MapView;

import java.util.HashMap;
import java.util.Map;

/**
 * One key's event history (what its windows hold), by sequence number: the newest entries in
 * the accumulator blob's tail, older ones in chunks of {@link #CHUNK} consecutive sequence
 * numbers, one history-map entry each (key {@code -1 - chunk}, apart from the layout entry and
 * the per-event keys of v1). A release touches the map once per {@code CHUNK} events appended
 * and once per chunk read or dropped as windows move on, never per event, and never scans it.
 *
 * <p>An entry is the event time (8 bytes) and the view's input values, tagged ({@link
 * StateBytes}); a chunk is its first sequence number, its entry count and the entries.
 */
final class EventHistory {
    /** Entries per chunk: a hot key's tail stays under ~2 KB, a cold key never leaves it. */
    static final int CHUNK = 32;

    private final MapView<Long, byte[]> map;
    private final WindowAccumulators w;
    /** Chunks read during this call, by chunk number: windows often walk the same ones. */
    private final Map<Long, Chunk> read = new HashMap<>(4);

    private static final class Chunk {
        final long first;
        final byte[][] entries;

        Chunk(long first, byte[][] entries) {
            this.first = first;
            this.entries = entries;
        }
    }

    EventHistory(MapView<Long, byte[]> map, WindowAccumulators w) {
        this.map = map;
        this.w = w;
    }

    static long chunkKey(long chunk) {
        return -1 - chunk;
    }

    /** An entry's event time. */
    static long timeOf(byte[] entry) {
        return StateBytes.longAt(entry, 0);
    }

    /** An entry's first {@code inputs} values. */
    static Object[] valuesOf(byte[] entry, int inputs) {
        StateBytes.Reader in = new StateBytes.Reader(entry, 8);
        Object[] values = new Object[inputs];
        for (int i = 0; i < inputs; i++) {
            values[i] = in.getValue();
        }
        return values;
    }

    /** The entry of an event: its time and its first {@code inputs} values (not carried ones). */
    static byte[] entryOf(long ts, Object[] values, int inputs) {
        StateBytes.Writer out = new StateBytes.Writer(8 + inputs * 10);
        out.putLong(ts);
        for (int i = 0; i < inputs; i++) {
            out.putValue(values[i]);
        }
        return out.toArray();
    }

    /** The entry with sequence number {@code seq} ({@code headSeq <= seq < nextSeq}). */
    byte[] entry(long seq) throws Exception {
        if (seq >= w.tailFirst) {
            return w.tail.get((int) (seq - w.tailFirst));
        }
        long c = seq / CHUNK;
        Chunk chunk = read.get(c);
        if (chunk == null) {
            byte[] bytes = map.get(chunkKey(c));
            if (bytes == null) {
                throw new IllegalStateException(
                        "window state: history chunk " + c + " missing (corrupt state)");
            }
            chunk = decode(bytes);
            read.put(c, chunk);
        }
        int i = (int) (seq - chunk.first);
        if (i < 0 || i >= chunk.entries.length) {
            throw new IllegalStateException(
                    "window state: history entry " + seq + " not in chunk " + c + " (corrupt state)");
        }
        return chunk.entries[i];
    }

    /** Appends the next entry (sequence number {@code nextSeq}), sealing a full tail first. */
    void append(byte[] entry) throws Exception {
        long seq = w.nextSeq;
        if (!w.tail.isEmpty() && seq / CHUNK != w.tailFirst / CHUNK) {
            map.put(chunkKey(w.tailFirst / CHUNK), encode(w.tailFirst, w));
            w.tail.clear();
        }
        if (w.tail.isEmpty()) {
            w.tailFirst = seq;
        }
        w.tail.add(entry);
        w.nextSeq = seq + 1;
    }

    /** Forgets entries before {@code oldest}: chunks wholly before it, the tail's front. */
    void dropBefore(long oldest) throws Exception {
        if (oldest <= w.headSeq) {
            return;
        }
        // Sealed chunks hold headSeq .. tailFirst - 1; drop those that end at or before oldest.
        long sealedEnd = Math.min(oldest, w.tailFirst);
        for (long c = w.headSeq / CHUNK; (c + 1) * CHUNK <= sealedEnd; c++) {
            map.remove(chunkKey(c));
            read.remove(c);
        }
        if (oldest > w.tailFirst) {
            int drop = (int) Math.min(oldest - w.tailFirst, w.tail.size());
            w.tail.subList(0, drop).clear();
            w.tailFirst += drop;
        }
        w.headSeq = oldest;
    }

    private static byte[] encode(long first, WindowAccumulators w) {
        StateBytes.Writer out = new StateBytes.Writer(10 + StateBytes.sizeOf(w.tail));
        return out.putVarLong(first).putByteArrays(w.tail).toArray();
    }

    private static Chunk decode(byte[] bytes) {
        StateBytes.Reader in = new StateBytes.Reader(bytes);
        long first = in.getVarLong();
        return new Chunk(first, in.getByteArrays());
    }
}
