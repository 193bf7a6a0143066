package dev.featurestream.flink;

import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.functions.TableSemantics;
import org.apache.flink.types.Row;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Drives one {@link WindowFeatures} instance the way Flink 2.2's process-table operator does, for
 * unit tests: keyed state per partition key, rows at or behind the watermark dropped before
 * {@code eval}, timer registrations at or behind the watermark dropped, named timers replaced,
 * timers fired in time order as the watermark advances, and a restore (state and timers kept,
 * watermark gone). The real operator runs in the Python integration tests.
 */
final class PtfHarness {
    /** One key's state entries, as the function declares them. */
    static final class KeyState {
        final WindowFeatures.Accumulators acc = new WindowFeatures.Accumulators();
        final MapView<Long, byte[]> pending = new MapView<>();
        final MapView<Long, byte[]> history = new MapView<>();
        final MapView<String, Long> distinct = new MapView<>();

        KeyState copy() {
            KeyState c = new KeyState();
            c.acc.data = acc.data == null ? null : acc.data.clone();
            c.pending.getMap().putAll(pending.getMap());
            c.history.getMap().putAll(history.getMap());
            c.distinct.getMap().putAll(distinct.getMap());
            return c;
        }

        boolean isEmpty() throws Exception {
            return acc.data == null && pending.isEmpty() && history.isEmpty() && distinct.isEmpty();
        }
    }

    private record Timer(long time, String key, String name) {}

    private static final Comparator<Timer> ORDER =
            Comparator.comparingLong(Timer::time)
                    .thenComparing(Timer::key)
                    .thenComparing(t -> t.name() == null ? "" : t.name());

    final WindowFeatures function;
    final Map<String, KeyState> states = new LinkedHashMap<>();
    private final TreeSet<Timer> timers = new TreeSet<>(ORDER);
    private final Map<String, Map<String, Long>> named = new HashMap<>();
    final List<Row> output = new ArrayList<>();
    long watermark = Long.MIN_VALUE;
    /** Rows Flink dropped before eval because they were at or behind the watermark. */
    int droppedLate;

    private String currentKey;
    private long currentTime;
    private String currentTimer;

    /** What the function registered in its metric group. */
    final RecordingMetricGroup metrics = new RecordingMetricGroup();

    PtfHarness(String specJson) throws Exception {
        function = new WindowFeatures(specJson);
        function.setCollector(
                new org.apache.flink.util.Collector<>() {
                    @Override
                    public void collect(Row row) {
                        output.add(row);
                    }

                    @Override
                    public void close() {}
                });
        function.open(RecordingMetricGroup.context(metrics));
    }

    /** A harness for ``specJson`` restored from ``from``'s state and timers, no watermark. */
    static PtfHarness restore(String specJson, PtfHarness from) throws Exception {
        PtfHarness h = new PtfHarness(specJson);
        from.states.forEach((k, v) -> h.states.put(k, v.copy()));
        h.timers.addAll(from.timers);
        from.named.forEach((k, v) -> h.named.put(k, new HashMap<>(v)));
        return h;
    }

    /**
     * Writes every key's state entries and every timer (a savepoint of the harness), so that
     * state written by an earlier release of the function can be kept as a test fixture.
     */
    void save(DataOutputStream out) throws Exception {
        out.writeInt(states.size());
        for (Map.Entry<String, KeyState> e : states.entrySet()) {
            out.writeUTF(e.getKey());
            KeyState s = e.getValue();
            out.writeBoolean(s.acc.data != null);
            if (s.acc.data != null) {
                out.writeInt(s.acc.data.length);
                out.write(s.acc.data);
            }
            writeLongMap(out, s.pending.getMap());
            writeLongMap(out, s.history.getMap());
            out.writeInt(s.distinct.getMap().size());
            for (Map.Entry<String, Long> d : s.distinct.getMap().entrySet()) {
                out.writeUTF(d.getKey());
                out.writeLong(d.getValue());
            }
        }
        out.writeInt(timers.size());
        for (Timer t : timers) {
            out.writeLong(t.time());
            out.writeUTF(t.key());
            out.writeUTF(t.name() == null ? "" : t.name());
        }
    }

    /** A harness for ``specJson`` restored from what {@link #save} wrote; no watermark. */
    static PtfHarness load(String specJson, DataInputStream in) throws Exception {
        PtfHarness h = new PtfHarness(specJson);
        int keys = in.readInt();
        for (int i = 0; i < keys; i++) {
            KeyState s = new KeyState();
            String key = in.readUTF();
            if (in.readBoolean()) {
                s.acc.data = in.readNBytes(in.readInt());
            }
            readLongMap(in, s.pending.getMap());
            readLongMap(in, s.history.getMap());
            int distinct = in.readInt();
            for (int j = 0; j < distinct; j++) {
                s.distinct.getMap().put(in.readUTF(), in.readLong());
            }
            h.states.put(key, s);
        }
        int timerCount = in.readInt();
        for (int i = 0; i < timerCount; i++) {
            long time = in.readLong();
            String key = in.readUTF();
            String name = in.readUTF();
            Timer t = new Timer(time, key, name.isEmpty() ? null : name);
            h.timers.add(t);
            if (t.name() != null) {
                h.named.computeIfAbsent(key, k -> new HashMap<>()).put(t.name(), time);
            }
        }
        return h;
    }

