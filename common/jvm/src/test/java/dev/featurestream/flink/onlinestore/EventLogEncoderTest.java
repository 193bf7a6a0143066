package dev.featurestream.flink.onlinestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.RowType;
import org.junit.jupiter.api.Test;

import java.util.List;

/**
 * The event log's members: the exact text readers in Go and Python parse, for every supported
 * type, and the same text for the same event every time (replays are no-ops only then).
 */
class EventLogEncoderTest {
    static final long T = 1_767_225_600_123L; // 2026-01-01T00:00:00.123Z

    static final RowType ROW =
            (RowType)
                    DataTypes.ROW(
                                    DataTypes.FIELD("card_id", DataTypes.STRING()),
                                    DataTypes.FIELD("payment_id", DataTypes.STRING()),
                                    DataTypes.FIELD("event_time", DataTypes.TIMESTAMP(3)),
                                    DataTypes.FIELD("count_1h", DataTypes.BIGINT()),
                                    DataTypes.FIELD("big", DataTypes.BIGINT()),
                                    DataTypes.FIELD("int", DataTypes.INT()),
                                    DataTypes.FIELD("small", DataTypes.SMALLINT()),
                                    DataTypes.FIELD("tiny", DataTypes.TINYINT()),
                                    DataTypes.FIELD("dbl", DataTypes.DOUBLE()),
                                    DataTypes.FIELD("flt", DataTypes.FLOAT()),
                                    DataTypes.FIELD("str", DataTypes.STRING()),
                                    DataTypes.FIELD("chr", DataTypes.CHAR(2)),
                                    DataTypes.FIELD("flag", DataTypes.BOOLEAN()))
                            .getLogicalType();

    static final List<String> HISTORY =
            List.of("big", "int", "small", "tiny", "dbl", "flt", "str", "chr", "flag");

    static EventLogEncoder encoder() {
        VectorLayout vector =
                VectorLayout.of(ROW, "pay", 2, "card_id", "payment_id", "event_time", HISTORY);
        return new EventLogEncoder(
                EventLogLayout.of(ROW, "pay", 2, vector, HISTORY, null), 3_600_000, 0, 0);
    }

    /** Parts for HISTORY: numbers take any part, strings count and distinct, the flag nothing. */
    static final String PARTS = "nslhwd,ns,nl,nh,nw,d,nd,n,";

    static EventLogEncoder tiledEncoder() {
        VectorLayout vector =
                VectorLayout.of(ROW, "pay", 2, "card_id", "payment_id", "event_time", HISTORY);
        return new EventLogEncoder(
                EventLogLayout.of(ROW, "pay", 2, vector, HISTORY, PARTS),
                3_660_000,
                90_000_000,
                60_000);
    }

    static GenericRowData row(String id, Object... history) {
        GenericRowData row = new GenericRowData(4 + history.length);
        row.setField(0, StringData.fromString("card-1"));
        row.setField(1, id == null ? null : StringData.fromString(id));
        row.setField(2, TimestampData.fromEpochMillis(T));
        row.setField(3, 7L);
        for (int i = 0; i < history.length; i++) {
            Object v = history[i];
            row.setField(4 + i, v instanceof String s ? StringData.fromString(s) : v);
        }
        return row;
    }

    static GenericRowData sample() {
        return row(
                "pay-000017", 1250L, -3, (short) 7, (byte) -1, 12.5, 0.1f, "mer_042", "US", true);
    }

    @Test
    void everyTypeIsWrittenAsItsJsonValue() {
        assertEquals(
                "[\"pay-000017\",1250,-3,7,-1,12.5,0.10000000149011612,\"mer_042\",\"US\",true]",
                encoder().member(sample()));
        assertEquals(
                "[\"p\",-9223372036854775808,2147483647,-32768,127,-3.0E-5,1.0E10,\"\",\"  \","
                        + "false]",
                encoder()
                        .member(
                                row(
                                        "p", Long.MIN_VALUE, Integer.MAX_VALUE, Short.MIN_VALUE,
                                        Byte.MAX_VALUE, -3.0E-5, 1.0E10f, "", "  ", false)));
    }

    @Test
    void nullsAreJsonNull() {
        assertEquals(
                "[\"p\",null,null,null,null,null,null,null,null,null]",
                encoder().member(row("p", null, null, null, null, null, null, null, null, null)));
    }

    @Test
    void nonFiniteNumbersAreStrings() {
        assertEquals(
                "[\"p\",0,0,0,0,\"NaN\",\"Infinity\",\"-Infinity\",\"x\",true]",
                encoder()
                        .member(
                                row(
                                        "p", 0L, 0, (short) 0, (byte) 0, Double.NaN,
                                        Float.POSITIVE_INFINITY, "-Infinity", "x", true)));
        assertEquals(
                "[\"p\",0,0,0,0,\"-Infinity\",\"NaN\",\"x\",\"x\",true]",
                encoder()
                        .member(
                                row(
                                        "p", 0L, 0, (short) 0, (byte) 0, Double.NEGATIVE_INFINITY,
                                        Float.NaN, "x", "x", true)));
    }

