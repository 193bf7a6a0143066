package dev.featurestream.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * The running state of one key: sequence counters of its event history, where each window
 * starts in that history, the last released event time, and one running accumulator per
 * aggregate. Kept in Flink state as one byte array (value state is converted on every call, so
 * a compact blob beats a POJO of arrays) that starts with the hash of the {@link WindowLayout}
 * it was written for.
 */
final class WindowAccumulators {
    /** Sequence number the next released event gets. */
    long nextSeq;
    /** Oldest sequence number still in the history. */
    long headSeq;
    /** Latest released event time, or {@link Long#MIN_VALUE}. */
    long lastTs = Long.MIN_VALUE;
    /** Per window: sequence number of its oldest event. */
    final long[] windowStart;
    final Acc[] accs;

    /** One aggregate's running values; which fields matter depends on the function. */
    static final class Acc {
        /** Non-null inputs (or rows, for a count without input) in the window. */
        long n;
        /** Exact sum of integer inputs. */
        long isum;
        /** Sum of floating inputs (and of all inputs, as doubles, for stddev). */
        final DoubleDouble sum = new DoubleDouble();
        final DoubleDouble sumSq = new DoubleDouble();
        /** Distinct values with a positive count. */
        long distinct;
        /** Kind of the values seen (a {@link Values} tag), decides the output class. */
        byte kind = Values.NULL;
        /** Min/max: candidates in sequence order, values strictly monotonic. */
        final ArrayDeque<Long> dequeSeq = new ArrayDeque<>();
        final ArrayDeque<Object> dequeValue = new ArrayDeque<>();
    }

    WindowAccumulators(WindowSpec spec) {
        this(spec.windows.length, spec.aggs.length);
    }

    WindowAccumulators(int windows, int aggs) {
        windowStart = new long[windows];
        accs = new Acc[aggs];
        for (int i = 0; i < accs.length; i++) {
            accs[i] = new Acc();
        }
    }

    /** Length of a dormant blob: layout hash, last event time. */
    static final int DORMANT_LENGTH = 16;
    /** Offset of {@link #lastTs} in a full blob (after hash, nextSeq, headSeq). */
    private static final int LAST_TS_OFFSET = 24;

    /** The layout hash a blob was written for. */
    static long layoutHash(byte[] data) {
        return java.nio.ByteBuffer.wrap(data, 0, 8).getLong();
    }

    /** The blob of a dormant key: no window state, only its last event time. */
    static byte[] dormant(long layoutHash, long lastTs) {
        return java.nio.ByteBuffer.allocate(DORMANT_LENGTH).putLong(layoutHash).putLong(lastTs)
                .array();
    }

    static boolean isDormant(byte[] data) {
        return data.length == DORMANT_LENGTH;
    }

    /** The last released event time of a blob (full or dormant), without decoding the rest. */
    static long lastTs(byte[] data) {
        int offset = isDormant(data) ? 8 : LAST_TS_OFFSET;
        return java.nio.ByteBuffer.wrap(data, offset, 8).getLong();
    }

    static WindowAccumulators decode(WindowSpec spec, byte[] data) throws IOException {
        return decode(spec.windows.length, spec.aggs.length, data);
    }

    /** Decodes a blob written for a layout with {@code windowCount} windows and aggregates. */
    static WindowAccumulators decode(int windowCount, int aggCount, byte[] data)
            throws IOException {
        WindowAccumulators w = new WindowAccumulators(windowCount, aggCount);
        if (data == null) {
            return w;
        }
        if (isDormant(data)) {
            w.lastTs = lastTs(data);
            return w;
        }
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
        in.readLong(); // layout hash: the caller has matched it (WindowFeatures.ensureLayout)
        w.nextSeq = in.readLong();
        w.headSeq = in.readLong();
        w.lastTs = in.readLong();
        int windows = in.readInt();
        int aggs = in.readInt();
        if (windows != w.windowStart.length || aggs != w.accs.length) {
            throw new IOException(
                    "window state has " + windows + " windows and " + aggs
                            + " aggregates, its layout " + w.windowStart.length + " and "
                            + w.accs.length + ": corrupt state");
        }
        for (int i = 0; i < windows; i++) {
            w.windowStart[i] = in.readLong();
        }
        for (Acc a : w.accs) {
            a.n = in.readLong();
            a.isum = in.readLong();
            a.sum.hi = in.readDouble();
            a.sum.lo = in.readDouble();
            a.sumSq.hi = in.readDouble();
            a.sumSq.lo = in.readDouble();
            a.distinct = in.readLong();
            a.kind = in.readByte();
            int deque = in.readInt();
            for (int j = 0; j < deque; j++) {
                a.dequeSeq.addLast(in.readLong());
                a.dequeValue.addLast(Values.read(in));
            }
        }
        return w;
    }

    byte[] encode(long layoutHash) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(72 + accs.length * 64);
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeLong(layoutHash);
        out.writeLong(nextSeq);
        out.writeLong(headSeq);
        out.writeLong(lastTs);
        out.writeInt(windowStart.length);
        out.writeInt(accs.length);
        for (long s : windowStart) {
            out.writeLong(s);
        }
        for (Acc a : accs) {
            out.writeLong(a.n);
            out.writeLong(a.isum);
            out.writeDouble(a.sum.hi);
            out.writeDouble(a.sum.lo);
            out.writeDouble(a.sumSq.hi);
            out.writeDouble(a.sumSq.lo);
            out.writeLong(a.distinct);
            out.writeByte(a.kind);
            out.writeInt(a.dequeSeq.size());
            Iterator<Long> seqs = a.dequeSeq.iterator();
            Iterator<Object> values = a.dequeValue.iterator();
            while (seqs.hasNext()) {
                out.writeLong(seqs.next());
                Values.write(out, values.next());
            }
        }
        out.flush();
        return bytes.toByteArray();
    }
}
