package dev.featurestream.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.functions.TableSemantics;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.CallContext;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.types.Row;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * All windowed features of one feature view, per event, in one pass over the key's events
 * (decision 11). One instance per view: the Python compiler creates it with the view's window
 * spec JSON and registers it as a temporary function, so timers (which get no call arguments)
 * still know the spec.
 *
 * <p>SQL: {@code SELECT * FROM fs_window_<view>_v<N>(input => TABLE t PARTITION BY key,
 * on_time => DESCRIPTOR(event_time), uid => '<view>_v<N>')}. Output: the key, the event id, the
 * spec's carried columns, one column per aggregate (types derived from the spec and the input
 * columns), then the event time.
 *
 * <p>Semantics (exact, independent of arrival order): for an event at time {@code t}, a window
 * {@code w} covers the key's events with {@code t - w <= t' <= t}, same-time peers included.
 * Rows are buffered per timestamp and released by an event-time timer when the watermark passes
 * it, so peers are folded in together and in timestamp order; within a peer group events are
 * ordered by event id. {@code last} is the value of the peer with the largest event id;
 * {@code seconds_since_prev} is null when the previous event is older than the retention.
 *
 * <p>Rows at or behind the watermark never reach {@code eval} (Flink drops them before the
 * function), so the job splits late rows off before the call and routes them to the dead-letter
 * topic: nothing is dropped here.
 */