    @Test
    void stringsAreEscapedAndParseBack() throws Exception {
        String nasty = "q\"uote \\ back\nnl\ttab\r\b\f\u0001\u001f del\u007f ünï ✓ 😀 '";
        String member =
                encoder()
                        .member(
                                row(
                                        "id \"1\"\\", 1L, 1, (short) 1, (byte) 1, 1.0, 1.0f, nasty,
                                        "é", true));
        assertEquals(
                "[\"id \\\"1\\\"\\\\\",1,1,1,1,1.0,1.0,"
                        + "\"q\\\"uote \\\\ back\\nnl\\ttab\\r\\b\\f\\u0001\\u001f del\u007f ünï ✓ 😀 '\","
                        + "\"é\",true]",
                member);
        JsonNode parsed = new ObjectMapper().readTree(member);
        assertEquals("id \"1\"\\", parsed.get(0).asText());
        assertEquals(nasty, parsed.get(7).asText());
    }

    @Test
    void membersParseBackToTheSameValues() throws Exception {
        JsonNode parsed = new ObjectMapper().readTree(encoder().member(sample()));
        assertEquals(10, parsed.size());
        assertEquals(1250L, parsed.get(1).asLong());
        assertEquals(12.5, parsed.get(5).asDouble());
        assertEquals((double) 0.1f, parsed.get(6).asDouble(), 0.0, "the float's exact value");
        assertEquals(-3.0E-5, new ObjectMapper().readTree("[-3.0E-5]").get(0).asDouble());
    }

    @Test
    void theSameEventGivesTheSameCallEveryTime() {
        ScriptCall first = encoder().encode(sample());
        ScriptCall again = encoder().encode(sample());
        assertEquals(first, again);
        assertEquals(StoreScript.EVENT_LOG, first.script());
        assertEquals("fse:pay:v2:card-1", first.key());
        assertEquals(List.of(Long.toString(T), encoder().member(sample()), "3600000", "0"), first.args());
    }

    @Test
    void tilesGetTheLogsMemberWithTheTileAndParts() {
        ScriptCall call = tiledEncoder().encode(sample());
        assertEquals(StoreScript.EVENT_TILES, call.script());
        assertEquals("fst:pay:v2:card-1", call.key());
        assertEquals(
                List.of(
                        Long.toString(T),
                        encoder().member(sample()),
                        "3660000",
                        "90000000",
                        "60000",
                        PARTS),
                call.args());
        assertEquals(call, tiledEncoder().encode(sample()));
        assertNull(
                tiledEncoder()
                        .encode(row(null, 1L, 1, (short) 1, (byte) 1, 1.0, 1.0f, "", "", true)));
    }

    @Test
    void theTileMustMatchTheLayout() {
        VectorLayout vector =
                VectorLayout.of(ROW, "pay", 2, "card_id", "payment_id", "event_time", HISTORY);
        EventLogLayout log = EventLogLayout.of(ROW, "pay", 2, vector, HISTORY, null);
        EventLogLayout tiles = EventLogLayout.of(ROW, "pay", 2, vector, HISTORY, PARTS);
        assertThrows(IllegalArgumentException.class, () -> new EventLogEncoder(log, 1, 0, 60_000));
        assertThrows(IllegalArgumentException.class, () -> new EventLogEncoder(tiles, 1, 0, 0));
    }

    @Test
    void rowsWithoutKeyIdOrTimeAreNotLogged() {
        assertNull(encoder().encode(row(null, 1L, 1, (short) 1, (byte) 1, 1.0, 1.0f, "", "", true)));
        GenericRowData noKey = sample();
        noKey.setField(0, null);
        assertNull(encoder().encode(noKey));
        GenericRowData noTime = sample();
        noTime.setField(2, null);
        assertNull(encoder().encode(noTime));
    }

    @Test
    void historyColumnsAreNotFeatures() {
        VectorLayout vector =
                VectorLayout.of(ROW, "pay", 2, "card_id", "payment_id", "event_time", HISTORY);
        assertEquals(List.of("count_1h"), List.of(vector.featureNames));
        ScriptCall call = new VectorEncoder(vector, 0).encode(sample());
        assertEquals(StoreScript.VECTOR, call.script());
        assertEquals("fs:pay:v2:card-1", call.key());
        assertEquals(List.of(Long.toString(T), "pay-000017", "2", "0", "count_1h", "7"), call.args());
    }
}
