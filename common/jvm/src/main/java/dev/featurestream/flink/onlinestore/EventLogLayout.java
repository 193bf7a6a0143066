package dev.featurestream.flink.onlinestore;

import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Where the parts of an event log entry sit in the sink's rows: the {@code history-columns} (the
 * event's aggregate inputs, in option order) next to the key, event id and event time that the
 * {@link VectorLayout} already placed. Built and type-checked at planning time; the writer turns
 * it into an {@link EventLogEncoder}.
 *
 * <p>The log ({@code fse:<view>:v<N>:<entity key>}, a sorted set by event time) lets readers
 * compute windowed features as of the moment they read, not as of the key's last event (issue
 * 17). With {@code history-parts} (and {@code history-tile}) the same entries are folded into
 * tiles instead ({@code fst:<view>:v<N>:<entity key>}, a hash of partial aggregates per tile,
 * decision 76).
 */
final class EventLogLayout implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Tile parts that need numbers: sum, min, max and Welford's mean and m2. */
    private static final String NUMERIC_PARTS = "slhw";

    final String keyPrefix;
    final int keyIndex;
    final int eventIdIndex;
    final int eventTimeIndex;
    final String[] columnNames;
    final int[] columnIndexes;
    final LogicalType[] columnTypes;
    /**
     * The {@code history-parts} option as given (one comma-separated entry per column), or null
     * for the plain event log.
     */
    final String parts;

    private EventLogLayout(
            String keyPrefix,
            int keyIndex,
            int eventIdIndex,
            int eventTimeIndex,
            String[] columnNames,
            int[] columnIndexes,
            LogicalType[] columnTypes,
            String parts) {
        this.keyPrefix = keyPrefix;
        this.keyIndex = keyIndex;
        this.eventIdIndex = eventIdIndex;
        this.eventTimeIndex = eventTimeIndex;
        this.columnNames = columnNames;
        this.columnIndexes = columnIndexes;
        this.columnTypes = columnTypes;
        this.parts = parts;
    }

    /** Tiles (decision 76) rather than the plain event log. */
    boolean tiled() {
        return parts != null;
    }

    /**
     * Checks the history columns against the event log's contract.
     *
     * @param vector the table's vector layout (key, event id and event time already checked)
     * @param historyColumns the {@code history-columns} option, split; not empty
     * @param historyParts the {@code history-parts} option as given (checked for its form by
     *     {@link OnlineStoreTableSinkFactory#historyParts}), or null for the plain event log
     * @throws org.apache.flink.table.api.ValidationException naming the option, the column and
     *     the rule
     */
    static EventLogLayout of(
            RowType rowType,
            String view,
            int version,
            VectorLayout vector,
            List<String> historyColumns,
            String historyParts) {
        List<String> names = rowType.getFieldNames();
        Set<String> seen = new HashSet<>();
        int[] indexes = new int[historyColumns.size()];
        LogicalType[] types = new LogicalType[historyColumns.size()];
        for (int i = 0; i < indexes.length; i++) {
            String column = historyColumns.get(i);
            if (!seen.add(column)) {
                throw OnlineStoreTableSinkFactory.invalid(
                        "option 'history-columns' names column '" + column + "' twice");
            }
            int index = VectorLayout.column(names, "history-columns", column);
            if (index == vector.keyIndex
                    || index == vector.eventIdIndex
                    || index == vector.eventTimeIndex) {
                // The log's key and score already hold them; a member is the event's inputs.
                throw OnlineStoreTableSinkFactory.invalid(
                        "option 'history-columns' must not name the key, event id or event time "
                                + "column, got '"
                                + column
                                + "'");
            }
            LogicalType type = rowType.getTypeAt(index);
            if (EventLogEncoder.valueWriter(type, index) == null) {
                throw OnlineStoreTableSinkFactory.invalid(
                        "option 'history-columns': column '"
                                + column
                                + "' has unsupported type "
                                + type
                                + "; supported: STRING/CHAR/VARCHAR, BOOLEAN, TINYINT, SMALLINT, "
                                + "INT, BIGINT, FLOAT, DOUBLE (cast DECIMAL to DOUBLE)");
            }
            indexes[i] = index;
            types[i] = type;
        }
        if (historyParts != null) {
            List<String> parts =
                    OnlineStoreTableSinkFactory.historyParts(historyParts, historyColumns);
            for (int i = 0; i < indexes.length; i++) {
                String letters = parts.get(i);
                if (!numeric(types[i])) {
                    for (char letter : NUMERIC_PARTS.toCharArray()) {
                        if (letters.indexOf(letter) >= 0) {
                            // online_tiles.lua adds and compares numbers only (decision 76: no
                            // min/max of strings, whose order Lua does not know).
                            throw OnlineStoreTableSinkFactory.invalid(
                                    "option 'history-parts': column '"
                                            + historyColumns.get(i)
                                            + "' has type "
                                            + types[i]
                                            + ", which cannot have part '"
                                            + letter
                                            + "' (parts 's', 'l', 'h' and 'w' need a numeric "
                                            + "column; 'n' and 'd' take any)");
                        }
                    }
                }
            }
        }
        return new EventLogLayout(
                (historyParts == null ? "fse:" : "fst:") + view + ":v" + version + ":",
                vector.keyIndex,
                vector.eventIdIndex,
                vector.eventTimeIndex,
                historyColumns.toArray(new String[0]),
                indexes,
                types,
                historyParts);
    }

    private static boolean numeric(LogicalType type) {
        switch (type.getTypeRoot()) {
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
                return true;
            default:
                return false;
        }
    }

    @Override
    public String toString() {
        return keyPrefix
                + "<key> history="
                + String.join(",", columnNames)
                + (parts == null ? "" : " parts=" + parts);
    }
}