    private static void writeLongMap(DataOutputStream out, Map<Long, byte[]> map)
            throws IOException {
        out.writeInt(map.size());
        for (Map.Entry<Long, byte[]> e : map.entrySet()) {
            out.writeLong(e.getKey());
            out.writeInt(e.getValue().length);
            out.write(e.getValue());
        }
    }

    private static void readLongMap(DataInputStream in, Map<Long, byte[]> map) throws IOException {
        int n = in.readInt();
        for (int i = 0; i < n; i++) {
            long key = in.readLong();
            map.put(key, in.readNBytes(in.readInt()));
        }
    }

    /** One input row of ``key`` at time ``t``; {@code fields} are name/value pairs. */
    void process(String key, long t, Object... fields) throws Exception {
        if (t <= watermark) {
            droppedLate++;
            return;
        }
        Row row = Row.withNames();
        for (int i = 0; i < fields.length; i += 2) {
            row.setField((String) fields[i], fields[i + 1]);
        }
        KeyState s = states.computeIfAbsent(key, k -> new KeyState());
        currentKey = key;
        currentTime = t;
        currentTimer = null;
        function.eval(new Ctx(), s.acc, s.pending, s.history, s.distinct, row);
        drop(key, s);
    }

    /** Moves the watermark to {@code w}, firing every timer at or before it in time order. */
    void advance(long w) throws Exception {
        watermark = Math.max(watermark, w);
        while (!timers.isEmpty() && timers.first().time() <= watermark) {
            Timer timer = timers.pollFirst();
            if (timer.name() != null) {
                named.get(timer.key()).remove(timer.name());
            }
            KeyState s = states.computeIfAbsent(timer.key(), k -> new KeyState());
            currentKey = timer.key();
            currentTime = timer.time();
            currentTimer = timer.name();
            function.onTimer(new Ctx(), s.acc, s.pending, s.history, s.distinct);
            drop(timer.key(), s);
        }
    }

    /** Removes every timer called ``name`` (state written before that timer existed). */
    void dropNamedTimers(String name) {
        timers.removeIf(t -> name.equals(t.name()));
        named.values().forEach(byName -> byName.remove(name));
    }

    /** Timers registered for ``key`` (named and unnamed). */
    long timersOf(String key) {
        return timers.stream().filter(t -> t.key().equals(key)).count();
    }

    long timerCount() {
        return timers.size();
    }

    private void drop(String key, KeyState s) throws Exception {
        // Flink keeps no entry for empty state; nor does the harness.
        if (s.isEmpty()) {
            states.remove(key);
        }
    }

    private void register(String name, long time) {
        if (time <= watermark) {
            return; // Flink 2.2 drops registrations in the past
        }
        if (name != null) {
            Map<String, Long> byName = named.computeIfAbsent(currentKey, k -> new HashMap<>());
            Long previous = byName.put(name, time);
            if (previous != null) {
                timers.remove(new Timer(previous, currentKey, name));
            }
        }
        timers.add(new Timer(time, currentKey, name));
    }

    private final class Ctx implements ProcessTableFunction.OnTimerContext {
        @Override
        @SuppressWarnings("unchecked")
        public <T> ProcessTableFunction.TimeContext<T> timeContext(Class<T> conversionClass) {
            return (ProcessTableFunction.TimeContext<T>)
                    new ProcessTableFunction.TimeContext<Long>() {
                        @Override
                        public Long time() {
                            return currentTime;
                        }

                        @Override
                        public Long currentWatermark() {
                            return watermark == Long.MIN_VALUE ? null : watermark;
                        }

                        @Override
                        public void registerOnTime(String name, Long time) {
                            register(name, time);
                        }

                        @Override
                        public void registerOnTime(Long time) {
                            register(null, time);
                        }

                        @Override
                        public void clearTimer(String name) {
                            throw new UnsupportedOperationException();
                        }

                        @Override
                        public void clearTimer(Long time) {
                            timers.remove(new Timer(time, currentKey, null));
                        }

                        @Override
                        public void clearAllTimers() {
                            throw new UnsupportedOperationException();
                        }
                    };
        }

        @Override
        public String currentTimer() {
            return currentTimer;
        }

        @Override
        public TableSemantics tableSemanticsFor(String argName) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void clearState(String stateName) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void clearAllState() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void clearAllTimers() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void clearAll() {
            throw new UnsupportedOperationException();
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return ChangelogMode.insertOnly();
        }
    }
}