@DataTypeHint("ROW<event_id STRING>") // placeholder for extraction; the real type: getTypeInference
public class WindowFeatures extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final String CLEANUP = "cleanup";
    private static final String DISTINCT_SEP = "\u0001";
    /**
     * State is expired by this function's own cleanup timer (last event + retention), never by
     * Flink's state TTL. Without a hint Flink 2.2 gives PTF state a TTL of Long.MAX_VALUE, whose
     * heap-backend incremental cleanup copies whole per-key maps on every access: it halved
     * throughput (docs/benchmarks.md). "0 ms" means no TTL wrapper at all.
     */
    private static final String NO_TTL = "0 ms";

    private final String specJson;
    private transient WindowSpec spec;
    private transient Counter released;
    private transient Counter cleared;
    private transient Counter lateAfterRestore;

    /** Validates the spec right away so a bad one fails when the job is built. */
    public WindowFeatures(String specJson) {
        this.specJson = specJson;
        this.spec = WindowSpec.parse(specJson);
    }

    /** Key-level state: one blob (see {@link WindowAccumulators}). */
    public static class Accumulators {
        public byte[] data;
    }

    private WindowSpec spec() {
        if (spec == null) {
            spec = WindowSpec.parse(specJson);
        }
        return spec;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        spec();
        released = context.getMetricGroup().counter("featureRowsEmitted");
        cleared = context.getMetricGroup().counter("keysExpired");
        lateAfterRestore = context.getMetricGroup().counter("lateRowsDropped");
    }

    // ---------------------------------------------------------------- type inference

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        TypeInference base = super.getTypeInference(typeFactory);
        return TypeInference.newBuilder()
                .staticArguments(base.getStaticArguments().orElseThrow())
                .stateTypeStrategies(base.getStateTypeStrategies())
                .outputTypeStrategy(call -> Optional.of(outputType(call)))
                .build();
    }

    private DataType outputType(CallContext call) {
        WindowSpec s = spec();
        DataType input =
                call.getTableSemantics(0)
                        .map(TableSemantics::dataType)
                        .orElse(call.getArgumentDataTypes().get(0));
        List<String> names = DataType.getFieldNames(input);
        List<DataType> types = DataType.getFieldDataTypes(input);
        List<DataTypes.Field> fields = new ArrayList<>();
        int idPos = names.indexOf(s.eventId);
        if (idPos < 0) {
            throw new ValidationException(
                    "view " + s.view + ": the input table has no event id column " + s.eventId);
        }
        fields.add(DataTypes.FIELD(s.eventId, DataTypes.STRING()));
        for (String c : s.carry) {
            int pos = names.indexOf(c);
            if (pos < 0) {
                throw new ValidationException(
                        "view " + s.view + ": carried column " + c + " missing from the input table "
                                + names);
            }
            fields.add(DataTypes.FIELD(c, carryType(s, c, types.get(pos).getLogicalType())));
        }
        for (WindowSpec.Agg a : s.aggs) {
            LogicalType in = null;
            if (a.input != null) {
                int pos = names.indexOf(a.input);
                if (pos < 0) {
                    throw new ValidationException(
                            "view " + s.view + ", feature " + a.name + ": input column "
                                    + a.input + " missing from the input table " + names);
                }
                in = types.get(pos).getLogicalType();
            }
            fields.add(DataTypes.FIELD(a.name, aggType(s, a, in)));
        }
        return DataTypes.ROW(fields);
    }

    private static DataType aggType(WindowSpec s, WindowSpec.Agg a, LogicalType in) {
        switch (a.fn) {
            case COUNT:
            case DISTINCT_COUNT:
                if (a.fn == WindowSpec.Fn.DISTINCT_COUNT) {
                    plain(s, a, in, true);
                }
                return DataTypes.BIGINT().notNull();
            case AVG:
            case STDDEV_POP:
                numeric(s, a, in);
                return DataTypes.DOUBLE();
            case SECONDS_SINCE_PREV:
                return DataTypes.DOUBLE();
            case SUM:
                return numeric(s, a, in) ? DataTypes.BIGINT() : DataTypes.DOUBLE();
            case MIN:
            case MAX:
            case LAST:
                return plain(s, a, in, a.fn == WindowSpec.Fn.LAST);
            default:
                throw new IllegalStateException("unhandled " + a.fn);
        }
    }

    /** A carried column comes out as its canonical type (integers as BIGINT, floats as DOUBLE). */
    private static DataType carryType(WindowSpec s, String column, LogicalType in) {
        if (in.is(LogicalTypeFamily.INTEGER_NUMERIC)) {
            return DataTypes.BIGINT();
        }
        if (in.is(LogicalTypeRoot.DOUBLE) || in.is(LogicalTypeRoot.FLOAT)) {
            return DataTypes.DOUBLE();
        }
        if (in.is(LogicalTypeFamily.CHARACTER_STRING)) {
            return DataTypes.STRING();
        }
        if (in.is(LogicalTypeRoot.BOOLEAN)) {
            return DataTypes.BOOLEAN();
        }
        throw new ValidationException(
                "view " + s.view + ": carried column " + column + " is " + in
                        + " (BIGINT/INT, DOUBLE, STRING or BOOLEAN; cast it before the call)");
    }

    /** True for integer inputs, false for floating ones; anything else is refused. */
    private static boolean numeric(WindowSpec s, WindowSpec.Agg a, LogicalType in) {
        if (in.is(LogicalTypeFamily.INTEGER_NUMERIC)) {
            return true;
        }
        if (in.is(LogicalTypeRoot.DOUBLE) || in.is(LogicalTypeRoot.FLOAT)) {
            return false;
        }
        throw new ValidationException(
                "view " + s.view + ", feature " + a.name + ": " + a.fn + " needs a BIGINT/INT or "
                        + "DOUBLE input, got " + in + " (cast it in the feature's expression)");
    }

    /** The output type of min/max/last of a plain column (and the check for distinct counts). */
    private static DataType plain(WindowSpec s, WindowSpec.Agg a, LogicalType in, boolean bool) {
        if (in.is(LogicalTypeFamily.INTEGER_NUMERIC)) {
            return DataTypes.BIGINT();
        }
        if (in.is(LogicalTypeRoot.DOUBLE) || in.is(LogicalTypeRoot.FLOAT)) {
            return DataTypes.DOUBLE();
        }
        if (in.is(LogicalTypeFamily.CHARACTER_STRING)) {
            return DataTypes.STRING();
        }
        if (bool && in.is(LogicalTypeRoot.BOOLEAN)) {
            return DataTypes.BOOLEAN();
        }
        throw new ValidationException(
                "view " + s.view + ", feature " + a.name + ": " + a.fn + " cannot take " + in
                        + " (BIGINT/INT, DOUBLE, STRING" + (bool ? ", BOOLEAN" : "")
                        + "; cast it in the feature's expression)");
    }

    // ---------------------------------------------------------------- runtime

    /** Buffers the event under its timestamp until the watermark releases the peer group. */
    public void eval(
            Context ctx,
            @StateHint(ttl = NO_TTL) Accumulators acc,
            @StateHint(ttl = NO_TTL) MapView<Long, byte[]> pending,
            @StateHint(ttl = NO_TTL) MapView<Long, byte[]> history,
            @StateHint(ttl = NO_TTL) MapView<String, Long> distinct,
            @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME})
                    Row input)
            throws Exception {
        WindowSpec s = spec();
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long t = time.time();
        Object id = input.getField(s.eventId);
        int width = s.inputs.size();
        Object[] values = new Object[width + s.carry.size()];
        for (int i = 0; i < width; i++) {
            values[i] = Values.canonical(input.getField(s.inputs.get(i)));
        }
        for (int i = 0; i < s.carry.size(); i++) {
            values[width + i] = Values.canonical(input.getField(s.carry.get(i)));
        }
        byte[] group = pending.get(t);
        pending.put(t, appendEvent(group, id == null ? "" : id.toString(), values));
        if (group == null) {
            time.registerOnTime(t);
        }
    }

    /** Releases the peer group at the timer's time, or expires the key. */
    public void onTimer(
            OnTimerContext ctx,
            Accumulators acc,
            MapView<Long, byte[]> pending,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        WindowSpec s = spec();
        long t = ctx.timeContext(Long.class).time();
        if (CLEANUP.equals(ctx.currentTimer())) {
            // Every window is empty and the previous event is beyond the retention: forget the
            // key, but never events still waiting for their own timer.
            acc.data = null;
            history.clear();
            distinct.clear();
            cleared.inc();
            return;
        }
        byte[] group = pending.get(t);
        if (group == null) {
            return;
        }
        pending.remove(t);
        List<Event> events = decodeGroup(group, s.inputs.size() + s.carry.size());
        events.sort(Comparator.comparing(e -> e.id));

        WindowAccumulators w = WindowAccumulators.decode(s, acc.data);
        if (w.lastTs != Long.MIN_VALUE && t <= w.lastTs) {
            // Only after a restore: watermarks are not checkpointed, so the upstream late split
            // starts from scratch and may pass rows at or before what this key already released.
            // Folding them in would rewrite history; they are counted instead (lateRowsDropped).
            lateAfterRestore.inc(events.size());
            return;
        }
        Double sincePrev =
                w.lastTs != Long.MIN_VALUE && t - w.lastTs <= s.retentionMs
                        ? (t - w.lastTs) / 1000.0
                        : null;
        if (w.lastTs != Long.MIN_VALUE && t - w.lastTs > s.retentionMs) {
            // The cleanup timer of the previous event has not fired yet: start afresh.
            history.clear();
            distinct.clear();
            w = new WindowAccumulators(s);
        }

        for (Event e : events) {
            long seq = w.nextSeq++;
            if (s.needsHistory()) {
                history.put(seq, encodeHistory(t, e.values, s.inputs.size()));
            }
            for (int i = 0; i < s.aggs.length; i++) {
                WindowSpec.Agg a = s.aggs[i];
                if (a.fn.windowed()) {
                    add(i, a, w.accs[i], seq, a.inputIndex < 0 ? null : e.values[a.inputIndex],
                            distinct);
                }
            }
        }
        evict(s, w, t, history, distinct);
        w.lastTs = t;
        acc.data = w.encode();

        Event newest = events.get(events.size() - 1);
        for (Event e : events) {
            int carried = s.carry.size();
            Object[] row = new Object[1 + carried + s.aggs.length];
            row[0] = e.id;
            System.arraycopy(e.values, s.inputs.size(), row, 1, carried);
            int first = 1 + carried;
            for (int i = 0; i < s.aggs.length; i++) {
                WindowSpec.Agg a = s.aggs[i];
                if (a.fn == WindowSpec.Fn.LAST) {
                    row[first + i] = newest.values[a.inputIndex];
                } else if (a.fn == WindowSpec.Fn.SECONDS_SINCE_PREV) {
                    row[first + i] = sincePrev;
                } else {
                    row[first + i] = output(a, w.accs[i]);
                }
            }
            collect(Row.of(row));
        }
        released.inc(events.size());
        ctx.timeContext(Long.class).registerOnTime(CLEANUP, t + s.retentionMs + 1);
    }

    private static void add(
            int index,
            WindowSpec.Agg a,
            WindowAccumulators.Acc acc,
            long seq,
            Object v,
            MapView<String, Long> distinct)
            throws Exception {
        if (a.fn == WindowSpec.Fn.COUNT && a.input == null) {
            acc.n++;
            return;
        }
        if (v == null) {
            return;
        }
        acc.n++;
        if (acc.kind == Values.NULL) {
            acc.kind = kindOf(v);
        }
        switch (a.fn) {
            case SUM:
            case AVG:
                if (v instanceof Long) {
                    acc.isum += (Long) v;
                } else {
                    acc.sum.add((Double) v);
                }
                break;
            case STDDEV_POP:
                double d = Values.asDouble(v);
                acc.sum.add(d);
                acc.sumSq.addSquare(d, 1.0);
                break;
            case MIN:
            case MAX:
                int sign = a.fn == WindowSpec.Fn.MAX ? 1 : -1;
                // Keep a strictly monotonic deque: drop candidates the new value dominates.
                while (!acc.dequeValue.isEmpty()
                        && sign * Values.compare(acc.dequeValue.peekLast(), v) <= 0) {
                    acc.dequeValue.pollLast();
                    acc.dequeSeq.pollLast();
                }
                acc.dequeValue.addLast(v);
                acc.dequeSeq.addLast(seq);
                break;
            case DISTINCT_COUNT:
                String key = index + DISTINCT_SEP + v;
                Long count = distinct.get(key);
                distinct.put(key, count == null ? 1L : count + 1);
                if (count == null) {
                    acc.distinct++;
                }
                break;
            default:
                break;
        }
    }

    private static void remove(
            int index, WindowSpec.Agg a, WindowAccumulators.Acc acc, Object v,
            MapView<String, Long> distinct)
            throws Exception {
        if (a.fn == WindowSpec.Fn.COUNT && a.input == null) {
            acc.n--;
            return;
        }
        if (v == null) {
            return;
        }
        acc.n--;
        switch (a.fn) {
            case SUM:
            case AVG:
                if (v instanceof Long) {
                    acc.isum -= (Long) v;
                } else {
                    acc.sum.add(-(Double) v);
                }
                break;
            case STDDEV_POP:
                double d = Values.asDouble(v);
                acc.sum.add(-d);
                acc.sumSq.addSquare(d, -1.0);
                break;
            case DISTINCT_COUNT:
                String key = index + DISTINCT_SEP + v;
                Long count = distinct.get(key);
                if (count == null || count <= 1) {
                    distinct.remove(key);
                    acc.distinct--;
                } else {
                    distinct.put(key, count - 1);
                }
                break;
            default:
                break; // min/max: the deque is trimmed by sequence number in evict()
        }
        if (acc.n == 0) {
            // An empty window restarts from exact zeros (no leftover rounding).
            acc.isum = 0;
            acc.sum.hi = acc.sum.lo = 0;
            acc.sumSq.hi = acc.sumSq.lo = 0;
        }
    }

    /** Moves every window's start past events older than {@code t - w}; trims the history. */
    private static void evict(
            WindowSpec s,
            WindowAccumulators w,
            long t,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        for (int wi = 0; wi < s.windows.length; wi++) {
            long lower = t - s.windows[wi];
            while (w.windowStart[wi] < w.nextSeq) {
                byte[] bytes = history.get(w.windowStart[wi]);
                DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
                long ts = in.readLong();
                if (ts >= lower) {
                    break;
                }
                Object[] values = new Object[s.inputs.size()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = Values.read(in);
                }
                for (int i = 0; i < s.aggs.length; i++) {
                    WindowSpec.Agg a = s.aggs[i];
                    if (a.windowIndex == wi) {
                        remove(i, a, w.accs[i], a.inputIndex < 0 ? null : values[a.inputIndex],
                                distinct);
                    }
                }
                w.windowStart[wi]++;
            }
            for (int i = 0; i < s.aggs.length; i++) {
                WindowAccumulators.Acc acc = w.accs[i];
                if (s.aggs[i].windowIndex == wi) {
                    while (!acc.dequeSeq.isEmpty()
                            && acc.dequeSeq.peekFirst() < w.windowStart[wi]) {
                        acc.dequeSeq.pollFirst();
                        acc.dequeValue.pollFirst();
                    }
                }
            }
        }
        if (s.needsHistory()) {
            long oldest = Arrays.stream(w.windowStart).min().orElse(w.nextSeq);
            while (w.headSeq < oldest) {
                history.remove(w.headSeq++);
            }
        }
    }

    private static Object output(WindowSpec.Agg a, WindowAccumulators.Acc acc) {
        switch (a.fn) {
            case COUNT:
                return acc.n;
            case DISTINCT_COUNT:
                return acc.distinct;
            case SUM:
                if (acc.n == 0) {
                    return null;
                }
                return acc.kind == Values.LONG ? (Object) acc.isum : (Object) acc.sum.value();
            case AVG:
                if (acc.n == 0) {
                    return null;
                }
                return (acc.kind == Values.LONG ? (double) acc.isum : acc.sum.value()) / acc.n;
            case STDDEV_POP:
                return acc.n == 0 ? null : Math.sqrt(DoubleDouble.variance(acc.sum, acc.sumSq, acc.n));
            case MIN:
            case MAX:
                return acc.dequeValue.isEmpty() ? null : acc.dequeValue.peekFirst();
            default:
                throw new IllegalStateException("unhandled " + a.fn);
        }
    }

    private static byte kindOf(Object v) {
        if (v instanceof Long) {
            return Values.LONG;
        }
        if (v instanceof Double) {
            return Values.DOUBLE;
        }
        if (v instanceof String) {
            return Values.STRING;
        }
        return Values.BOOLEAN;
    }

    // ---------------------------------------------------------------- state encoding

    /** A buffered event: its id and input values. */
    private static final class Event {
        final String id;
        final Object[] values;

        Event(String id, Object[] values) {
            this.id = id;
            this.values = values;
        }
    }

    private static byte[] appendEvent(byte[] group, String id, Object[] values) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        DataOutputStream out = new DataOutputStream(bytes);
        if (group == null) {
            out.writeInt(1);
        } else {
            out.writeInt(new DataInputStream(new ByteArrayInputStream(group)).readInt() + 1);
            out.write(group, 4, group.length - 4);
        }
        Values.writeString(out, id);
        for (Object v : values) {
            Values.write(out, v);
        }
        out.flush();
        return bytes.toByteArray();
    }

    private static List<Event> decodeGroup(byte[] group, int inputs) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(group));
        int n = in.readInt();
        List<Event> events = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String id = Values.readString(in);
            Object[] values = new Object[inputs];
            for (int j = 0; j < inputs; j++) {
                values[j] = Values.read(in);
            }
            events.add(new Event(id, values));
        }
        return events;
    }

    /** The history keeps the event time and the first {@code inputs} values (not carried ones). */
    private static byte[] encodeHistory(long ts, Object[] values, int inputs) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(32);
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeLong(ts);
        for (int i = 0; i < inputs; i++) {
            Values.write(out, values[i]);
        }
        out.flush();
        return bytes.toByteArray();
    }
}
