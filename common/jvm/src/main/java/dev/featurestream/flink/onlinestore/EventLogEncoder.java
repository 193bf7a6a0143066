package dev.featurestream.flink.onlinestore;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.LogicalType;

import java.util.List;

/**
 * Turns a sink row into the event-log script's call ({@code common/online_events.lua}): key
 * {@code fse:<view>:v<N>:<entity key>}, score the event time, member the event as a JSON array
 * {@code [<event id>,<v0>,<v1>,...]} with one value per history column, e.g. {@code
 * ["pay-000017",1250,"mer_042","US"]}. Built once per writer, with one writer per column chosen
 * from its type here, so no type is inspected per record.
 *
 * <p>Readers in Go and Python parse members, and replays depend on one event always giving the
 * same member (ZADD of an identical member is a no-op), so the text is exact and deterministic:
 * no spaces; null as {@code null}; integers as JSON integers; FLOAT (widened) and DOUBLE as
 * {@link Double#toString} when finite ({@code 12.5}, {@code 1.0E10}: valid JSON numbers that
 * parse back to the same double), else the strings {@code "NaN"}, {@code "Infinity"}, {@code
 * "-Infinity"}; strings JSON-escaped ({@code "}, {@code \} and control characters), other
 * characters raw (UTF-8 on the wire); booleans as {@code true}/{@code false}.
 *
 * <p>Tiled ({@code history-tile}, decision 76), the same member goes to {@code
 * common/online_tiles.lua} instead, under {@code fst:<view>:v<N>:<entity key>}, with ARGV {@code
 * [time, member, keep, ttl, tile, parts]}; the script keeps the newest event's member and folds
 * the values into the event's tile.
 */
final class EventLogEncoder {

    /** Appends one non-null field as JSON. */
    @FunctionalInterface
    interface ValueWriter {
        void write(RowData row, StringBuilder out);
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final EventLogLayout layout;
    private final String keepMillis;
    private final String ttlMillis;
    /** Null for the plain event log. */
    private final String tileMillis;
    private final ValueWriter[] values;

    /**
     * @param tileMillis the tile length: > 0 exactly when {@code layout} is tiled (has {@code
     *     history-parts}), else 0
     */
    EventLogEncoder(EventLogLayout layout, long keepMillis, long ttlMillis, long tileMillis) {
        if (layout.tiled() != (tileMillis > 0)) {
            throw new IllegalArgumentException(
                    "tile " + tileMillis + " ms does not match the layout (" + layout + ")");
        }
        this.layout = layout;
        this.keepMillis = Long.toString(keepMillis);
        this.ttlMillis = Long.toString(ttlMillis);
        this.tileMillis = layout.tiled() ? Long.toString(tileMillis) : null;
        this.values = new ValueWriter[layout.columnNames.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = valueWriter(layout.columnTypes[i], layout.columnIndexes[i]);
        }
    }

    /**
     * The event-log (or tiles) script's call for {@code row}, or null when its key, event id or
     * event time is null (the event cannot be placed in a log or ordered).
     */
    ScriptCall encode(RowData row) {
        if (row.isNullAt(layout.keyIndex)
                || row.isNullAt(layout.eventIdIndex)
                || row.isNullAt(layout.eventTimeIndex)) {
            return null;
        }
        String key = layout.keyPrefix + row.getString(layout.keyIndex).toString();
        // Epoch millis, read as VectorEncoder reads them (TIMESTAMP(3) as UTC, or the instant).
        long eventTime = row.getTimestamp(layout.eventTimeIndex, 3).getMillisecond();
        if (tileMillis != null) {
            return new ScriptCall(
                    StoreScript.EVENT_TILES,
                    key,
                    List.of(
                            Long.toString(eventTime),
                            member(row),
                            keepMillis,
                            ttlMillis,
                            tileMillis,
                            layout.parts));
        }
        return new ScriptCall(
                StoreScript.EVENT_LOG,
                key,
                List.of(Long.toString(eventTime), member(row), keepMillis, ttlMillis));
    }

    /** The member text of {@code row}'s event (its event id must not be null). */
    String member(RowData row) {
        StringBuilder out = new StringBuilder(32 + 16 * values.length);
        out.append('[');
        appendString(out, row.getString(layout.eventIdIndex).toString());
        for (int i = 0; i < values.length; i++) {
            out.append(',');
            if (row.isNullAt(layout.columnIndexes[i])) {
                out.append("null");
            } else {
                values[i].write(row, out);
            }
        }
        return out.append(']').toString();
    }

    /** The writer of a history column of {@code type} at {@code pos}, or null if unsupported. */
    static ValueWriter valueWriter(LogicalType type, int pos) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return (row, out) -> appendString(out, row.getString(pos).toString());
            case BOOLEAN:
                return (row, out) -> out.append(row.getBoolean(pos) ? "true" : "false");
            case TINYINT:
                return (row, out) -> out.append((long) row.getByte(pos));
            case SMALLINT:
                return (row, out) -> out.append((long) row.getShort(pos));
            case INTEGER:
                return (row, out) -> out.append((long) row.getInt(pos));
            case BIGINT:
                return (row, out) -> out.append(row.getLong(pos));
            case FLOAT:
                // Widened, not Float.toString: the reader's double is the float's exact value.
                return (row, out) -> appendDouble(out, row.getFloat(pos));
            case DOUBLE:
                return (row, out) -> appendDouble(out, row.getDouble(pos));
            default:
                // DECIMAL among them: a JSON number would lose its scale, a string would need a
                // convention the readers do not have; the query casts it.
                return null;
        }
    }

    static void appendDouble(StringBuilder out, double value) {
        if (Double.isNaN(value)) {
            out.append("\"NaN\"");
        } else if (Double.isInfinite(value)) {
            out.append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        } else {
            out.append(Double.toString(value));
        }
    }

    /** {@code text} as a JSON string: quotes, backslashes and control characters escaped. */
    static void appendString(StringBuilder out, String text) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                default:
                    if (c < 0x20) {
                        out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }
}
