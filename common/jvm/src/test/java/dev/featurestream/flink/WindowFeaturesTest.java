package dev.featurestream.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.types.DataType;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The window function's folding, eviction, retention, restore and evolution, against a
 * brute-force reference over event times that span days: gaps from 0 ms (peers) to more than a
 * day, events exactly one window apart, any arrival order within the bound.
 */
class WindowFeaturesTest {
    static final long S = 1_000;
    static final long M = 60 * S;
    static final long H = 60 * M;
    static final long D = 24 * H;
    static final long BOUND = 5 * S;
    static final long RETENTION = D + BOUND + 5 * M;
    static final long LAST_EVENT_RETENTION = 400 * D;
    /** When a key's expiry timer fires after its last event: retention and a quarter of it. */
    static final long EXPIRY = RETENTION + 1 + RETENTION / 4;
    static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z

    /** count 10m, count 1h, sum 1h, max 1h, min 24h, avg 24h, stddev 24h, distinct 24h, ... */
    static String spec(boolean withMax) {
        String max =
                withMax
                        ? "{\"name\":\"max_1h\",\"function\":\"max\",\"input\":\"in_0\","
                                + "\"window_ms\":3600000},"
                        : "";
        return "{\"spec_version\":1,\"view\":\"v\",\"version\":1,\"key\":\"card_id\","
                + "\"event_id\":\"payment_id\","
                + "\"inputs\":[{\"column\":\"in_0\",\"expression\":\"`amount`\",\"kind\":\"BIGINT\"},"
                + "{\"column\":\"in_1\",\"expression\":\"`merchant`\",\"kind\":\"STRING\"}],"
                + "\"aggregates\":["
                + "{\"name\":\"count_10m\",\"function\":\"count\",\"input\":null,\"window_ms\":600000},"
                + "{\"name\":\"count_1h\",\"function\":\"count\",\"input\":null,\"window_ms\":3600000},"
                + "{\"name\":\"sum_1h\",\"function\":\"sum\",\"input\":\"in_0\",\"window_ms\":3600000},"
                + max
                + "{\"name\":\"min_24h\",\"function\":\"min\",\"input\":\"in_0\",\"window_ms\":86400000},"
                + "{\"name\":\"avg_24h\",\"function\":\"avg\",\"input\":\"in_0\",\"window_ms\":86400000},"
                + "{\"name\":\"std_24h\",\"function\":\"stddev_pop\",\"input\":\"in_0\","
                + "\"window_ms\":86400000},"
                + "{\"name\":\"merchants_24h\",\"function\":\"distinct_count\",\"input\":\"in_1\","
                + "\"window_ms\":86400000},"
                + "{\"name\":\"last_merchant\",\"function\":\"last\",\"input\":\"in_1\",\"window_ms\":null},"
                + "{\"name\":\"since_prev\",\"function\":\"seconds_since_prev\",\"input\":null,"
                + "\"window_ms\":null}],"
                + "\"retention_ms\":" + RETENTION + ","
                + "\"last_event_retention_ms\":" + LAST_EVENT_RETENTION + "}";
    }

    static final String SPEC = spec(false);

    record Event(String key, String id, long t, long amount, String merchant, int partition, long offset) {}

    static void feed(PtfHarness h, Event e) throws Exception {
        h.process(
                e.key(), e.t(),
                "card_id", e.key(), "payment_id", e.id(), "in_0", e.amount(), "in_1", e.merchant(),
                "src_partition", e.partition(), "src_offset", e.offset());
    }

    // ------------------------------------------------------------------ reference

    /** Every feature of ``e`` by definition, over ``all`` events (any order). */
    static Map<String, Object> expected(Event e, List<Event> all, boolean withMax) {
        List<Event> mine = all.stream().filter(x -> x.key().equals(e.key())).toList();
        Map<String, Object> r = new HashMap<>();
        r.put("count_10m", (long) in(mine, e.t(), 10 * M).size());
        r.put("count_1h", (long) in(mine, e.t(), H).size());
        r.put("sum_1h", in(mine, e.t(), H).stream().mapToLong(Event::amount).sum());
        if (withMax) {
            r.put("max_1h", in(mine, e.t(), H).stream().mapToLong(Event::amount).max().getAsLong());
        }
        List<Event> day = in(mine, e.t(), D);
        r.put("min_24h", day.stream().mapToLong(Event::amount).min().getAsLong());
        double avg = day.stream().mapToLong(Event::amount).average().getAsDouble();
        r.put("avg_24h", avg);
        double var = day.stream().mapToDouble(x -> (x.amount() - avg) * (x.amount() - avg)).sum()
                / day.size();
        r.put("std_24h", Math.sqrt(var));
        r.put("merchants_24h", day.stream().map(Event::merchant).distinct().count());
        r.put(
                "last_merchant",
                mine.stream().filter(x -> x.t() == e.t()).max(Comparator.comparing(Event::id))
                        .get().merchant());
        Long prev =
                mine.stream().map(Event::t).filter(t -> t < e.t()).max(Long::compare).orElse(null);
        r.put(
                "since_prev",
                prev == null || e.t() - prev > LAST_EVENT_RETENTION ? null : (e.t() - prev) / 1000.0);
        return r;
    }

