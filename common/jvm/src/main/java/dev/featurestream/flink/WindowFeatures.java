package dev.featurestream.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
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

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * All windowed features of one feature view, per event, in one pass over the key's events
 * (decision 11). One instance per view: the Python compiler creates it with the view's window
 * spec JSON and registers it as a temporary function, so timers (which get no call arguments)
 * still know the spec.
 *
 * <p>SQL: {@code SELECT * FROM fs_window_<view>_v<N>(input => TABLE t PARTITION BY key,
 * on_time => DESCRIPTOR(event_time), uid => '<view>_v<N>')}. Output: the key, the event id, the
 * spec's carried columns, one column per aggregate (types derived from the spec and the input
 * columns), with {@code "emit_inputs": true} the event's own input values ({@code in_0}, ...,
 * canonically typed; null on reject rows), the reject columns, then the event time.
 *
 * <p>Semantics (exact, independent of arrival order): for an event at time {@code t}, a window
 * {@code w} covers the key's events with {@code t - w <= t' <= t}, same-time peers included.
 * Rows are buffered per timestamp and released by an event-time timer when the watermark passes
 * it, so peers are folded in together and in timestamp order; within a peer group events are
 * ordered by event id. {@code last} is the value of the peer with the largest event id;
 * {@code seconds_since_prev} is null when there is no earlier event within the view's last-event
 * retention.
 *
 * <p>State (format v2, decision 58): per key one value ({@link WindowAccumulators}: the
 * aggregates, window positions and the newest history entries), the history map (older entries
 * in chunks of {@link EventHistory#CHUNK}, and the layout entry), pending peer groups by
 * timestamp, and distinct-value counts. Per event, a bounded number of state accesses that does
 * not grow with the key's history: no scans, no clears, no emptiness checks. Timers: one per
 * pending timestamp, and one expiry timer per key. The expiry timer is set from {@code eval}
 * (the event is ahead of the watermark there, so the registration always holds) to the event's
 * time + {@code retention_ms} + a quarter of it, and moved only when an event passes that, so an
 * active key moves it a few times a day rather than at every release. When it fires, the key's
 * windows are dropped and it turns dormant (only its last event time kept, for {@code
 * seconds_since_prev}) until last event + {@code last_event_retention_ms}, when the same timer,
 * set again, forgets it.
 *
 * <p>Lateness (decision 51): rows at or behind the watermark never reach {@code eval} (Flink 2.2
 * drops them before the function), so the job splits them off before the call, against the
 * source's watermark, and routes them to the dead-letter topic as {@code late}. A row at or before
 * the key's last released time can still arrive after a restore (watermarks are not checkpointed):
 * it cannot be folded without rewriting released rows, so {@code eval} returns it as a reject row
 * (reason {@code late_after_restore}, its source partition and offset) that the job sends to the
 * dead-letter topic. Nothing is dropped here.
 */
@DataTypeHint("ROW<event_id STRING>") // placeholder for extraction; the real type: getTypeInference
public class WindowFeatures extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final String DISTINCT_SEP = "\u0001";
    /** Reason of rows at or before the key's released time (only possible after a restore). */
    static final String LATE_AFTER_RESTORE = "late_after_restore";
    /** Input columns a reject row takes its source position from (decode-time metadata). */
    static final String PARTITION_COLUMN = "src_partition";
    static final String OFFSET_COLUMN = "src_offset";
    /** Output columns after the features: set on reject rows only (null on feature rows). */
    static final String[] REJECT_COLUMNS = {
        "reject_reason", "reject_message", "reject_partition", "reject_offset"
    };
    /**
     * State is expired by this function's own cleanup timer (last event + retention), never by
     * Flink's state TTL. Without a hint Flink 2.2 gives PTF state a TTL of Long.MAX_VALUE, whose
     * heap-backend incremental cleanup copies whole per-key maps on every access: it halved
     * throughput (docs/benchmarks.md). "0 ms" means no TTL wrapper at all.
     */
    private static final String NO_TTL = "0 ms";
    /**
     * Samples the emit-lag histogram keeps (a sliding window per subtask and view, not a time
     * window): enough for a stable p99 at a few hundred rows per second, 8 KB of doubles.
     */
    static final int EMIT_LAG_SAMPLES = 1024;

    private final String specJson;
    private transient WindowSpec spec;
    private transient WindowLayout layout;
    private transient WindowSpec.Fn[] fns;
    private transient Counter released;
    private transient Counter cleared;
    private transient Counter forgotten;
    private transient Counter migrated;
    private transient Counter rejected;
    private transient Counter notFolded;
    private transient Counter evolved;
    private transient Counter warming;
    private transient Histogram emitLag;
    /** Event-time lag (ms) of the last released feature row; read by the gauge. */
    private transient volatile long lastEmitLagMs;
    /** Wall clock in epoch ms; tests replace it. */
    private transient LongSupplier clock;

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

    private WindowLayout layout() {
        if (layout == null) {
            layout = WindowLayout.of(spec());
        }
        return layout;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        spec();
        released = context.getMetricGroup().counter("featureRowsEmitted");
        cleared = context.getMetricGroup().counter("keysExpired");
        forgotten = context.getMetricGroup().counter("keysForgotten");
        migrated = context.getMetricGroup().counter("keysMigrated");
        rejected = context.getMetricGroup().counter("rowsRejectedAfterRestore");
        notFolded = context.getMetricGroup().counter("rowsNotFolded");
        evolved = context.getMetricGroup().counter("keysEvolved");
        warming = context.getMetricGroup().counter("keysWarmingUp");
        // Freshness (README "Operating a job"): how far behind the wall clock a feature row's
        // event time is when the row leaves, i.e. watermark delay + waiting + processing.
        emitLag =
                context.getMetricGroup()
                        .histogram(
                                "featureEmitLagMsHistogram",
                                new DescriptiveStatisticsHistogram(EMIT_LAG_SAMPLES));
        context.getMetricGroup().gauge("featureEmitLagMs", (Gauge<Long>) () -> lastEmitLagMs);
        if (clock == null) {
            clock = System::currentTimeMillis;
        }
    }

    /** Replaces the wall clock the emit lag is measured against (tests). */
    void setClock(LongSupplier clock) {
        this.clock = clock;
    }

    /**
     * Makes the key's state match the current spec: v1 state is rewritten as v2 ({@link
     * WindowStateV1}), state written for another layout (a restore after a view change) is
     * evolved ({@link WindowEvolution}).
     */
    private void ensureLayout(
            WindowSpec s,
            Accumulators acc,
            MapView<Long, byte[]> pending,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        byte[] data = acc.data;
        if (data == null) {
            return;
        }
        WindowLayout now = layout();
        if (WindowStateV1.isDormant(data)) {
            // No window state to evolve: only the last event time, which any layout keeps.
            WindowAccumulators.Pending waiting = new WindowAccumulators.Pending();
            waiting.inMap = WindowStateV1.countPending(pending);
            acc.data =
                    WindowAccumulators.dormant(
                            now.stateHash, WindowStateV1.lastTs(data), WindowAccumulators.NONE,
                            waiting);
            migrated.inc();
            return;
        }
        long hash = WindowAccumulators.layoutHash(data);
        if (hash == now.stateHash) {
            return;
        }
        // Written for another layout or format. Keys with window state (v1 or v2) have the layout
        // entry; a v2 dormant key has none (and a v1 dormant one is 16 bytes, handled above).
        byte[] stored = history.get(WindowLayout.STATE_KEY);
        if (stored == null) {
            acc.data =
                    WindowAccumulators.dormant(
                            now.stateHash,
                            WindowAccumulators.lastTs(data),
                            WindowAccumulators.expireAt(data),
                            WindowAccumulators.pendingOf(data));
            return;
        }
        WindowLayout old = WindowLayout.parse(stored);
        WindowAccumulators w;
        if (hash == old.v1Hash) {
            w = WindowStateV1.migrate(old, data, history);
            w.pending.inMap = WindowStateV1.countPending(pending);
            migrated.inc();
        } else if (hash == old.stateHash) {
            w = WindowAccumulators.decode(old.fns(), old.windows.length, data);
        } else {
            throw new IllegalStateException(
                    "view " + s.view + ": window state written for no layout it records"
                            + " (corrupt state)");
        }
        if (old.stateHash != now.stateHash) {
            WindowEvolution.Result result =
                    WindowEvolution.evolve(s, now, old, w, pending, history, distinct);
            w = result.accumulators;
            history.put(WindowLayout.STATE_KEY, now.json);
            evolved.inc();
            if (result.warming) {
                warming.inc();
            }
        }
        acc.data = w.encode(now.stateHash, fns());
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
        DataType input =
                call.getTableSemantics(0)
                        .map(TableSemantics::dataType)
                        .orElse(call.getArgumentDataTypes().get(0));
        return outputType(spec(), input);
    }

    /** The output row type of {@code s} over an input table of type {@code input}. */
    static DataType outputType(WindowSpec s, DataType input) {
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
            fields.add(
                    DataTypes.FIELD(
                            c, canonicalType(s, "carried", c, types.get(pos).getLogicalType())));
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
        if (s.emitInputs) {
            // The event's own inputs, for the online store's event log (issue 17).
            for (String column : s.inputs) {
                int pos = names.indexOf(column);
                if (pos < 0) {
                    throw new ValidationException(
                            "view " + s.view + ": input column " + column
                                    + " missing from the input table " + names);
                }
                for (DataTypes.Field f : fields) {
                    if (f.getName().equals(column)) {
                        throw new ValidationException(
                                "view " + s.view + ": emit_inputs: input column " + column
                                        + " has the name of another output column");
                    }
                }
                fields.add(
                        DataTypes.FIELD(
                                column,
                                canonicalType(
                                        s, "input", column, types.get(pos).getLogicalType())));
            }
        }
        for (String column : new String[] {PARTITION_COLUMN, OFFSET_COLUMN}) {
            if (!names.contains(column)) {
                throw new ValidationException(
                        "view " + s.view + ": the input table has no " + column
                                + " column (reject rows carry the source position)");
            }
        }
        fields.add(DataTypes.FIELD(REJECT_COLUMNS[0], DataTypes.STRING()));
        fields.add(DataTypes.FIELD(REJECT_COLUMNS[1], DataTypes.STRING()));
        fields.add(DataTypes.FIELD(REJECT_COLUMNS[2], DataTypes.INT()));
        fields.add(DataTypes.FIELD(REJECT_COLUMNS[3], DataTypes.BIGINT()));
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

    /**
     * A carried or emitted input column comes out as its canonical type (integers as BIGINT,
     * floats as DOUBLE), the type of the value {@link Values#canonical} keeps.
     */
    private static DataType canonicalType(
            WindowSpec s, String role, String column, LogicalType in) {
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
                "view " + s.view + ": " + role + " column " + column + " is " + in
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
        ensureLayout(s, acc, pending, history, distinct);
        Object id = input.getField(s.eventId);
        byte[] data = acc.data;
        long released = data == null ? Long.MIN_VALUE : WindowAccumulators.lastTs(data);
        if (released != Long.MIN_VALUE && t <= released) {
            // Only after a restore: the watermark restarted from nothing, so the late split let
            // through a row this key has already released past. Folding it would rewrite rows
            // already published; it goes to the dead-letter topic instead.
            collect(rejectRow(s, id, t, released, input));
            rejected.inc();
            return;
        }
        // The expiry timer: t is ahead of the watermark, so registering from here always holds.
        long at = data == null ? WindowAccumulators.NONE : WindowAccumulators.expireAt(data);
        boolean dormant = data == null || WindowAccumulators.isDormant(data);
        long next = expiryAfter(s, t);
        // Moved when it falls before this event's window expiry (next - slack), or when it is a
        // dormant key's far later forget time.
        if (at == WindowAccumulators.NONE || at < next - slack(s) || (dormant && at > next)) {
            if (at != WindowAccumulators.NONE && at != t) {
                // Never a release timer: a group pending at `at` would have moved the timer.
                time.clearTimer(at);
            }
            at = next;
            time.registerOnTime(at);
        }
        int width = s.inputs.size();
        Object[] values = new Object[width + s.carry.size()];
        for (int i = 0; i < width; i++) {
            values[i] = Values.canonical(input.getField(s.inputs.get(i)));
        }
        for (int i = 0; i < s.carry.size(); i++) {
            values[width + i] = Values.canonical(input.getField(s.carry.get(i)));
        }
        String eventId = id == null ? "" : id.toString();
        WindowAccumulators.Pending waiting =
                data == null ? new WindowAccumulators.Pending() : WindowAccumulators.pendingOf(data);
        int inline = waiting.indexOf(t);
        byte[] mapped = inline < 0 && waiting.inMap > 0 ? pending.get(t) : null;
        if (inline >= 0) {
            byte[] before = waiting.groups.get(inline);
            byte[] group = appendEvent(before, eventId, values);
            if (waiting.fits(group.length - before.length, false)) {
                waiting.groups.set(inline, group);
            } else {
                // A big peer group moves to the pending map.
                waiting.removeAt(inline);
                pending.put(t, group);
                waiting.inMap++;
            }
        } else if (mapped != null) {
            pending.put(t, appendEvent(mapped, eventId, values));
        } else {
            byte[] group = appendEvent(null, eventId, values);
            if (waiting.fits(group.length, true)) {
                waiting.times.add(t);
                waiting.groups.add(group);
            } else {
                pending.put(t, group);
                waiting.inMap++;
            }
            time.registerOnTime(t);
        }
        acc.data =
                data == null
                        ? WindowAccumulators.dormant(layout().stateHash, Long.MIN_VALUE, at, waiting)
                        : WindowAccumulators.withPending(data, at, waiting);
    }

    /** How far past its due time the expiry timer is set, so it moves only now and then. */
    private static long slack(WindowSpec s) {
        return s.retentionMs / 4;
    }

    /** The expiry timer for a key whose newest event is at {@code t}: windows empty, and slack. */
    private static long expiryAfter(WindowSpec s, long t) {
        return t + s.retentionMs + 1 + slack(s);
    }

    private WindowSpec.Fn[] fns() {
        if (fns == null) {
            fns = layout().fns();
        }
        return fns;
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
        ensureLayout(s, acc, pending, history, distinct);
        if (ctx.currentTimer() != null) {
            // The cleanup or forget timer of v1 state: it stands in for the expiry timer until
            // the key has one.
            if (acc.data != null
                    && WindowAccumulators.expireAt(acc.data) == WindowAccumulators.NONE) {
                expire(ctx, s, t, acc, history, distinct);
            }
            return;
        }
        byte[] data = acc.data;
        if (data == null) {
            return;
        }
        WindowAccumulators.Pending waiting = WindowAccumulators.pendingOf(data);
        int inline = waiting.indexOf(t);
        byte[] group = null;
        if (inline >= 0) {
            group = waiting.removeAt(inline);
        } else if (waiting.inMap > 0) {
            group = pending.get(t);
            if (group != null) {
                pending.remove(t);
                waiting.inMap--;
            }
        }
        if (group != null) {
            release(ctx, s, t, group, waiting, acc, history, distinct);
        } else if (WindowAccumulators.expireAt(data) == t) {
            expire(ctx, s, t, acc, history, distinct);
        }
    }

    /** Folds the peer group at {@code t} into the windows and emits a row per event. */
    private void release(
            OnTimerContext ctx,
            WindowSpec s,
            long t,
            byte[] group,
            WindowAccumulators.Pending waiting,
            Accumulators acc,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        byte[] data = acc.data;
        WindowAccumulators w = WindowAccumulators.decode(fns(), s.windows.length, data);
        w.pending = waiting;
        if (data == null || WindowAccumulators.isDormant(data)) {
            // No window state yet (a new key) or any more (a dormant one): empty windows.
            history.put(WindowLayout.STATE_KEY, layout().json);
        }
        List<Event> events = decodeGroup(group, s.inputs.size() + s.carry.size());
        events.sort(Comparator.comparing(e -> e.id));
        if (w.lastTs != Long.MIN_VALUE && t <= w.lastTs) {
            // Unreachable: eval rejects such rows before they are buffered. Counted, so that a
            // broken invariant shows in the metrics rather than as rewritten history.
            notFolded.inc(events.size());
            acc.data =
                    WindowAccumulators.withPending(data, WindowAccumulators.expireAt(data), waiting);
            return;
        }
        Double sincePrev =
                w.lastTs != Long.MIN_VALUE && t - w.lastTs <= s.lastEventRetentionMs
                        ? (t - w.lastTs) / 1000.0
                        : null;

        EventHistory hist = new EventHistory(history, w);
        // Evict first: a window that empties restarts from zero (a spilled distinct count
        // comes back inline) before the new events go in.
        evict(s, w, t, false, hist, distinct);
        long before = w.nextSeq;
        for (Event e : events) {
            long seq = w.nextSeq;
            if (s.needsHistory()) {
                hist.append(EventHistory.entryOf(t, e.values, s.inputs.size()));
            } else {
                w.nextSeq++;
            }
            for (int i = 0; i < s.aggs.length; i++) {
                WindowSpec.Agg a = s.aggs[i];
                if (a.fn.windowed()) {
                    add(a, w.accs[i], seq, a.inputIndex < 0 ? null : e.values[a.inputIndex],
                            distinct);
                }
            }
        }
        for (int wi = 0; wi < s.windows.length; wi++) {
            if (w.windowStart[wi] == before) {
                w.windowStartTs[wi] = t; // it was empty: it holds just the events at t
            }
        }
        w.lastTs = t;
        if (w.expireAt == WindowAccumulators.NONE || w.expireAt <= t) {
            // v1 state, or a timer lost behind the watermark: set it from here.
            w.expireAt = expiryAfter(s, t);
            ctx.timeContext(Long.class).registerOnTime(w.expireAt);
        }
        acc.data = w.encode(layout().stateHash, fns());

        Event newest = events.get(events.size() - 1);
        int emitted = emittedInputs(s);
        for (Event e : events) {
            int carried = s.carry.size();
            Object[] row =
                    new Object[1 + carried + s.aggs.length + emitted + REJECT_COLUMNS.length];
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
            // The released event's own inputs (canonical values, as the output type says).
            System.arraycopy(e.values, 0, row, first + s.aggs.length, emitted);
            collect(Row.of(row));
        }
        released.inc(events.size());
        // One clock read per peer group: its rows share the event time t.
        long lag = clock.getAsLong() - t;
        for (int i = 0; i < events.size(); i++) {
            emitLag.update(lag);
        }
        lastEmitLagMs = lag;
    }

    /**
     * The expiry timer. Past last event + retention every window is empty: the window state goes
     * (point removals of what the history holds, nothing scanned) and the key turns dormant, the
     * timer set again for last event + last-event retention, when the key is forgotten.
     */
    private void expire(
            OnTimerContext ctx,
            WindowSpec s,
            long t,
            Accumulators acc,
            MapView<Long, byte[]> history,
            MapView<String, Long> distinct)
            throws Exception {
        byte[] data = acc.data;
        long last = WindowAccumulators.lastTs(data);
        TimeContext<Long> time = ctx.timeContext(Long.class);
        if (!WindowAccumulators.isDormant(data)) {
            if (last + s.retentionMs + 1 > t) {
                // A v1 timer firing early: the key has had events since.
                long at = expiryAfter(s, last);
                time.registerOnTime(at);
                acc.data = WindowAccumulators.withExpireAt(data, at);
                return;
            }
            WindowAccumulators w = WindowAccumulators.decode(fns(), s.windows.length, data);
            EventHistory hist = new EventHistory(history, w);
            if (anySpilled(s, w)) {
                // Spilled distinct counts are keyed by value: remove those of the events held.
                evict(s, w, t, true, hist, distinct);
            }
            hist.dropBefore(w.nextSeq);
            history.remove(WindowLayout.STATE_KEY);
            data =
                    WindowAccumulators.dormant(
                            layout().stateHash, last, WindowAccumulators.NONE, w.pending);
            cleared.inc();
        }
        if (last == Long.MIN_VALUE) {
            // Nothing released yet (only v1 state gets here): look again a retention later.
            long at = expiryAfter(s, t);
            time.registerOnTime(at);
            acc.data = WindowAccumulators.withExpireAt(data, at);
            return;
        }
        long forgetAt = last + s.lastEventRetentionMs + 1;
        WindowAccumulators.Pending waiting = WindowAccumulators.pendingOf(data);
        if (forgetAt <= t && waiting.times.isEmpty() && waiting.inMap == 0) {
            acc.data = null;
            forgotten.inc();
            return;
        }
        if (forgetAt <= t) {
            // Only v1 state: events wait; their release sets the timer again.
            acc.data = WindowAccumulators.withExpireAt(data, WindowAccumulators.NONE);
            return;
        }
        time.registerOnTime(forgetAt);
        acc.data = WindowAccumulators.withExpireAt(data, forgetAt);
    }

    /** How many input columns each output row carries: all of them with emit_inputs, else 0. */
    private static int emittedInputs(WindowSpec s) {
        return s.emitInputs ? s.inputs.size() : 0;
    }

    private static boolean anySpilled(WindowSpec s, WindowAccumulators w) {
        for (int i = 0; i < s.aggs.length; i++) {
            if (s.aggs[i].fn == WindowSpec.Fn.DISTINCT_COUNT && w.accs[i].spilled) {
                return true;
            }
        }
        return false;
    }

    /** The output row of an input row that cannot be folded: ids, reason, source position. */
    private static Row rejectRow(WindowSpec s, Object id, long t, long released, Row input) {
        int carried = s.carry.size();
        int emitted = emittedInputs(s);
        Object[] row = new Object[1 + carried + s.aggs.length + emitted + REJECT_COLUMNS.length];
        row[0] = id == null ? "" : id.toString();
        int first = 1 + carried;
        for (int i = 0; i < s.aggs.length; i++) {
            WindowSpec.Fn fn = s.aggs[i].fn;
            // Counts are NOT NULL columns; reject rows never reach a feature sink.
            if (fn == WindowSpec.Fn.COUNT || fn == WindowSpec.Fn.DISTINCT_COUNT) {
                row[first + i] = 0L;
            }
        }
        int r = first + s.aggs.length + emitted; // emitted inputs stay null on reject rows
        row[r] = LATE_AFTER_RESTORE;
        row[r + 1] =
                "view " + s.view + ".v" + s.version + ": event time " + Instant.ofEpochMilli(t)
                        + " is not after " + Instant.ofEpochMilli(released)
                        + ", which this key had already released before the job restarted";
        row[r + 2] = input.getField(PARTITION_COLUMN);
        row[r + 3] = input.getField(OFFSET_COLUMN);
        return Row.of(row);
    }

    static void add(
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
                if (!acc.spilled) {
                    Long seen = acc.inline.merge(v, 1L, Long::sum);
                    if (seen == 1L) {
                        acc.distinct++;
                    }
                    if (acc.inline.size() > WindowAccumulators.INLINE_DISTINCT) {
                        // Too many values to carry in the value: they go to the distinct map.
                        for (Map.Entry<Object, Long> e : acc.inline.entrySet()) {
                            distinct.put(a.name + DISTINCT_SEP + e.getKey(), e.getValue());
                        }
                        acc.inline.clear();
                        acc.spilled = true;
                    }
                    break;
                }
                String key = a.name + DISTINCT_SEP + v;
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
            WindowSpec.Agg a, WindowAccumulators.Acc acc, Object v, MapView<String, Long> distinct)
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
                if (!acc.spilled) {
                    Long left = acc.inline.computeIfPresent(v, (k, c) -> c <= 1 ? null : c - 1);
                    if (left == null) {
                        acc.distinct--;
                    }
                    break;
                }
                String key = a.name + DISTINCT_SEP + v;
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
            // An empty window restarts from exact zeros (no leftover rounding), and a distinct
            // count that spilled has removed every map entry: it starts inline again.
            acc.spilled = false;
            acc.isum = 0;
            acc.sum.hi = acc.sum.lo = 0;
            acc.sumSq.hi = acc.sumSq.lo = 0;
        }
    }

    /**
     * Moves every window's start past events older than {@code t - w} (all of them when {@code
     * all}) and drops history no window holds. A window whose oldest event is in range is not
     * read at all.
     */
    private static void evict(
            WindowSpec s,
            WindowAccumulators w,
            long t,
            boolean all,
            EventHistory hist,
            MapView<String, Long> distinct)
            throws Exception {
        for (int wi = 0; wi < s.windows.length; wi++) {
            long lower = all ? Long.MAX_VALUE : t - s.windows[wi];
            if (w.windowStart[wi] >= w.nextSeq || w.windowStartTs[wi] >= lower) {
                continue; // empty, or nothing leaves
            }
            while (w.windowStart[wi] < w.nextSeq) {
                byte[] entry = hist.entry(w.windowStart[wi]);
                long ts = EventHistory.timeOf(entry);
                if (ts >= lower) {
                    w.windowStartTs[wi] = ts;
                    break;
                }
                Object[] values = EventHistory.valuesOf(entry, s.inputs.size());
                for (int i = 0; i < s.aggs.length; i++) {
                    WindowSpec.Agg a = s.aggs[i];
                    if (a.windowIndex == wi) {
                        remove(a, w.accs[i], a.inputIndex < 0 ? null : values[a.inputIndex],
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
            hist.dropBefore(Arrays.stream(w.windowStart).min().orElse(w.nextSeq));
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
    static final class Event {
        final String id;
        final Object[] values;

        Event(String id, Object[] values) {
            this.id = id;
            this.values = values;
        }
    }

    /** A pending group with one more event: count (4 bytes), then id and values per event. */
    static byte[] appendEvent(byte[] group, String id, Object[] values) {
        StateBytes.Writer out = new StateBytes.Writer((group == null ? 4 : group.length) + 48);
        if (group == null) {
            out.putInt(1);
        } else {
            out.putInt(new StateBytes.Reader(group).getInt() + 1);
            out.putBytes(group, 4, group.length - 4);
        }
        out.putString(id);
        for (Object v : values) {
            out.putValue(v);
        }
        return out.toArray();
    }

    static List<Event> decodeGroup(byte[] group, int inputs) {
        StateBytes.Reader in = new StateBytes.Reader(group);
        int n = in.getInt();
        List<Event> events = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String id = in.getString();
            Object[] values = new Object[inputs];
            for (int j = 0; j < inputs; j++) {
                values[j] = in.getValue();
            }
            events.add(new Event(id, values));
        }
        return events;
    }
}
