package dev.featurestream.flink;

import org.apache.flink.table.api.dataview.MapView;

/**
 * Reads state written by releases before format v2 (decision 58) and rewrites it as v2, the
 * first time a key is touched after such a restore. v1 kept one history entry per event under
 * its sequence number, so a key moves its live entries (at most its largest window's worth)
 * into chunks once; the entry bytes are the same in both formats. Its named {@code cleanup} and
 * {@code forget} timers still fire once and are then replaced by the v2 expiry timer.
 */
final class WindowStateV1 {
    /** Length of a v1 dormant blob: layout hash, last event time. */
    static final int DORMANT_LENGTH = 16;

    private WindowStateV1() {}

    static boolean isDormant(byte[] data) {
        return data.length == DORMANT_LENGTH;
    }

    /**
     * Pending groups of a v1 key (all in the pending map): counted once, at its migration, so
     * that v2 knows when the map can hold none of them.
     */
    static int countPending(MapView<Long, byte[]> pending) throws Exception {
        int n = 0;
        for (Long ignored : pending.keys()) {
            n++;
        }
        return n;
    }

    static long lastTs(byte[] data) {
        return StateBytes.longAt(data, isDormant(data) ? 8 : 24);
    }

    /**
     * The v2 accumulators of a full v1 blob written for {@code layout}, its history moved into
     * chunks ({@code history} is rewritten in place); the expiry timer is not set yet.
     */
    static WindowAccumulators migrate(
            WindowLayout layout, byte[] data, MapView<Long, byte[]> history) throws Exception {
        WindowSpec.Fn[] fns = layout.fns();
        WindowAccumulators w = new WindowAccumulators(layout.windows.length, fns.length);
        StateBytes.Reader in = new StateBytes.Reader(data);
        in.getLong(); // layout hash: matched by the caller
        long nextSeq = in.getLong();
        w.headSeq = in.getLong();
        w.lastTs = in.getLong();
        int windows = in.getInt();
        int aggs = in.getInt();
        if (windows != layout.windows.length || aggs != fns.length) {
            throw new IllegalStateException(
                    "v1 window state has " + windows + " windows and " + aggs + " aggregates, its"
                            + " layout " + layout.windows.length + " and " + fns.length
                            + ": corrupt state");
        }
        for (int i = 0; i < windows; i++) {
            w.windowStart[i] = in.getLong();
        }
        for (WindowAccumulators.Acc a : w.accs) {
            a.n = in.getLong();
            a.isum = in.getLong();
            a.sum.hi = in.getDouble();
            a.sum.lo = in.getDouble();
            a.sumSq.hi = in.getDouble();
            a.sumSq.lo = in.getDouble();
            a.distinct = in.getLong();
            a.kind = in.getByte();
            // v1 kept every distinct value in the distinct map.
            a.spilled = a.distinct > 0;
            int deque = in.getInt();
            for (int j = 0; j < deque; j++) {
                a.dequeSeq.addLast(in.getLong());
                a.dequeValue.addLast(in.getValue());
            }
        }
        // Re-append the live entries: chunk boundaries follow sequence numbers, so the
        // accumulators' window starts and min/max candidates keep their meaning.
        if (windows == 0) {
            // No windows, no history: only the counters.
            w.nextSeq = nextSeq;
            w.headSeq = nextSeq;
            w.tailFirst = nextSeq;
            return w;
        }
        w.nextSeq = w.headSeq;
        w.tailFirst = w.headSeq;
        EventHistory chunks = new EventHistory(history, w);
        for (long seq = w.headSeq; seq < nextSeq; seq++) {
            byte[] entry = history.get(seq);
            if (entry == null) {
                throw new IllegalStateException("v1 history entry " + seq + " missing");
            }
            history.remove(seq);
            chunks.append(entry);
        }
        for (int i = 0; i < windows; i++) {
            w.windowStartTs[i] =
                    w.windowStart[i] < w.nextSeq
                            ? EventHistory.timeOf(chunks.entry(w.windowStart[i]))
                            : Long.MIN_VALUE;
        }
        return w;
    }
}