    static List<Event> in(List<Event> events, long t, long w) {
        return events.stream().filter(x -> x.t() >= t - w && x.t() <= t).toList();
    }

    static final String[] NAMES = {
        "count_10m", "count_1h", "sum_1h", "min_24h", "avg_24h", "std_24h", "merchants_24h",
        "last_merchant", "since_prev"
    };
    static final String[] NAMES_WITH_MAX = {
        "count_10m", "count_1h", "sum_1h", "max_1h", "min_24h", "avg_24h", "std_24h",
        "merchants_24h", "last_merchant", "since_prev"
    };

    /** The output rows by event id, features by name; reject rows left out. */
    static Map<String, Map<String, Object>> features(List<Row> rows, boolean withMax) {
        String[] names = withMax ? NAMES_WITH_MAX : NAMES;
        Map<String, Map<String, Object>> byId = new HashMap<>();
        for (Row row : rows) {
            if (row.getField(1 + names.length) != null) {
                continue;
            }
            Map<String, Object> values = new HashMap<>();
            for (int i = 0; i < names.length; i++) {
                values.put(names[i], row.getField(1 + i));
            }
            Object previous = byId.put((String) row.getField(0), values);
            assertNull(previous, "two rows for event " + row.getField(0));
        }
        return byId;
    }

    static void assertMatches(List<Event> events, List<Row> rows, boolean withMax) {
        Map<String, Map<String, Object>> got = features(rows, withMax);
        assertEquals(events.size(), got.size(), "one row per event");
        for (Event e : events) {
            Map<String, Object> want = expected(e, events, withMax);
            Map<String, Object> have = got.get(e.id());
            for (Map.Entry<String, Object> f : want.entrySet()) {
                Object w = f.getValue();
                Object h = have.get(f.getKey());
                String where = e.id() + " at " + (e.t() - T0) + " ms: " + f.getKey();
                if (w instanceof Double dw && h instanceof Double dh) {
                    assertEquals(dw, dh, 1e-9 * Math.max(1.0, Math.abs(dw)), where);
                } else {
                    assertEquals(w, h, where);
                }
            }
        }
    }

    // ------------------------------------------------------------------ data

