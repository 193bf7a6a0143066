package dev.featurestream.flink.onlinestore;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a sink row into the script's key and arguments. Built once per writer from a {@link
 * VectorLayout}, with one encoder per feature column chosen from its type here, so no type is
 * inspected per record.
 */
final class VectorEncoder {

    /** Reads one non-null field as the string the store keeps. */
    @FunctionalInterface
    interface FieldEncoder {
        String encode(RowData row);
    }

    private final VectorLayout layout;
    private final String ttlMillis;
    private final FieldEncoder[] features;

    VectorEncoder(VectorLayout layout, long ttlMillis) {
        this.layout = layout;
        this.ttlMillis = Long.toString(ttlMillis);
        this.features = new FieldEncoder[layout.featureNames.length];
        for (int i = 0; i < features.length; i++) {
            features[i] = fieldEncoder(layout.featureTypes[i], layout.featureIndexes[i]);
        }
    }

    /**
     * The vector script's call for {@code row}, or null when its key, event id or event time is null
     * (such a row cannot be placed or ordered in the store).
     */
    ScriptCall encode(RowData row) {
        if (row.isNullAt(layout.keyIndex)
                || row.isNullAt(layout.eventIdIndex)
                || row.isNullAt(layout.eventTimeIndex)) {
            return null;
        }
        String key = layout.keyPrefix + row.getString(layout.keyIndex).toString();
        // For TIMESTAMP(3) the millisecond is that of the local date-time read as UTC; for
        // TIMESTAMP_LTZ(3) it is the instant's: epoch millis either way.
        long eventTime = row.getTimestamp(layout.eventTimeIndex, 3).getMillisecond();
        List<String> args = new ArrayList<>(4 + 2 * features.length);
        args.add(Long.toString(eventTime));
        args.add(row.getString(layout.eventIdIndex).toString());
        args.add(layout.version);
        args.add(ttlMillis);
        for (int i = 0; i < features.length; i++) {
            // A null feature is left out: the script's contract is "absent = null", and the
            // script deletes the old hash first, so no stale value survives.
            if (!row.isNullAt(layout.featureIndexes[i])) {
                args.add(layout.featureNames[i]);
                args.add(features[i].encode(row));
            }
        }
        return new ScriptCall(StoreScript.VECTOR, key, args);
    }

    /**
     * The encoder of a feature column of {@code type} at {@code pos}, or null when the type is
     * not supported. Numbers are written so that Python's {@code int()} / {@code float()} read
     * them back exactly.
     */
    static FieldEncoder fieldEncoder(LogicalType type, int pos) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return row -> row.getString(pos).toString();
            case BOOLEAN:
                return row -> row.getBoolean(pos) ? "true" : "false";
            case TINYINT:
                return row -> Long.toString(row.getByte(pos));
            case SMALLINT:
                return row -> Long.toString(row.getShort(pos));
            case INTEGER:
                return row -> Long.toString(row.getInt(pos));
            case BIGINT:
                return row -> Long.toString(row.getLong(pos));
            case FLOAT:
                // Widened, not Float.toString: keeps the float's exact value for float().
                return row -> Double.toString(row.getFloat(pos));
            case DOUBLE:
                return row -> Double.toString(row.getDouble(pos));
            case DECIMAL:
                DecimalType decimal = (DecimalType) type;
                int precision = decimal.getPrecision();
                int scale = decimal.getScale();
                // Plain notation: toString could give "1E+3", which float() reads but Decimal
                // users would not expect.
                return row -> row.getDecimal(pos, precision, scale).toBigDecimal().toPlainString();
            default:
                return null;
        }
    }
}
