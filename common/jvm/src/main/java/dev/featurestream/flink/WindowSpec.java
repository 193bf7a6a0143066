package dev.featurestream.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The window spec of one feature view, parsed from the JSON that the Python compiler writes
 * ({@code common/features/spec.py}, golden files in {@code tests/unit/golden/}).
 *
 * <p>Every problem is reported as an {@link IllegalArgumentException} naming the view, so a bad
 * spec fails at planning time, never at run time.
 */
public final class WindowSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The spec format this code reads. */
    public static final int SPEC_VERSION = 1;

    /** Aggregate functions, named as in the spec. */
    public enum Fn {
        COUNT,
        SUM,
        AVG,
        MIN,
        MAX,
        STDDEV_POP,
        DISTINCT_COUNT,
        LAST,
        SECONDS_SINCE_PREV;

        static Fn parse(String view, String name) {
            try {
                return Fn.valueOf(name.toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        "view " + view + ": unknown aggregate function '" + name + "'");
            }
        }

        boolean windowed() {
            return this != LAST && this != SECONDS_SINCE_PREV;
        }
    }

    /** One output feature computed by the window function. */
    public static final class Agg implements Serializable {
        private static final long serialVersionUID = 1L;
        public final String name;
        public final Fn fn;
        /** Input column name, or null (count of rows, seconds_since_prev). */
        public final String input;
        /** Position of {@link #input} in {@link WindowSpec#inputs}, or -1. */
        public final int inputIndex;
        /** Window length in ms, or -1 for unwindowed functions. */
        public final long windowMs;
        /** Position of the window in {@link WindowSpec#windows}, or -1. */
        public final int windowIndex;

        Agg(String name, Fn fn, String input, int inputIndex, long windowMs, int windowIndex) {
            this.name = name;
            this.fn = fn;
            this.input = input;
            this.inputIndex = inputIndex;
            this.windowMs = windowMs;
            this.windowIndex = windowIndex;
        }
    }

    public final String view;
    public final int version;
    public final String key;
    public final String eventId;
    /** Input column names ({@code in_0}, ...), in spec order. */
    public final List<String> inputs;
    /** The SQL expression of each input (what state keeps: stable across re-numbering). */
    public final List<String> inputExpressions;
    /**
     * Columns copied from each event to its output row unchanged (after the event id), e.g. the
     * source offset for lineage; kept with the pending event only, never in the history.
     */
    public final List<String> carry;
    public final Agg[] aggs;
    /** Distinct window lengths in ms, shortest first. */
    public final long[] windows;
    public final long retentionMs;
    /**
     * How long a key's last event time outlives its windows: {@code seconds_since_prev} looks
     * back this far, and a row at or before it cannot be folded after a restore. At least
     * {@link #retentionMs}.
     */
    public final long lastEventRetentionMs;
    /**
     * Whether each feature row also carries the event's own input values ({@code in_0}, ...,
     * after the aggregates), so the online store can keep a log of recent events that readers
     * fold at read time (issue 17). Output only: not part of the state layout, so turning it on
     * or off never changes what state means (a savepoint restores either way).
     */
    public final boolean emitInputs;

    private WindowSpec(
            String view,
            int version,
            String key,
            String eventId,
            List<String> inputs,
            List<String> inputExpressions,
            List<String> carry,
            Agg[] aggs,
            long[] windows,
            long retentionMs,
            long lastEventRetentionMs,
            boolean emitInputs) {
        this.view = view;
        this.version = version;
        this.key = key;
        this.eventId = eventId;
        this.inputs = inputs;
        this.inputExpressions = inputExpressions;
        this.carry = carry;
        this.aggs = aggs;
        this.windows = windows;
        this.retentionMs = retentionMs;
        this.lastEventRetentionMs = lastEventRetentionMs;
        this.emitInputs = emitInputs;
    }

    /** True when some aggregate needs the event history (any windowed aggregate). */
    /** True when an aggregate counts distinct values (kept per value, outside the blob). */
    public boolean hasDistinct() {
        for (Agg a : aggs) {
            if (a.fn == Fn.DISTINCT_COUNT) {
                return true;
            }
        }
        return false;
    }

    public boolean needsHistory() {
        return windows.length > 0;
    }

    /** Parses and validates a spec. */
    public static WindowSpec parse(String json) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (Exception e) {
            throw new IllegalArgumentException("window spec is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("window spec must be a JSON object");
        }
        String view = text(root, "view", "?");
        int specVersion = root.path("spec_version").asInt(-1);
        if (specVersion != SPEC_VERSION) {
            throw new IllegalArgumentException(
                    "view " + view + ": spec_version " + specVersion + " is not "
                            + SPEC_VERSION + " (rebuild the JVM functions jar?)");
        }
        List<String> inputs = new ArrayList<>();
        List<String> expressions = new ArrayList<>();
        for (JsonNode in : root.path("inputs")) {
            inputs.add(text(in, "column", view));
            expressions.add(text(in, "expression", view));
        }
        List<String> carry = new ArrayList<>();
        for (JsonNode c : root.path("carry")) {
            if (!c.isTextual() || c.asText().isEmpty() || carry.contains(c.asText())) {
                throw new IllegalArgumentException(
                        "view " + view + ": carry columns must be distinct names, got " + c);
            }
            carry.add(c.asText());
        }
        TreeSet<Long> windowSet = new TreeSet<>();
        for (JsonNode a : root.path("aggregates")) {
            if (a.hasNonNull("window_ms")) {
                windowSet.add(a.get("window_ms").asLong());
            }
        }
        long[] windows = windowSet.stream().mapToLong(Long::longValue).toArray();
        List<Agg> aggs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (JsonNode a : root.path("aggregates")) {
            String name = text(a, "name", view);
            if (!names.add(name)) {
                throw new IllegalArgumentException("view " + view + ": duplicate feature " + name);
            }
            Fn fn = Fn.parse(view, text(a, "function", view));
            String input = a.hasNonNull("input") ? a.get("input").asText() : null;
            int inputIndex = input == null ? -1 : inputs.indexOf(input);
            if (input != null && inputIndex < 0) {
                throw new IllegalArgumentException(
                        "view " + view + ", feature " + name + ": unknown input " + input);
            }
            boolean needsInput = fn != Fn.COUNT && fn != Fn.SECONDS_SINCE_PREV;
            if (needsInput && input == null) {
                throw new IllegalArgumentException(
                        "view " + view + ", feature " + name + ": " + fn + " needs an input");
            }
            long windowMs = -1;
            int windowIndex = -1;
            if (fn.windowed()) {
                if (!a.hasNonNull("window_ms") || a.get("window_ms").asLong() <= 0) {
                    throw new IllegalArgumentException(
                            "view " + view + ", feature " + name + ": needs window_ms > 0");
                }
                windowMs = a.get("window_ms").asLong();
                windowIndex = Arrays.binarySearch(windows, windowMs);
            }
            aggs.add(new Agg(name, fn, input, inputIndex, windowMs, windowIndex));
        }
        if (aggs.isEmpty()) {
            throw new IllegalArgumentException("view " + view + ": no aggregates");
        }
        long retention = root.path("retention_ms").asLong(-1);
        long largest = windows.length == 0 ? 0 : windows[windows.length - 1];
        if (retention < largest) {
            throw new IllegalArgumentException(
                    "view " + view + ": retention_ms " + retention
                            + " is shorter than the largest window " + largest);
        }
        long lastEventRetention = root.path("last_event_retention_ms").asLong(-1);
        if (lastEventRetention < retention) {
            throw new IllegalArgumentException(
                    "view " + view + ": last_event_retention_ms " + lastEventRetention
                            + " is missing or shorter than retention_ms " + retention);
        }
        JsonNode emit = root.path("emit_inputs");
        if (!emit.isMissingNode() && !emit.isNull() && !emit.isBoolean()) {
            throw new IllegalArgumentException(
                    "view " + view + ": emit_inputs must be true or false, got " + emit);
        }
        return new WindowSpec(
                view,
                root.path("version").asInt(),
                text(root, "key", view),
                text(root, "event_id", view),
                List.copyOf(inputs),
                List.copyOf(expressions),
                List.copyOf(carry),
                aggs.toArray(new Agg[0]),
                windows,
                retention,
                lastEventRetention,
                emit.asBoolean(false));
    }

    private static String text(JsonNode node, String field, String view) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new IllegalArgumentException(
                    "view " + view + ": window spec field '" + field + "' missing or empty");
        }
        return v.asText();
    }
}
