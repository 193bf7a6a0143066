package dev.featurestream.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.DataType;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** The sink encoder: what it writes decodes with Avro's own reader to the row it was given. */
class FeaturestreamAvroSerializationSchemaTest {

    static final String SCHEMA =
            "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                    + "{\"name\":\"id\",\"type\":\"string\"},"
                    + "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
                    + "{\"name\":\"n\",\"type\":[\"null\",\"long\"]},"
                    + "{\"name\":\"x\",\"type\":[\"double\",\"null\"]},"
                    + "{\"name\":\"v\",\"type\":\"int\"},"
                    + "{\"name\":\"raw\",\"type\":[\"null\",\"bytes\"]},"
                    + "{\"name\":\"ok\",\"type\":\"boolean\"},"
                    + "{\"name\":\"inner\",\"type\":{\"type\":\"record\",\"name\":\"I\",\"fields\":["
                    + "{\"name\":\"k\",\"type\":\"string\"},{\"name\":\"f\",\"type\":[\"null\",\"float\"]}]}}"
                    + "]}";

    static final DataType ROW =
            DataTypes.ROW(
                    DataTypes.FIELD("id", DataTypes.STRING().notNull()),
                    DataTypes.FIELD("t", DataTypes.TIMESTAMP(3).notNull()),
                    DataTypes.FIELD("n", DataTypes.BIGINT()),
                    DataTypes.FIELD("x", DataTypes.DOUBLE()),
                    DataTypes.FIELD("v", DataTypes.INT().notNull()),
                    DataTypes.FIELD("raw", DataTypes.BYTES()),
                    DataTypes.FIELD("ok", DataTypes.BOOLEAN().notNull()),
                    DataTypes.FIELD(
                            "inner",
                            DataTypes.ROW(
                                    DataTypes.FIELD("k", DataTypes.STRING().notNull()),
                                    DataTypes.FIELD("f", DataTypes.FLOAT()))));

    static FeaturestreamAvroSerializationSchema encoder(String schema, DataType type) {
        return new FeaturestreamAvroSerializationSchema(
                schema, "http://unused", null, "s-value", type.getLogicalType());
    }

    static GenericRecord decode(byte[] bytes, int expectedId) throws Exception {
        assertEquals(0, bytes[0]);
        assertEquals(expectedId, ByteBuffer.wrap(bytes, 1, 4).getInt());
        Schema schema = new Schema.Parser().parse(SCHEMA);
        var decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null);
        GenericRecord record = new GenericDatumReader<GenericRecord>(schema).read(null, decoder);
        assertTrue(decoder.isEnd(), "no trailing bytes");
        return record;
    }

    @Test
    void writesWhatAvroReadsBack() throws Exception {
        FeaturestreamAvroSerializationSchema encoder = encoder(SCHEMA, ROW);
        encoder.prepare(0x01020304);
        GenericRowData row =
                GenericRowData.of(
                        StringData.fromString("évt-1"),
                        TimestampData.fromEpochMillis(1_767_225_600_123L),
                        -42L,
                        null,
                        7,
                        new byte[] {0, 1, 2},
                        true,
                        GenericRowData.of(StringData.fromString("k"), 1.5f));
        GenericRecord got = decode(encoder.serialize(row), 0x01020304);
        assertEquals("évt-1", got.get("id").toString());
        assertEquals(1_767_225_600_123L, got.get("t"));
        assertEquals(-42L, got.get("n"));
        assertNull(got.get("x"));
        assertEquals(7, got.get("v"));
        assertArrayEquals(new byte[] {0, 1, 2}, ((ByteBuffer) got.get("raw")).array());
        assertEquals(true, got.get("ok"));
        GenericRecord inner = (GenericRecord) got.get("inner");
        assertEquals("k", inner.get("k").toString());
        assertEquals(1.5f, inner.get("f"));

        // The buffer is reused: a second, different row must not carry bytes of the first.
        row.setField(0, StringData.fromString("e2"));
        row.setField(2, null);
        row.setField(3, 2.25);
        row.setField(5, null);
        byte[] second = encoder.serialize(row);
        GenericRecord again = decode(second, 0x01020304);
        assertEquals("e2", again.get("id").toString());
        assertNull(again.get("n"));
        assertEquals(2.25, again.get("x"));
        assertNull(again.get("raw"));
        assertTrue(second.length < 40, Arrays.toString(second));
    }

    @Test
    void aNullInANonNullableFieldNamesTheField() {
        FeaturestreamAvroSerializationSchema encoder = encoder(SCHEMA, ROW);
        encoder.prepare(1);
        GenericRowData row =
                GenericRowData.of(
                        null, TimestampData.fromEpochMillis(0), null, null, 1, null, false,
                        GenericRowData.of(StringData.fromString("k"), null));
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> encoder.serialize(row));
        assertTrue(e.getMessage().contains("'id'"), e.getMessage());
    }

    @Test
    void refusesWhatItCannotWriteWhenPlanned() {
        DataType renamed =
                DataTypes.ROW(
                        DataTypes.FIELD("other", DataTypes.STRING()),
                        DataTypes.FIELD("t", DataTypes.TIMESTAMP(3)));
        String two =
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
                        + "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
        assertTrue(
                assertThrows(ValidationException.class, () -> encoder(two, renamed))
                        .getMessage()
                        .contains("'id' in the schema but 'other'"));
        DataType wrongType =
                DataTypes.ROW(
                        DataTypes.FIELD("id", DataTypes.BIGINT()),
                        DataTypes.FIELD("t", DataTypes.TIMESTAMP(3)));
        assertTrue(
                assertThrows(ValidationException.class, () -> encoder(two, wrongType))
                        .getMessage()
                        .contains("field 'id'"));
        String array =
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                        + "{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":\"long\"}}}]}";
        DataType arrays =
                DataTypes.ROW(
                        DataTypes.FIELD(
                                "a",
                                DataTypes.ARRAY(
                                        DataTypes.MAP(DataTypes.STRING(), DataTypes.BIGINT()))));
        assertTrue(
                assertThrows(ValidationException.class, () -> encoder(array, arrays))
                        .getMessage()
                        .contains("avro-confluent"));
    }

    @Test
    void writesArraysOfStrings() throws Exception {
        String schema =
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                        + "{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"b\",\"type\":\"int\"}]}";
        DataType type =
                DataTypes.ROW(
                        DataTypes.FIELD("a", DataTypes.ARRAY(DataTypes.STRING().notNull())),
                        DataTypes.FIELD("b", DataTypes.INT()));
        FeaturestreamAvroSerializationSchema encoder = encoder(schema, type);
        encoder.prepare(9);
        byte[] bytes =
                encoder.serialize(
                        GenericRowData.of(
                                new org.apache.flink.table.data.GenericArrayData(
                                        new Object[] {
                                            StringData.fromString("payment_card.v1"),
                                            StringData.fromString("payment_merchant.v1")
                                        }),
                                3));
        var decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null);
        GenericRecord got =
                new GenericDatumReader<GenericRecord>(new Schema.Parser().parse(schema))
                        .read(null, decoder);
        assertEquals("[payment_card.v1, payment_merchant.v1]", got.get("a").toString());
        assertEquals(3, got.get("b"));
    }

    @Test
    void registersTheTextTheDriverRegisters() {
        String pretty = "{\n  \"type\": \"record\", \"name\": \"R\",\n  \"fields\": []\n}";
        assertEquals(
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
                FeaturestreamAvroSerializationSchema.registeredText(pretty));
    }
}
