package dev.featurestream.flink.onlinestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.CatalogTable;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ObjectIdentifier;
import org.apache.flink.table.catalog.ResolvedCatalogTable;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.FactoryUtil;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Planning-time checks of the sink's options, the event log's in particular. */
class OnlineStoreTableSinkFactoryTest {

    static final List<Column> COLUMNS =
            List.of(
                    Column.physical("card_id", DataTypes.STRING()),
                    Column.physical("payment_id", DataTypes.STRING()),
                    Column.physical("event_time", DataTypes.TIMESTAMP(3)),
                    Column.physical("count_1h", DataTypes.BIGINT()),
                    Column.physical("in_0", DataTypes.BIGINT()),
                    Column.physical("in_1", DataTypes.STRING()),
                    Column.physical("amount", DataTypes.DECIMAL(12, 2)));

    static Map<String, String> options(String... extra) {
        Map<String, String> options = new HashMap<>();
        options.put("connector", OnlineStoreTableSinkFactory.IDENTIFIER);
        options.put("url", "redis://127.0.0.1:6379");
        options.put("view", "pay");
        options.put("version", "1");
        options.put("key-column", "card_id");
        options.put("event-id-column", "payment_id");
        options.put("event-time-column", "event_time");
        for (int i = 0; i < extra.length; i += 2) {
            options.put(extra[i], extra[i + 1]);
        }
        return options;
    }

    static DynamicTableSink create(Map<String, String> options) {
        ResolvedSchema schema = ResolvedSchema.of(COLUMNS);
        Schema.Builder unresolved = Schema.newBuilder();
        for (Column c : COLUMNS) {
            unresolved.column(c.getName(), c.getDataType());
        }
        CatalogTable table =
                CatalogTable.newBuilder().schema(unresolved.build()).options(options).build();
        FactoryUtil.DefaultDynamicTableContext context =
                new FactoryUtil.DefaultDynamicTableContext(
                        ObjectIdentifier.of("c", "d", "online"),
                        new ResolvedCatalogTable(table, schema),
                        Map.of(),
                        new Configuration(),
                        OnlineStoreTableSinkFactoryTest.class.getClassLoader(),
                        false);
        return new OnlineStoreTableSinkFactory().createDynamicTableSink(context);
    }

    static void assertInvalid(String message, String... extra) {
        ValidationException e =
                assertThrows(ValidationException.class, () -> create(options(extra)));
        assertTrue(
                e.getMessage().contains(message),
                "expected '" + message + "' in: " + e.getMessage());
    }

    @Test
    void historyColumnsTurnTheEventLogOn() {
        String summary =
                create(
                                options(
                                        "history-columns", " in_0 , in_1",
                                        "history-keep", "24 h",
                                        "history-ttl", "25 h"))
                        .asSummaryString();
        // The history columns are inputs: not in the vector.
        assertTrue(summary.contains("features=count_1h,amount,"), summary);
        assertTrue(summary.contains("fse:pay:v1:<key> history=in_0,in_1"), summary);
        assertTrue(summary.contains("history-keep=86400000 ms, history-ttl=90000000 ms"), summary);
    }

    @Test
    void withoutHistoryColumnsThereIsNoEventLog() {
        String summary = create(options()).asSummaryString();
        assertTrue(summary.contains("features=count_1h,in_0,in_1,amount,"), summary);
        assertFalse(summary.contains("history"), summary);
    }

    @Test
    void historyKeepIsRequiredAndPositive() {
        assertInvalid(
                "option 'history-keep' is required when 'history-columns' is set",
                "history-columns", "in_0");
        assertInvalid(
                "option 'history-keep' must be > 0", "history-columns", "in_0", "history-keep", "0 ms");
        // Flink's duration parser refuses a negative one itself.
        assertInvalid(
                "Invalid value for option 'history-ttl'",
                "history-columns", "in_0", "history-keep", "1 h", "history-ttl", "-1 ms");
    }

    @Test
    void historyOptionsNeedHistoryColumns() {
        assertInvalid("option 'history-keep' needs 'history-columns'", "history-keep", "1 h");
        assertInvalid("option 'history-ttl' needs 'history-columns'", "history-ttl", "1 h");
    }

    @Test
    void historyColumnsMustBeInputColumnsOfSupportedTypes() {
        assertInvalid(
                "option 'history-columns' names column 'in_9', which the table does not have",
                "history-columns", "in_0,in_9", "history-keep", "1 h");
        assertInvalid(
                "option 'history-columns' must not name the key, event id or event time column, "
                        + "got 'payment_id'",
                "history-columns", "in_0,payment_id", "history-keep", "1 h");
        assertInvalid(
                "option 'history-columns' must not name the key, event id or event time column",
                "history-columns", "event_time", "history-keep", "1 h");
        assertInvalid(
                "option 'history-columns': column 'amount' has unsupported type DECIMAL(12, 2)",
                "history-columns", "amount", "history-keep", "1 h");
        assertInvalid(
                "option 'history-columns' names column 'in_0' twice",
                "history-columns", "in_0,in_0", "history-keep", "1 h");
        assertInvalid(
                "option 'history-columns' must be column names separated by commas",
                "history-columns", "in_0,,in_1", "history-keep", "1 h");
    }