    /**
     * Events of a few keys over about a week: bursts of peers, gaps of exactly 10 min, 1 h and
     * 24 h (the inclusive boundary), of one millisecond more, and long silences (up to 3 days).
     */
    static List<Event> timeline(long seed, int count) {
        Random rnd = new Random(seed);
        long[] gaps = {0, 1, 10 * M, 10 * M + 1, H, H + 1, D, D + 1, 3 * D};
        Map<String, Long> clock = new HashMap<>();
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String key = "k" + rnd.nextInt(4);
            long gap =
                    rnd.nextInt(4) == 0
                            ? gaps[rnd.nextInt(gaps.length)]
                            : (long) (rnd.nextDouble() * rnd.nextDouble() * 2 * H);
            long t = clock.merge(key, T0 + gap, (old, ignored) -> old + gap);
            events.add(
                    new Event(key, String.format("p%05d", i), t, rnd.nextInt(10_000) - 50,
                            "m" + rnd.nextInt(6), rnd.nextInt(3), i));
        }
        return events;
    }

    /** ``events`` in time order, each moved back by up to ``BOUND`` in arrival (in-time only). */
    static List<Event> arrival(List<Event> events, long seed) {
        List<Event> sorted = new ArrayList<>(events);
        sorted.sort(Comparator.comparingLong(Event::t).thenComparing(Event::id));
        Random rnd = new Random(seed);
        List<long[]> keyed = new ArrayList<>();
        for (int i = 0; i < sorted.size(); i++) {
            keyed.add(new long[] {sorted.get(i).t() + (long) (rnd.nextDouble() * BOUND), i});
        }
        keyed.sort(Comparator.comparingLong((long[] k) -> k[0]));
        List<Event> out = new ArrayList<>();
        for (long[] k : keyed) {
            out.add(sorted.get((int) k[1]));
        }
        return out;
    }

    /** Streams ``arrivals`` with a watermark of max event time - bound after each row. */
    static PtfHarness stream(String spec, List<Event> arrivals) throws Exception {
        PtfHarness h = new PtfHarness(spec);
        long max = Long.MIN_VALUE;
        for (Event e : arrivals) {
            feed(h, e);
            max = Math.max(max, e.t());
            h.advance(max - BOUND);
        }
        return h;
    }

    // ------------------------------------------------------------------ tests

    @Test
    void foldsExactlyOverDaysWhateverTheArrivalOrder() throws Exception {
        List<Event> events = timeline(7, 3_000);
        assertTrue(events.get(events.size() - 1).t() - T0 > 7 * D, "spans more than a week");
        PtfHarness h = stream(SPEC, arrival(events, 8));
        assertEquals(0, h.droppedLate, "arrivals within the bound are never late");
        h.advance(Long.MAX_VALUE);
        assertMatches(events, h.output, false);
    }

    @Test
    void boundedInputReleasesEverythingAtTheEndInTimeOrder() throws Exception {
        List<Event> events = timeline(11, 2_000);
        List<Event> reversed = new ArrayList<>(events);
        Collections.reverse(reversed);
        List<Event> shuffled = new ArrayList<>(events);
        Collections.shuffle(shuffled, new Random(3));
        List<List<Row>> outputs = new ArrayList<>();
        for (List<Event> order : List.of(events, reversed, shuffled)) {
            PtfHarness h = new PtfHarness(SPEC);
            for (Event e : order) {
                feed(h, e);
            }
            h.advance(Long.MAX_VALUE); // a bounded source's final watermark
            assertMatches(events, h.output, false);
            outputs.add(h.output);
        }
        assertEquals(features(outputs.get(0), false), features(outputs.get(1), false));
        assertEquals(features(outputs.get(0), false), features(outputs.get(2), false));
    }

    @Test
    void windowsIncludeTheEventExactlyOneWindowEarlier() throws Exception {
        List<Event> events =
                List.of(
                        new Event("k", "a", T0, 1, "m", 0, 0),
                        new Event("k", "b", T0 + 10 * M, 2, "m", 0, 1),
                        new Event("k", "c", T0 + 10 * M, 3, "n", 0, 2),
                        new Event("k", "d", T0 + 20 * M + 1, 4, "m", 0, 3));
        PtfHarness h = stream(SPEC, events);
        h.advance(Long.MAX_VALUE);
        Map<String, Map<String, Object>> got = features(h.output, false);
        assertEquals(3L, got.get("b").get("count_10m"), "t - w is inside the window, peers too");
        assertEquals(3L, got.get("c").get("count_10m"));
        assertEquals("n", got.get("b").get("last_merchant"), "peers see the largest id's value");
        assertEquals(1L, got.get("d").get("count_10m"), "one ms past t - w is outside");
        assertEquals(600.0, got.get("b").get("since_prev"));
        assertEquals(600.001, got.get("d").get("since_prev"));
        assertMatches(events, h.output, false);
    }

    @Test
    void aKeyOutlivesItsWindowsOnlyAsItsLastEventTime() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        feed(h, new Event("k", "a", T0, 5, "m", 0, 0));
        h.advance(T0 + H);
        PtfHarness.KeyState state = h.states.get("k");
        assertTrue(!WindowAccumulators.isDormant(state.acc.data), "window state");
        assertEquals(1, state.history.getMap().size(), "the layout entry; the event is in the tail");

        h.advance(T0 + EXPIRY - 1);
        assertTrue(!WindowAccumulators.isDormant(h.states.get("k").acc.data));
        h.advance(T0 + EXPIRY);
        state = h.states.get("k");
        assertTrue(WindowAccumulators.isDormant(state.acc.data), "dormant");
        assertTrue(state.history.isEmpty() && state.distinct.isEmpty() && state.pending.isEmpty());
        assertEquals(1, h.timersOf("k"), "only the expiry timer, now for forgetting");

        // Three days later: every window starts empty, seconds_since_prev spans the gap.
        feed(h, new Event("k", "b", T0 + 3 * D, 7, "n", 0, 1));
        h.advance(T0 + 3 * D);
        Map<String, Object> b = features(h.output, false).get("b");
        assertEquals(1L, b.get("count_1h"));
        assertEquals(7L, b.get("sum_1h"));
        assertEquals(1L, b.get("merchants_24h"));
        assertEquals(3.0 * D / 1000, b.get("since_prev"));
        assertEquals(1, h.timersOf("k"), "the waking event moved the timer back to expiry");

        // Past the last-event retention the key is forgotten, timers and all.
        h.advance(T0 + 3 * D + EXPIRY);
        assertTrue(WindowAccumulators.isDormant(h.states.get("k").acc.data));
        h.advance(T0 + 3 * D + LAST_EVENT_RETENTION);
        assertTrue(h.states.containsKey("k"));
        h.advance(T0 + 3 * D + LAST_EVENT_RETENTION + 1);
        assertTrue(!h.states.containsKey("k") && h.timersOf("k") == 0, "forgotten");
        feed(h, new Event("k", "c", T0 + 3 * D + LAST_EVENT_RETENTION + 2, 1, "m", 0, 2));
        h.advance(Long.MAX_VALUE);
        assertNull(features(h.output, false).get("c").get("since_prev"));
    }

    @Test
    void aDormantKeyWithAnEventWaitingKeepsItsLastEventTime() throws Exception {
        // The cleanup timer fires while the key's next event still waits for the watermark.
        PtfHarness h = new PtfHarness(SPEC);
        feed(h, new Event("k", "a", T0, 5, "m", 0, 0));
        h.advance(T0);
        long next = T0 + RETENTION + 2;
        feed(h, new Event("k", "b", next, 6, "m", 0, 1));
        h.advance(T0 + RETENTION + 1); // cleanup fires, b is pending
        h.advance(next);
        Map<String, Object> b = features(h.output, false).get("b");
        assertEquals((next - T0) / 1000.0, b.get("since_prev"));
        assertEquals(1L, b.get("count_10m"));
    }

    @Test
    void aWatermarkJumpPastTheRetentionStillExpiresTheKey() throws Exception {
        // The expiry timer is set from eval, ahead of the watermark, so no jump can lose it.
        PtfHarness h = new PtfHarness(SPEC);
        feed(h, new Event("k", "a", T0, 5, "m", 0, 0));
        h.advance(T0 + 2 * D);
        assertTrue(WindowAccumulators.isDormant(h.states.get("k").acc.data));
        feed(h, new Event("k", "b", T0 + 3 * D, 6, "n", 0, 1));
        h.advance(T0 + 3 * D);
        Map<String, Object> b = features(h.output, false).get("b");
        assertEquals(1L, b.get("count_1h"), "nothing of a was folded into b");
        assertEquals(1L, b.get("merchants_24h"));
        assertEquals(3.0 * D / 1000, b.get("since_prev"));
        // The forget time is set when the windows expire, so a watermark that passes both in one
        // step (only the end of a bounded input) leaves the 24-byte dormant blob.
        h.advance(T0 + 3 * D + EXPIRY);
        h.advance(T0 + 3 * D + LAST_EVENT_RETENTION + 1);
        assertTrue(!h.states.containsKey("k") && h.timersOf("k") == 0, "forgotten");
    }

    /** Events 700.. of the fixture's timeline, after the state of the first 700 (format v1). */
    static PtfHarness restoreV1(String spec) throws Exception {
        try (java.io.DataInputStream in =
                new java.io.DataInputStream(
                        WindowFeaturesTest.class.getResourceAsStream("/window-state-v1.bin"))) {
            return PtfHarness.load(spec, in);
        }
    }

    @Test
    void stateOfFormatV1ContinuesExactlyAndIsForgotten() throws Exception {
        // window-state-v1.bin: PtfHarness.save of stream(SPEC, arrival(timeline(11, 1200), 12)
        // .subList(0, 700)), written by the v1 function (commit 2a90374): per-event history
        // entries, named cleanup and forget timers, a dormant key and a pending group.
        List<Event> events = timeline(11, 1200);
        List<Event> arrivals = arrival(events, 12);
        PtfHarness h = restoreV1(SPEC);
        long max = arrivals.subList(0, 700).stream().mapToLong(Event::t).max().getAsLong();
        for (Event e : arrivals.subList(700, arrivals.size())) {
            feed(h, e);
            max = Math.max(max, e.t());
            h.advance(max - BOUND);
        }
        h.advance(max);
        h.advance(max + EXPIRY);
        h.advance(max + LAST_EVENT_RETENTION + 1);
        assertEquals(0, h.droppedLate);
        Map<String, Map<String, Object>> got = features(h.output, false);
        assertEquals(501, got.size(), "the 500 later events and the one pending at the cut");
        for (Event e : events) {
            if (got.containsKey(e.id())) {
                Map<String, Object> want = expected(e, events, false);
                for (String name : NAMES) {
                    Object w = want.get(name);
                    Object v = got.get(e.id()).get(name);
                    if (w instanceof Double dw && v instanceof Double dv) {
                        assertEquals(dw, dv, 1e-9 * Math.max(1.0, Math.abs(dw)), e.id() + name);
                    } else {
                        assertEquals(w, v, e.id() + " " + name);
                    }
                }
            }
        }
        assertTrue(h.states.isEmpty() && h.timerCount() == 0, "every key expired and forgotten");
    }

    @Test
    void stateOfFormatV1RestoresIntoAChangedView() throws Exception {
        List<Event> events = timeline(11, 1200);
        List<Event> arrivals = arrival(events, 12);
        PtfHarness h = restoreV1(spec(true));
        long max = arrivals.subList(0, 700).stream().mapToLong(Event::t).max().getAsLong();
        for (Event e : arrivals.subList(700, arrivals.size())) {
            feed(h, e);
            max = Math.max(max, e.t());
            h.advance(max - BOUND);
        }
        h.advance(Long.MAX_VALUE);
        Map<String, Map<String, Object>> got = features(h.output, true);
        assertEquals(501, got.size());
        for (Event e : events) {
            if (got.containsKey(e.id())) {
                Map<String, Object> want = expected(e, events, true);
                assertEquals(want.get("max_1h"), got.get(e.id()).get("max_1h"), e.id());
                assertEquals(want.get("min_24h"), got.get(e.id()).get("min_24h"), e.id());
                assertEquals(want.get("merchants_24h"), got.get(e.id()).get("merchants_24h"));
            }
        }
    }

    @Test
    void pendingGroupsBeyondTheInlineOnesWaitInTheMap() throws Exception {
        // Ten timestamps waiting at once (four fit inline), then 60 peers at one time (too big
        // to stay inline): all released exactly, the map empty afterwards.
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            events.add(new Event("k", "a" + i, T0 + (9 - i) * S / 10, i, "m" + i, 0, i));
        }
        for (int i = 0; i < 60; i++) {
            events.add(new Event("k", String.format("b%02d", i), T0 + 2 * S, i, "x", 0, 10 + i));
        }
        PtfHarness h = new PtfHarness(SPEC);
        for (Event e : events) {
            feed(h, e);
        }
        PtfHarness.KeyState state = h.states.get("k");
        assertEquals(7, state.pending.getMap().size(), "6 timestamps and the big group in the map");
        assertEquals(7, WindowAccumulators.pendingOf(state.acc.data).inMap);
        assertEquals(4, WindowAccumulators.pendingOf(state.acc.data).times.size());
        h.advance(T0 + 2 * S);
        assertMatches(events, h.output, false);
        state = h.states.get("k");
        assertTrue(state.pending.isEmpty());
        assertEquals(0, WindowAccumulators.pendingOf(state.acc.data).inMap);
    }

    @Test
    void distinctValuesSpillToTheMapAndComeBackInline() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            events.add(new Event("k", "a" + i, T0 + i * M, i, "m" + i, 0, i));
        }
        // 25 h later every earlier event has left the windows: the count empties before y goes in.
        events.add(new Event("k", "y", T0 + 25 * H, 1, "m1", 0, 99));
        for (Event e : events) {
            feed(h, e);
            h.advance(e.t());
            if (e.id().equals("a39")) {
                assertEquals(40, h.states.get("k").distinct.getMap().size(), "spilled");
            }
        }
        assertMatches(events, h.output, false);
        assertTrue(h.states.get("k").distinct.isEmpty(), "the emptied window came back inline");
        assertEquals(1L, features(h.output, false).get("y").get("merchants_24h"));
    }

    @Test
    void stateStaysBoundedWithOneTimerPerKey() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        int maxBlob = 0;
        for (int i = 0; i < 2_000; i++) {
            long amount = (i * 7_919L) % 1_000;
            feed(h, new Event("k", "e" + i, T0 + i * 3 * M, amount, "m" + (i % 50), 0, i));
            h.advance(T0 + i * 3 * M);
            maxBlob = Math.max(maxBlob, h.states.get("k").acc.data.length);
        }
        PtfHarness.KeyState state = h.states.get("k");
        // 24 h of events every 3 minutes in chunks of 32, the tail in the blob, the layout entry.
        assertTrue(state.history.getMap().size() <= 24 * 20 / EventHistory.CHUNK + 2, "trimmed");
        assertTrue(maxBlob < 2_500, "the blob stays small: " + maxBlob);
        assertEquals(50, state.distinct.getMap().size());
        assertEquals(1, h.timersOf("k"), "released groups leave only the expiry timer");
    }

    @Test
    void rowsAtOrBeforeTheReleasedTimeAfterARestoreBecomeRejectRows() throws Exception {
        List<Event> before =
                List.of(
                        new Event("k", "a", T0, 1, "m", 2, 10),
                        new Event("k", "b", T0 + M, 2, "m", 2, 11),
                        new Event("k", "c", T0 + 2 * M, 3, "m", 2, 12));
        PtfHarness h = stream(SPEC, before);
        h.advance(T0 + M); // a and b released, c pending
        PtfHarness restored = PtfHarness.restore(SPEC, h);

        // The restarted source replays from its checkpointed offsets with no watermark yet.
        feed(restored, new Event("k", "b2", T0 + M, 9, "x", 2, 13)); // a peer of a released time
        feed(restored, new Event("k", "a2", T0 - D, 9, "x", 1, 14)); // a day late
        feed(restored, new Event("k", "d", T0 + 3 * M, 4, "m", 2, 15)); // in time
        restored.advance(Long.MAX_VALUE);

        List<Row> rejects =
                restored.output.stream().filter(r -> r.getField(1 + NAMES.length) != null).toList();
        assertEquals(2, rejects.size());
        Row first = rejects.get(0);
        assertEquals("b2", first.getField(0));
        assertEquals(WindowFeatures.LATE_AFTER_RESTORE, first.getField(1 + NAMES.length));
        assertTrue(((String) first.getField(2 + NAMES.length)).contains("already released"));
        assertEquals(2, first.getField(3 + NAMES.length));
        assertEquals(13L, first.getField(4 + NAMES.length));
        assertEquals(14L, rejects.get(1).getField(4 + NAMES.length));

        // What was folded continues exactly: c and d as if nothing had happened.
        List<Event> folded = new ArrayList<>(before);
        folded.add(new Event("k", "d", T0 + 3 * M, 4, "m", 2, 15));
        List<Row> all = new ArrayList<>(h.output);
        all.addAll(restored.output);
        assertMatches(folded, all, false);
    }

    @Test
    void anAddedFeatureIsRebuiltFromTheHistoryOnRestore() throws Exception {
        List<Event> events = timeline(5, 800);
        List<Event> arrivals = arrival(events, 6);
        int cut = arrivals.size() / 2;
        PtfHarness h = stream(SPEC, arrivals.subList(0, cut));
        PtfHarness evolved = PtfHarness.restore(spec(true), h);
        long max = arrivals.subList(0, cut).stream().mapToLong(Event::t).max().getAsLong();
        for (Event e : arrivals.subList(cut, arrivals.size())) {
            feed(evolved, e);
            max = Math.max(max, e.t());
            evolved.advance(max - BOUND);
        }
        evolved.advance(Long.MAX_VALUE);
        assertEquals(0, evolved.droppedLate);
        Set<String> after = new HashSet<>();
        for (Row r : evolved.output) {
            after.add((String) r.getField(0));
        }
        List<Event> released = events.stream().filter(e -> after.contains(e.id())).toList();
        // Rows released after the restore carry max_1h, computed over events before it too.
        Map<String, Map<String, Object>> got = features(evolved.output, true);
        for (Event e : released) {
            Map<String, Object> want = expected(e, events, true);
            assertEquals(want.get("max_1h"), got.get(e.id()).get("max_1h"), e.id());
            assertEquals(want.get("count_1h"), got.get(e.id()).get("count_1h"), e.id());
        }
        assertTrue(released.size() > 300);
    }

    @Test
    void aDormantKeyRestoresIntoAChangedView() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        feed(h, new Event("k", "a", T0, 5, "m", 0, 0));
        h.advance(T0);
        h.advance(T0 + EXPIRY);
        assertTrue(WindowAccumulators.isDormant(h.states.get("k").acc.data));
        PtfHarness evolved = PtfHarness.restore(spec(true), h);
        feed(evolved, new Event("k", "b", T0 + 2 * D, 8, "m", 0, 1));
        evolved.advance(Long.MAX_VALUE);
        Map<String, Object> b = features(evolved.output, true).get("b");
        assertEquals(8L, b.get("max_1h"));
        assertEquals(2.0 * D / 1000, b.get("since_prev"));
    }

    // ------------------------------------------------------------------ metrics

    @Test
    void theEmitLagIsTheWallClockMinusTheReleasedRowsEventTime() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        long[] now = {T0 + 60 * S};
        h.function.setClock(() -> now[0]);
        Gauge<?> lag = h.metrics.gauges.get("featureEmitLagMs");
        Histogram lags = h.metrics.histograms.get("featureEmitLagMsHistogram");
        feed(h, new Event("a", "1", T0, 5, "m", 0, 0));
        feed(h, new Event("a", "2", T0 + 10 * S, 5, "m", 0, 1));
        feed(h, new Event("b", "3", T0 + 10 * S, 7, "m", 0, 2)); // another key, same time
        h.advance(T0 + 5 * S); // releases only the event at T0
        assertEquals(60 * S, lag.getValue());
        assertEquals(1, lags.getCount());

        now[0] = T0 + 70 * S;
        h.advance(Long.MAX_VALUE);
        assertEquals(60 * S, lag.getValue(), "the rows at T0 + 10 s, released at T0 + 70 s");
        assertEquals(3, lags.getCount(), "one sample per feature row");
        assertEquals(3, h.metrics.counters.get("featureRowsEmitted").getCount());
        assertEquals(60 * S, lags.getStatistics().getMax());
        assertEquals(60 * S, lags.getStatistics().getMin());
        assertEquals(60 * S, lags.getStatistics().getQuantile(0.99), 0.0);
    }

    @Test
    void rowsWaitingForTheWatermarkAndRejectRowsAreNotEmitLagSamples() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        h.function.setClock(() -> T0 + H);
        Histogram lags = h.metrics.histograms.get("featureEmitLagMsHistogram");
        feed(h, new Event("a", "1", T0, 5, "m", 0, 0));
        assertEquals(0, lags.getCount(), "nothing released before the watermark passes");
        assertEquals(0L, h.metrics.gauges.get("featureEmitLagMs").getValue());
        h.advance(T0);
        assertEquals(1, lags.getCount());
        // After a restore a row at the released time is a reject row, not a feature row.
        PtfHarness restored = PtfHarness.restore(SPEC, h);
        restored.function.setClock(() -> T0 + H);
        feed(restored, new Event("a", "0", T0 - S, 5, "m", 0, 3));
        restored.advance(Long.MAX_VALUE);
        assertEquals(1, restored.output.size());
        assertEquals(0, restored.metrics.histograms.get("featureEmitLagMsHistogram").getCount());
    }

    @Test
    void theEmitLagHistogramKeepsTheNewestSamplesOnly() throws Exception {
        PtfHarness h = new PtfHarness(SPEC);
        long[] now = {0};
        h.function.setClock(() -> now[0]);
        Histogram lags = h.metrics.histograms.get("featureEmitLagMsHistogram");
        int n = WindowFeatures.EMIT_LAG_SAMPLES + 100;
        for (int i = 0; i < n; i++) {
            long t = T0 + i * S;
            feed(h, new Event("k", "e" + i, t, 1, "m", 0, i));
            // The first 100 rows leave an hour late, the rest 2 s after their event.
            now[0] = t + (i < 100 ? H : 2 * S);
            h.advance(t);
        }
        assertEquals(n, lags.getCount());
        assertEquals(WindowFeatures.EMIT_LAG_SAMPLES, lags.getStatistics().size());
        assertEquals(2 * S, lags.getStatistics().getMax(), "the hour-late rows have slid out");
    }

    // ------------------------------------------------------------------ emit_inputs

    static final String EMIT_SPEC =
            SPEC.replace("{\"spec_version\":1,", "{\"spec_version\":1,\"emit_inputs\":true,");

    /** The input table of {@link #feed}'s rows, with in_0 as INT to see it widened. */
    static final DataType INPUT =
            DataTypes.ROW(
                    DataTypes.FIELD("card_id", DataTypes.STRING()),
                    DataTypes.FIELD("payment_id", DataTypes.STRING()),
                    DataTypes.FIELD("in_0", DataTypes.INT()),
                    DataTypes.FIELD("in_1", DataTypes.VARCHAR(20)),
                    DataTypes.FIELD("src_partition", DataTypes.INT()),
                    DataTypes.FIELD("src_offset", DataTypes.BIGINT()));

    @Test
    void emitInputsAddsTheInputColumnsAfterTheFeaturesCanonicallyTyped() {
        assertTrue(WindowSpec.parse(EMIT_SPEC).emitInputs);
        assertTrue(!WindowSpec.parse(SPEC).emitInputs, "absent means off");
        List<String> without =
                DataType.getFieldNames(WindowFeatures.outputType(WindowSpec.parse(SPEC), INPUT));
        DataType with = WindowFeatures.outputType(WindowSpec.parse(EMIT_SPEC), INPUT);
        List<String> names = DataType.getFieldNames(with);
        List<String> expected = new ArrayList<>(without.subList(0, 1 + NAMES.length));
        expected.add("in_0");
        expected.add("in_1");
        expected.addAll(without.subList(1 + NAMES.length, without.size()));
        assertEquals(expected, names);
        List<DataType> types = DataType.getFieldDataTypes(with);
        assertEquals(DataTypes.BIGINT(), types.get(names.indexOf("in_0")));
        assertEquals(DataTypes.STRING(), types.get(names.indexOf("in_1")));
        assertEquals("reject_reason", names.get(names.indexOf("in_1") + 1));
    }

    @Test
    void featureRowsCarryTheReleasedEventsInputsAndRejectRowsNulls() throws Exception {
        List<Event> events =
                List.of(
                        new Event("k", "a", T0, 7, "m1", 0, 0),
                        new Event("k", "c", T0 + M, 9, "m3", 0, 2),
                        new Event("k", "b", T0 + M, 8, "m2", 0, 1));
        PtfHarness plain = stream(SPEC, events);
        plain.advance(Long.MAX_VALUE);
        PtfHarness h = stream(EMIT_SPEC, events);
        h.advance(Long.MAX_VALUE);
        assertEquals(3, h.output.size());
        int emitted = 1 + NAMES.length;
        for (int i = 0; i < h.output.size(); i++) {
            Row row = h.output.get(i);
            Row before = plain.output.get(i);
            Event e = events.stream().filter(x -> x.id().equals(row.getField(0))).findFirst().get();
            // Each row its own event's values, even among peers (last_merchant is the peer's).
            assertEquals(e.amount(), row.getField(emitted), e.id());
            assertEquals(e.merchant(), row.getField(emitted + 1), e.id());
            assertNull(row.getField(emitted + 2), "not a reject row");
            for (int f = 0; f < emitted; f++) {
                assertEquals(before.getField(f), row.getField(f), "features unchanged: " + f);
            }
            assertEquals(before.getArity() + 2, row.getArity());
        }

        PtfHarness restored = PtfHarness.restore(EMIT_SPEC, h);
        feed(restored, new Event("k", "z", T0, 5, "m9", 3, 33)); // at a released time
        restored.advance(Long.MAX_VALUE);
        Row reject = restored.output.get(0);
        assertNull(reject.getField(emitted));
        assertNull(reject.getField(emitted + 1));
        assertEquals(WindowFeatures.LATE_AFTER_RESTORE, reject.getField(emitted + 2));
        assertEquals(33L, reject.getField(emitted + 5));
    }

    @Test
    void emitInputsIsNotPartOfTheStateLayout() throws Exception {
        WindowLayout without = WindowLayout.of(WindowSpec.parse(SPEC));
        WindowLayout with = WindowLayout.of(WindowSpec.parse(EMIT_SPEC));
        assertEquals(without.stateHash, with.stateHash);
        assertEquals(without.v1Hash, with.v1Hash);
        assertEquals(new String(without.json), new String(with.json));

        // A savepoint written without the flag restores with it, and back, as the same state.
        List<Event> events = timeline(13, 400);
        List<Event> arrivals = arrival(events, 14);
        int third = arrivals.size() / 3;
        PtfHarness h = stream(SPEC, arrivals.subList(0, third));
        PtfHarness on = PtfHarness.restore(EMIT_SPEC, h);
        long max = arrivals.subList(0, third).stream().mapToLong(Event::t).max().getAsLong();
        for (Event e : arrivals.subList(third, 2 * third)) {
            feed(on, e);
            max = Math.max(max, e.t());
            on.advance(max - BOUND);
        }
        PtfHarness off = PtfHarness.restore(SPEC, on);
        for (Event e : arrivals.subList(2 * third, arrivals.size())) {
            feed(off, e);
            max = Math.max(max, e.t());
            off.advance(max - BOUND);
        }
        off.advance(Long.MAX_VALUE);
        for (PtfHarness restored : List.of(on, off)) {
            assertEquals(0, restored.metrics.counters.get("keysEvolved").getCount());
            assertEquals(0, restored.metrics.counters.get("keysMigrated").getCount());
        }
        List<Row> all = new ArrayList<>(h.output);
        for (Row r : on.output) {
            // Drop the two emitted inputs: the rest is the plain row.
            Object[] fields = new Object[r.getArity() - 2];
            for (int i = 0, j = 0; i < r.getArity(); i++) {
                if (i != 1 + NAMES.length && i != 2 + NAMES.length) {
                    fields[j++] = r.getField(i);
                }
            }
            all.add(Row.of(fields));
        }
        all.addAll(off.output);
        assertMatches(events, all, false);
    }
}
