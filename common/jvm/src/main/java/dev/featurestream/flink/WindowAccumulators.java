package dev.featurestream.flink;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The running state of one key in one value (format v2, decision 58): when its events were
 * released and when its expiry timer fires (a fixed 24-byte header that {@code eval} reads
 * without decoding the rest), the sequence counters of its event history, where each window
 * starts in that history and the event time there (so a release reads the history only when
 * something leaves a window), one running accumulator per aggregate in the few fields its
 * function needs, and the newest history entries (the tail: up to {@link
 * EventHistory#CHUNK} of them, sealed into the history map as one chunk when full).
 *
 * <p>After the fixed header come the key's pending peer groups: up to {@link #INLINE_GROUPS}
 * small ones inline (a card's next payment waits here, not in the pending map), then how many
 * more wait in the pending map. A <em>dormant</em> key has nothing else: no window state, its
 * last released event time kept for {@code seconds_since_prev} and the restart guard. A key whose
 * first event has not been released yet is dormant with no last time.
 */
final class WindowAccumulators {
    /** No timer registered. */
    static final long NONE = Long.MIN_VALUE;
    private static final int LAST_TS_OFFSET = 8;
    private static final int EXPIRE_AT_OFFSET = 16;
    private static final int KIND_OFFSET = 24;
    private static final int PENDING_OFFSET = 25;
    private static final byte DORMANT = 0;
    private static final byte FULL = 2;
    /** Pending groups kept inline at most, and their bytes at most. */
    static final int INLINE_GROUPS = 4;
    static final int INLINE_PENDING_BYTES = 1_024;
    /** Distinct values an aggregate keeps inline before it spills them to the distinct map. */
    static final int INLINE_DISTINCT = 32;

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
    /** The key's pending groups (inline ones, and the count of those in the pending map). */
    Pending pending = new Pending();

    /**
     * Pending peer groups by timestamp: small ones inline in the value, the rest in the pending
     * map (counted, so a key with none there never reads it).
     */
    static final class Pending {
        final List<Long> times = new ArrayList<>(2);
        final List<byte[]> groups = new ArrayList<>(2);
        int inMap;

        int inlineBytes() {
            int n = 0;
            for (byte[] g : groups) {
                n += g.length;
            }
            return n;
        }

        int indexOf(long t) {
            for (int i = 0; i < times.size(); i++) {
                if (times.get(i) == t) {
                    return i;
                }
            }
            return -1;
        }

        /** Takes the inline group at index {@code i} out. */
        byte[] removeAt(int i) {
            times.remove(i);
            return groups.remove(i);
        }

        /** Whether a group of {@code bytes} more fits inline. */
        boolean fits(int bytes, boolean newGroup) {
            return (!newGroup || times.size() < INLINE_GROUPS)
                    && inlineBytes() + bytes <= INLINE_PENDING_BYTES;
        }

        void write(StateBytes.Writer out) {
            out.putVarLong(times.size());
            for (int i = 0; i < times.size(); i++) {
                out.putLong(times.get(i)).putVarLong(groups.get(i).length).putBytes(groups.get(i));
            }
            out.putVarLong(inMap);
        }

        static Pending read(StateBytes.Reader in) {
            Pending p = new Pending();
            int n = (int) in.getVarLong();
            for (int i = 0; i < n; i++) {
                p.times.add(in.getLong());
                p.groups.add(in.getBytes((int) in.getVarLong()));
            }
            p.inMap = (int) in.getVarLong();
            return p;
        }

        /** Moves {@code in} past a pending section without decoding it. */
        static void skip(StateBytes.Reader in) {
            int n = (int) in.getVarLong();
            for (int i = 0; i < n; i++) {
                in.skip(8);
                in.skip((int) in.getVarLong());
            }
            in.getVarLong();
        }
    }

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
        /** Distinct count: value counts, inline until more than {@link #INLINE_DISTINCT}. */
        final Map<Object, Long> inline = new LinkedHashMap<>();
        /** Distinct count: the values are in the distinct map instead. */
        boolean spilled;
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
        return data[KIND_OFFSET] == DORMANT;
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

    /** The blob's pending groups, without decoding the rest. */
    static Pending pendingOf(byte[] data) {
        return Pending.read(new StateBytes.Reader(data, PENDING_OFFSET));
    }

    /**
     * A copy of the blob with another expiry time and other pending groups, in one copy (the
     * window state copied as bytes).
     */
    static byte[] withPending(byte[] data, long expireAt, Pending pending) {
        StateBytes.Reader in = new StateBytes.Reader(data, PENDING_OFFSET);
        Pending.skip(in);
        int body = in.position();
        StateBytes.Writer out = new StateBytes.Writer(data.length + 64);
        out.putBytes(data, 0, EXPIRE_AT_OFFSET).putLong(expireAt).putByte(data[KIND_OFFSET]);
        pending.write(out);
        out.putBytes(data, body, data.length - body);
        return out.toArray();
    }

    /** The blob of a dormant key. */
    static byte[] dormant(long layoutHash, long lastTs, long expireAt, Pending pending) {
        StateBytes.Writer out = new StateBytes.Writer(32);
        out.putLong(layoutHash).putLong(lastTs).putLong(expireAt).putByte(DORMANT);
        pending.write(out);
        return out.toArray();
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
        StateBytes.Reader in = new StateBytes.Reader(data, PENDING_OFFSET);
        w.pending = Pending.read(in);
        if (isDormant(data)) {
            return w;
        }
        w.nextSeq = in.getVarLong();
        w.headSeq = w.nextSeq - in.getVarLong();
        int windows = (int) in.getVarLong();
        int aggs = (int) in.getVarLong();
        if (windows != windowCount || aggs != fns.length) {
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
                    a.spilled = in.getByte() != 0;
                    int inline = a.spilled ? 0 : (int) a.distinct;
                    for (int j = 0; j < inline; j++) {
                        a.inline.put(in.getValue(), in.getVarLong());
                    }
                    break;
                default:
                    break; // last, seconds_since_prev: no window state
            }
        }
        w.tail.addAll(Arrays.asList(in.getByteArrays()));
        w.tailFirst = w.nextSeq - w.tail.size();
        return w;
    }

    /** The full blob; {@code fns} as for {@link #decode}. */
    byte[] encode(long layoutHash, WindowSpec.Fn[] fns) {
        StateBytes.Writer out =
                new StateBytes.Writer(
                        64 + windowStart.length * 12 + accs.length * 12 + StateBytes.sizeOf(tail));
        out.putLong(layoutHash).putLong(lastTs).putLong(expireAt).putByte(FULL);
        pending.write(out);
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
                    out.putByte(a.spilled ? 1 : 0);
                    if (!a.spilled) {
                        for (Map.Entry<Object, Long> e : a.inline.entrySet()) {
                            out.putValue(e.getKey()).putVarLong(e.getValue());
                        }
                    }
                    break;
                default:
                    break;
            }
        }
        out.putByteArrays(tail);
        return out.toArray();
    }
}
