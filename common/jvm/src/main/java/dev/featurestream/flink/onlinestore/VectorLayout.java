package dev.featurestream.flink.onlinestore;

import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.utils.LogicalTypeChecks;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Where the parts of a feature vector sit in the sink's rows: entity key, event id, event time
 * and the feature columns (every other column, except the event log's {@code history-columns},
 * which are inputs, not features: {@link EventLogLayout}). Built and type-checked at planning time, so a
 * bad table definition fails before the job is submitted; the writer turns it into a {@link
 * VectorEncoder}.
 */
final class VectorLayout implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Hash fields the script writes itself; a feature of that name would be overwritten. */
    static final Set<String> RESERVED = Set.of("event_time", "event_id", "version");

    final String keyPrefix;
    final String version;
    final int keyIndex;
    final int eventIdIndex;
    final int eventTimeIndex;
    final String[] featureNames;
    final int[] featureIndexes;
    final LogicalType[] featureTypes;

    private VectorLayout(
            String keyPrefix,
            String version,
            int keyIndex,
            int eventIdIndex,
            int eventTimeIndex,
            String[] featureNames,
            int[] featureIndexes,
            LogicalType[] featureTypes) {
        this.keyPrefix = keyPrefix;
        this.version = version;
        this.keyIndex = keyIndex;
        this.eventIdIndex = eventIdIndex;
        this.eventTimeIndex = eventTimeIndex;
        this.featureNames = featureNames;
        this.featureIndexes = featureIndexes;
        this.featureTypes = featureTypes;
    }

    /**
     * Checks the columns against the online store's contract.
     *
     * @throws org.apache.flink.table.api.ValidationException naming the column and the rule
     */
    static VectorLayout of(
            RowType rowType,
            String view,
            int version,
            String keyColumn,
            String eventIdColumn,
            String eventTimeColumn,
            List<String> historyColumns) {
        List<String> names = rowType.getFieldNames();
        int keyIndex = column(names, "key-column", keyColumn);
        int eventIdIndex = column(names, "event-id-column", eventIdColumn);
        int eventTimeIndex = column(names, "event-time-column", eventTimeColumn);

        LogicalType keyType = rowType.getTypeAt(keyIndex);
        if (!keyType.is(LogicalTypeFamily.CHARACTER_STRING)) {
            throw OnlineStoreTableSinkFactory.invalid(
                    "key column '" + keyColumn + "' must be STRING, got " + keyType);
        }
        LogicalType eventIdType = rowType.getTypeAt(eventIdIndex);
        if (!eventIdType.is(LogicalTypeFamily.CHARACTER_STRING)) {
            // The script breaks ties by comparing ids as strings; a number would compare
            // lexicographically ("9" > "10"), so the cast is left to the query, visibly.
            throw OnlineStoreTableSinkFactory.invalid(
                    "event id column '" + eventIdColumn + "' must be STRING, got " + eventIdType);
        }
        LogicalType timeType = rowType.getTypeAt(eventTimeIndex);
        boolean timestamp =
                timeType.is(LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE)
                        || timeType.is(LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE);
        if (!timestamp || LogicalTypeChecks.getPrecision(timeType) != 3) {
            throw OnlineStoreTableSinkFactory.invalid(
                    "event time column '"
                            + eventTimeColumn
                            + "' must be TIMESTAMP(3) or TIMESTAMP_LTZ(3), got "
                            + timeType);
        }

        List<String> featureNames = new ArrayList<>();
        List<Integer> featureIndexes = new ArrayList<>();
        List<LogicalType> featureTypes = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            if (i == keyIndex
                    || i == eventIdIndex
                    || i == eventTimeIndex
                    || historyColumns.contains(name)) {
                continue;
            }
            if (RESERVED.contains(name)) {
                throw OnlineStoreTableSinkFactory.invalid(
                        "feature column '"
                                + name
                                + "' uses a reserved name (event_time, event_id, version are "
                                + "written by the store itself); rename it, or name it in "
                                + "'event-time-column' / 'event-id-column' if that is what it is");
            }
            LogicalType type = rowType.getTypeAt(i);
            if (VectorEncoder.fieldEncoder(type, 0) == null) {
                throw OnlineStoreTableSinkFactory.invalid(
                        "feature column '"
                                + name
                                + "' has unsupported type "
                                + type
                                + "; supported: STRING/CHAR/VARCHAR, BOOLEAN, TINYINT, SMALLINT, "
                                + "INT, BIGINT, FLOAT, DOUBLE, DECIMAL");
            }
            featureNames.add(name);
            featureIndexes.add(i);
            featureTypes.add(type);
        }
        return new VectorLayout(
                "fs:" + view + ":v" + version + ":",
                Integer.toString(version),
                keyIndex,
                eventIdIndex,
                eventTimeIndex,
                featureNames.toArray(new String[0]),
                featureIndexes.stream().mapToInt(Integer::intValue).toArray(),
                featureTypes.toArray(new LogicalType[0]));
    }

    static int column(List<String> names, String option, String column) {
        int index = names.indexOf(column);
        if (index < 0) {
            throw OnlineStoreTableSinkFactory.invalid(
                    "option '"
                            + option
                            + "' names column '"
                            + column
                            + "', which the table does not have; columns: "
                            + names);
        }
        return index;
    }

    @Override
    public String toString() {
        return keyPrefix + "<key> features=" + String.join(",", featureNames);
    }
}