    @Test
    void historyTileTurnsTilesOn() {
        String summary =
                create(
                                options(
                                        "history-columns", "in_0,in_1",
                                        "history-keep", "61 min",
                                        "history-ttl", "25 h",
                                        "history-tile", "1 min",
                                        "history-parts", "nslhwd,nd"))
                        .asSummaryString();
        assertTrue(summary.contains("features=count_1h,amount,"), summary);
        assertTrue(summary.contains("fst:pay:v1:<key> history=in_0,in_1 parts=nslhwd,nd"), summary);
        assertTrue(
                summary.contains(
                        "history-keep=3660000 ms, history-ttl=90000000 ms, history-tile=60000 ms"),
                summary);
        assertFalse(summary.contains("fse:"), summary);
    }

    @Test
    void historyPartsMayBeEmpty() {
        // One entry per column, an empty one included: count(*) needs no part of the column.
        String summary =
                create(
                                options(
                                        "history-columns", "in_0,in_1",
                                        "history-keep", "1 h",
                                        "history-tile", "1 min",
                                        "history-parts", ",d"))
                        .asSummaryString();
        assertTrue(summary.contains("history=in_0,in_1 parts=,d"), summary);
        summary =
                create(
                                options(
                                        "history-columns", "in_0",
                                        "history-keep", "1 h",
                                        "history-tile", "1 min",
                                        "history-parts", ""))
                        .asSummaryString();
        assertTrue(summary.contains("fst:pay:v1:<key> history=in_0 parts="), summary);
    }

    @Test
    void aZeroTileIsTheEventLog() {
        String summary =
                create(
                                options(
                                        "history-columns", "in_0",
                                        "history-keep", "1 h",
                                        "history-tile", "0 ms"))
                        .asSummaryString();
        assertTrue(summary.contains("fse:pay:v1:<key> history=in_0,"), summary);
        assertFalse(summary.contains("history-tile"), summary);
    }

    @Test
    void historyTileAndPartsGoTogether() {
        assertInvalid(
                "option 'history-parts' is required when 'history-tile' is set",
                "history-columns", "in_0", "history-keep", "1 h", "history-tile", "1 min");
        assertInvalid(
                "option 'history-parts' needs 'history-tile' > 0",
                "history-columns", "in_0", "history-keep", "1 h", "history-parts", "ns");
        assertInvalid(
                "option 'history-parts' needs 'history-tile' > 0",
                "history-columns", "in_0", "history-keep", "1 h", "history-tile", "0 s",
                "history-parts", "ns");
        assertInvalid("option 'history-tile' needs 'history-columns'", "history-tile", "1 min");
        assertInvalid("option 'history-parts' needs 'history-columns'", "history-parts", "ns");
    }

    @Test
    void historyTileIsWholeMillisecondsAndNotNegative() {
        // Flink's duration parser refuses a negative one itself.
        assertInvalid(
                "Invalid value for option 'history-tile'",
                "history-columns", "in_0", "history-keep", "1 h", "history-tile", "-1 min",
                "history-parts", "n");
        assertInvalid(
                "option 'history-tile' must be a whole number of milliseconds, got PT0.0015S",
                "history-columns", "in_0", "history-keep", "1 h", "history-tile", "1500 micro",
                "history-parts", "n");
    }

    @Test
    void historyPartsHaveOneEntryPerColumn() {
        assertInvalid(
                "option 'history-parts' must have one comma-separated entry per column of "
                        + "'history-columns' (2: in_0,in_1), got 1 in 'ns'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "ns");
        assertInvalid(
                "(2: in_0,in_1), got 3 in 'ns,d,'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "ns,d,");
    }

    @Test
    void historyPartsAreCanonicalLetters() {
        assertInvalid(
                "option 'history-parts': entry 'nx' of column 'in_0' has 'x'; parts are letters "
                        + "of 'nslhwd'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "nx,d");
        // Not trimmed (the script gets the option as given): a space is not a part.
        assertInvalid(
                "option 'history-parts': entry ' d' of column 'in_1' has ' '",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "ns, d");
        assertInvalid(
                "option 'history-parts': entry 'N' of column 'in_0' has 'N'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "N,d");
        assertInvalid(
                "option 'history-parts': entry 'sn' of column 'in_0' must have its letters in "
                        + "the order 'nslhwd', each at most once",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "sn,d");
        assertInvalid(
                "option 'history-parts': entry 'nss' of column 'in_0' must have its letters in "
                        + "the order 'nslhwd', each at most once",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "nss,d");
        assertInvalid(
                "option 'history-parts': entry 'sw' of column 'in_0' has 'w' without 'n'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "sw,d");
    }

    @Test
    void numericPartsNeedANumericColumn() {
        assertInvalid(
                "option 'history-parts': column 'in_1' has type STRING, which cannot have part "
                        + "'s'",
                "history-columns", "in_0,in_1", "history-keep", "1 h", "history-tile", "1 min",
                "history-parts", "ns,ns");
        for (String part : List.of("l", "h", "nw")) {
            assertInvalid(
                    "column 'in_1' has type STRING, which cannot have part '"
                            + part.charAt(part.length() - 1)
                            + "'",
                    "history-columns", "in_0,in_1", "history-keep", "1 h",
                    "history-tile", "1 min", "history-parts", "n," + part);
        }
    }

    @Test
    void allScriptsArePackaged() {
        for (StoreScript script : StoreScript.values()) {
            assertFalse(OnlineStoreTableSinkFactory.loadScript(script).isBlank(), script.name());
        }
        assertTrue(
                OnlineStoreTableSinkFactory.loadScript(StoreScript.EVENT_LOG)
                        .contains("ZREMRANGEBYRANK"));
        assertTrue(
                OnlineStoreTableSinkFactory.loadScript(StoreScript.EVENT_TILES)
                        .contains("'@t'"));
    }
}
