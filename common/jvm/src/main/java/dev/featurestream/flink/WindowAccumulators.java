package dev.featurestream.flink;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The running state of one key in one value (format v2, decision 58): when its events were
 * released and when its expiry timer fires (a fixed 24-byte header that {@code eval} reads
 * without decoding the rest), the sequence counters of its event history, where each window
 * starts in that history and the event time there (so a release reads the history only when
 * something leaves a window), one running accumulator per aggregate in the few fields its
 * function needs, and the newest history entries (the tail: up to {@link
 * EventHistory#CHUNK} of them, sealed into the history map as one chunk when full).
 *
 * <p>A <em>dormant</em> key is just the header: no window state, its last released event time
 * kept for {@code seconds_since_prev} and the restart guard. A key whose first event has not
 * been released yet is dormant with no last time.
 */
final class WindowAccumulators {
    /** No timer registered. */
    static final long NONE = Long.MIN_VALUE;
    /** Length of a dormant blob: layout hash, last event time, expiry timer. */
    static final int DORMANT_LENGTH = 24;
    private static final int LAST_TS_OFFSET = 8;
    private static final int EXPIRE_AT_OFFSET = 16;
    private static final byte FULL = 2;

    /** Sequence number the next released event gets. */
    long nextSeq;
    /** Oldest sequence number still in the history. */
    long headSeq;
    /** Latest released event time, or {@link Long#MIN_VALUE}. */
    long lastTs = Long.MIN_VALUE;
    /** Time of the key's registered expiry timer, or {@link #NONE}. */
    long expireAt = NONE;
    /** Per window: sequence number of its oldest event. */
    final long[] windowStart;
    /** Per window: event time of its oldest event (meaningful when the window is not empty). */
    final long[] windowStartTs;
    final Acc[] accs;
    /** Sequence number of the first tail entry ({@code nextSeq} when the tail is empty). */
    long tailFirst;
    /** History entries {@code tailFirst .. nextSeq - 1}, not yet sealed into a chunk. */
    final List<byte[]> tail = new ArrayList<>();

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

    WindowAccumulators(int windows, int aggs) {
        windowStart = new long[windows];
        windowStartTs = new long[windows];
        accs = new Acc[aggs];
        for (int i = 0; i < accs.length; i++) {
            accs[i] = new Acc();
        }
    }

    // ------------------------------------------------------------------ header

    /** The layout hash a blob was written for. */
    static long layoutHash(byte[] data) {
        return StateBytes.longAt(data, 0);
    }

    static boolean isDormant(byte[] data) {
        return data.length == DORMANT_LENGTH;
    }

    /** The last released event time of a blob (full or dormant), without decoding the rest. */
    static long lastTs(byte[] data) {
        return StateBytes.longAt(data, LAST_TS_OFFSET);
    }

    static long expireAt(byte[] data) {
        return StateBytes.longAt(data, EXPIRE_AT_OFFSET);
    }

    /** A copy of the blob with another expiry time. */
    static byte[] withExpireAt(byte[] data, long expireAt) {
        return StateBytes.withLongAt(data, EXPIRE_AT_OFFSET, expireAt);
    }

    /** The blob of a dormant key. */
    static byte[] dormant(long layoutHash, long lastTs, long expireAt) {
        return new StateBytes.Writer(DORMANT_LENGTH)
                .putLong(layoutHash)
                .putLong(lastTs)
                .putLong(expireAt)
                .toArray();
    }

    // ------------------------------------------------------------------ codec

    /** Decodes a blob (full or dormant) written for aggregates {@code fns}. */
    static WindowAccumulators decode(WindowSpec.Fn[] fns, int windowCount, byte[] data) {
        WindowAccumulators w = new WindowAccumulators(windowCount, fns.length);
        if (data == null) {
            return w;
        }
        w.lastTs = lastTs(data);
        w.expireAt = expireAt(data);
        if (isDormant(data)) {
            return w;
        }
        StateBytes.Reader in = new StateBytes.Reader(data, DORMANT_LENGTH);
        byte mark = in.getByte();
        w.nextSeq = in.getVarLong();
        w.headSeq = w.nextSeq - in.getVarLong();
        int windows = (int) in.getVarLong();
        int aggs = (int) in.getVarLong();
        if (mark != FULL || windows != windowCount || aggs != fns.length) {
            throw new IllegalStateException(
                    "window state has " + windows + " windows and " + aggs + " aggregates, its"
                            + " layout " + windowCount + " and " + fns.length + ": corrupt state");
        }
        for (int i = 0; i < windows; i++) {
            w.windowStart[i] = w.nextSeq - in.getVarLong();
            w.windowStartTs[i] = in.getLong();
        }
        for (int i = 0; i < aggs; i++) {
            Acc a = w.accs[i];
            switch (fns[i]) {
                case COUNT:
                    a.n = in.getVarLong();
                    break;
                case SUM:
                case AVG:
                    a.n = in.getVarLong();
                    a.kind = in.getByte();
                    a.isum = in.getZigZag();
                    if (a.kind == Values.DOUBLE) {
                        a.sum.hi = in.getDouble();
                        a.sum.lo = in.getDouble();
                    }
                    break;
                case STDDEV_POP:
                    a.n = in.getVarLong();
                    a.kind = in.getByte();
                    a.sum.hi = in.getDouble();
                    a.sum.lo = in.getDouble();
                    a.sumSq.hi = in.getDouble();
                    a.sumSq.lo = in.getDouble();
                    break;
                case MIN:
                case MAX:
                    a.n = in.getVarLong();
                    a.kind = in.getByte();
                    int deque = (int) in.getVarLong();
                    for (int j = 0; j < deque; j++) {
                        a.dequeSeq.addLast(w.nextSeq - in.getVarLong());
                        a.dequeValue.addLast(in.getValue());
                    }
                    break;
                case DISTINCT_COUNT:
                    a.n = in.getVarLong();
                    a.kind = in.getByte();
                    a.distinct = in.getVarLong();
                    break;
                default:
                    break; // last, seconds_since_prev: no window state
            }
        }
        int tailCount = (int) in.getVarLong();
        w.tailFirst = w.nextSeq - tailCount;
        for (int i = 0; i < tailCount; i++) {
            w.tail.add(in.getBytes((int) in.getVarLong()));
        }
        return w;
    }

    static WindowAccumulators decode(WindowSpec spec, byte[] data) {
        return decode(fns(spec), spec.windows.length, data);
    }

    static WindowSpec.Fn[] fns(WindowSpec spec) {
        WindowSpec.Fn[] fns = new WindowSpec.Fn[spec.aggs.length];
        for (int i = 0; i < fns.length; i++) {
            fns[i] = spec.aggs[i].fn;
        }
        return fns;
    }

    /** The full blob; {@code fns} as for {@link #decode}. */
    byte[] encode(long layoutHash, WindowSpec.Fn[] fns) {
        int tailBytes = 0;
        for (byte[] e : tail) {
            tailBytes += e.length + 2;
        }
        StateBytes.Writer out =
                new StateBytes.Writer(64 + windowStart.length * 12 + accs.length * 12 + tailBytes);
        out.putLong(layoutHash).putLong(lastTs).putLong(expireAt).putByte(FULL);
        out.putVarLong(nextSeq).putVarLong(nextSeq - headSeq);
        out.putVarLong(windowStart.length).putVarLong(accs.length);
        for (int i = 0; i < windowStart.length; i++) {
            out.putVarLong(nextSeq - windowStart[i]).putLong(windowStartTs[i]);
        }
        for (int i = 0; i < accs.length; i++) {
            Acc a = accs[i];
            switch (fns[i]) {
                case COUNT:
                    out.putVarLong(a.n);
                    break;
                case SUM:
                case AVG:
                    out.putVarLong(a.n).putByte(a.kind).putZigZag(a.isum);
                    if (a.kind == Values.DOUBLE) {
                        out.putDouble(a.sum.hi).putDouble(a.sum.lo);
                    }
                    break;
                case STDDEV_POP:
                    out.putVarLong(a.n).putByte(a.kind);
                    out.putDouble(a.sum.hi).putDouble(a.sum.lo);
                    out.putDouble(a.sumSq.hi).putDouble(a.sumSq.lo);
                    break;
                case MIN:
                case MAX:
                    out.putVarLong(a.n).putByte(a.kind).putVarLong(a.dequeSeq.size());
                    Iterator<Long> seqs = a.dequeSeq.iterator();
                    Iterator<Object> values = a.dequeValue.iterator();
                    while (seqs.hasNext()) {
                        out.putVarLong(nextSeq - seqs.next()).putValue(values.next());
                    }
                    break;
                case DISTINCT_COUNT:
                    out.putVarLong(a.n).putByte(a.kind).putVarLong(a.distinct);
                    break;
                default:
                    break;
            }
        }
        out.putVarLong(tail.size());
        for (byte[] e : tail) {
            out.putVarLong(e.length).putBytes(e);
        }
        return out.toArray();
    }
}
