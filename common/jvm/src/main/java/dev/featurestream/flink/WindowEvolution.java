package dev.featurestream.flink;

import org.apache.flink.table.api.dataview.MapView;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Carries one key's state from the layout it was written for to the current spec, the first time
 * the key is touched after a restore with a changed view (a feature added, removed, renamed or
 * reordered; inputs renumbered; carried columns changed).
 *
 * <p>What carries over exactly: every aggregate whose fold (function, input expression, window)
 * existed before keeps its accumulator; a new aggregate is rebuilt from the key's event history,
 * which holds every event within the largest earlier window: exact when its window is no longer
 * than that and its input was kept. Otherwise it warms up (counted in {@code keysWarmingUp}):
 * its values cover only what the history still holds until a full window has passed. The rules
 * are mirrored by {@code featurestream check-upgrade}, which reports such changes before a
 * deployment.
 */
final class WindowEvolution {
    private WindowEvolution() {}

    /** The outcome for one key. */
    static final class Result {
        WindowAccumulators accumulators;
        boolean warming;
    }

    /**
     * The accumulators of {@code s} from {@code ow}, written for {@code old}; pending events and
     * the history ({@code headSeq .. nextSeq - 1}, read once) are rewritten in place.
     */
    static Result evolve(
            WindowSpec s,
            WindowLayout now,
            WindowLayout old,
            WindowAccumulators ow,
            MapView<Long, byte[]> pending,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        int[] inputFrom = new int[now.inputs.size()];
        for (int i = 0; i < inputFrom.length; i++) {
            inputFrom[i] = old.inputs.indexOf(now.inputs.get(i));
        }
        int[] carryFrom = new int[now.carry.size()];
        for (int i = 0; i < carryFrom.length; i++) {
            carryFrom[i] = old.carry.indexOf(now.carry.get(i));
        }
        boolean hadHistory = old.windows.length > 0;
        boolean inputsChanged = !old.inputs.equals(now.inputs);

        // 1. Pending events in the new value order (inline ones and those in the map).
        if (inputsChanged || !old.carry.equals(now.carry)) {
            int oldWidth = old.inputs.size() + old.carry.size();
            WindowAccumulators.Pending waiting = ow.pending;
            for (int i = 0; i < waiting.groups.size(); i++) {
                waiting.groups.set(
                        i, remapGroup(waiting.groups.get(i), oldWidth, inputFrom, old, carryFrom));
            }
            if (waiting.inMap > 0) {
                List<Map.Entry<Long, byte[]>> groups = new ArrayList<>();
                for (Map.Entry<Long, byte[]> e : pending.entries()) {
                    groups.add(Map.entry(e.getKey(), e.getValue()));
                }
                for (Map.Entry<Long, byte[]> g : groups) {
                    pending.put(
                            g.getKey(),
                            remapGroup(g.getValue(), oldWidth, inputFrom, old, carryFrom));
                }
            }
        }

        // 2. The history, in the new value order: entries i = seq - headSeq.
        List<byte[]> entries = new ArrayList<>();
        if (hadHistory) {
            EventHistory was = new EventHistory(history, ow);
            for (long seq = ow.headSeq; seq < ow.nextSeq; seq++) {
                byte[] entry = was.entry(seq);
                if (inputsChanged) {
                    Object[] values = EventHistory.valuesOf(entry, old.inputs.size());
                    Object[] mapped = remap(values, inputFrom, values.length, new int[0]);
                    entry = EventHistory.entryOf(EventHistory.timeOf(entry), mapped, mapped.length);
                }
                entries.add(entry);
            }
        }
        WindowAccumulators nw = new WindowAccumulators(s.windows.length, s.aggs.length);
        nw.lastTs = ow.lastTs;
        nw.expireAt = ow.expireAt;
        nw.pending = ow.pending;
        if (hadHistory && s.needsHistory() && !inputsChanged) {
            nw.nextSeq = ow.nextSeq;
            nw.headSeq = ow.headSeq;
            nw.tailFirst = ow.tailFirst;
            nw.tail.addAll(ow.tail);
        } else {
            if (hadHistory) {
                new EventHistory(history, ow).dropBefore(ow.nextSeq);
            }
            boolean keep = hadHistory && s.needsHistory();
            long first = keep ? ow.headSeq : ow.nextSeq;
            nw.nextSeq = first;
            nw.headSeq = first;
            nw.tailFirst = first;
            if (keep) {
                EventHistory now2 = new EventHistory(history, nw);
                for (byte[] entry : entries) {
                    now2.append(entry);
                }
            } else {
                entries.clear();
            }
        }

        // 3. Window starts: kept for a length that existed, found in the history for a new one.
        for (int wi = 0; wi < s.windows.length; wi++) {
            int was = old.windowIndex(s.windows[wi]);
            if (was >= 0) {
                nw.windowStart[wi] = ow.windowStart[was];
                nw.windowStartTs[wi] = ow.windowStartTs[was];
                continue;
            }
            long lower = ow.lastTs == Long.MIN_VALUE ? Long.MIN_VALUE : ow.lastTs - s.windows[wi];
            nw.windowStart[wi] = nw.nextSeq;
            nw.windowStartTs[wi] = Long.MIN_VALUE;
            for (int i = 0; i < entries.size(); i++) {
                long ts = EventHistory.timeOf(entries.get(i));
                if (ts >= lower) {
                    nw.windowStart[wi] = nw.headSeq + i;
                    nw.windowStartTs[wi] = ts;
                    break;
                }
            }
        }

        // 4. Accumulators: moved when the fold existed, rebuilt from the history otherwise.
        Result result = new Result();
        List<String> distinctKept = new ArrayList<>();
        List<String[]> distinctRenamed = new ArrayList<>();
        List<Integer> rebuild = new ArrayList<>();
        for (int i = 0; i < s.aggs.length; i++) {
            WindowSpec.Agg a = s.aggs[i];
            WindowLayout.Signature sig = now.aggs.get(i);
            int from = -1;
            for (int j = 0; j < old.aggs.size(); j++) {
                if (old.aggs.get(j).sameFold(sig)) {
                    from = j;
                    break;
                }
            }
            if (from >= 0) {
                nw.accs[i] = ow.accs[from];
                if (a.fn == WindowSpec.Fn.DISTINCT_COUNT) {
                    String was = old.aggs.get(from).name;
                    if (was.equals(a.name)) {
                        distinctKept.add(a.name);
                    } else {
                        distinctRenamed.add(new String[] {was, a.name});
                    }
                }
            } else if (a.fn.windowed()) {
                rebuild.add(i);
                boolean inputKept = a.inputIndex < 0 || inputFrom[a.inputIndex] >= 0;
                boolean covered =
                        hadHistory && (a.windowMs <= old.largestWindow() || ow.headSeq == 0);
                if (!inputKept || !covered) {
                    result.warming = true;
                }
            }
        }

        // 5. Distinct-value counts: keep, rename, or drop (rebuilt ones are re-added below).
        List<String> keys = new ArrayList<>();
        for (String k : distinct.keys()) {
            keys.add(k);
        }
        for (String k : keys) {
            int sep = k.indexOf(WindowFeatures.DISTINCT_SEP);
            String name = sep < 0 ? k : k.substring(0, sep);
            if (distinctKept.contains(name)) {
                continue;
            }
            Long count = distinct.get(k);
            distinct.remove(k);
            for (String[] pair : distinctRenamed) {
                if (pair[0].equals(name)) {
                    distinct.put(pair[1] + k.substring(sep), count);
                }
            }
        }
        for (int i = 0; i < entries.size() && !rebuild.isEmpty(); i++) {
            long seq = nw.headSeq + i;
            Object[] values = EventHistory.valuesOf(entries.get(i), s.inputs.size());
            for (int r : rebuild) {
                WindowSpec.Agg a = s.aggs[r];
                if (seq >= nw.windowStart[a.windowIndex]) {
                    WindowFeatures.add(
                            a, nw.accs[r], seq, a.inputIndex < 0 ? null : values[a.inputIndex],
                            distinct);
                }
            }
        }
        result.accumulators = nw;
        return result;
    }

    private static byte[] remapGroup(
            byte[] group, int oldWidth, int[] inputFrom, WindowLayout old, int[] carryFrom) {
        byte[] rewritten = null;
        for (WindowFeatures.Event e : WindowFeatures.decodeGroup(group, oldWidth)) {
            Object[] values = remap(e.values, inputFrom, old.inputs.size(), carryFrom);
            rewritten = WindowFeatures.appendEvent(rewritten, e.id, values);
        }
        return rewritten;
    }

    /** Values in the new order: inputs from their old positions (null if new), then carried. */
    private static Object[] remap(Object[] old, int[] inputFrom, int oldInputs, int[] carryFrom) {
        Object[] values = new Object[inputFrom.length + carryFrom.length];
        for (int i = 0; i < inputFrom.length; i++) {
            values[i] = inputFrom[i] < 0 ? null : old[inputFrom[i]];
        }
        for (int i = 0; i < carryFrom.length; i++) {
            values[inputFrom.length + i] = carryFrom[i] < 0 ? null : old[oldInputs + carryFrom[i]];
        }
        return values;
    }
}
