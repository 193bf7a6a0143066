package dev.featurestream.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.UserCodeClassLoader;
import org.junit.jupiter.api.Test;

/** The source decoder's metrics: every value read counts, whether it decodes or not. */
class FeaturestreamAvroDeserializationSchemaTest {

    static final String SCHEMA =
            "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}";

    @Test
    void everyValueReadIsCountedAndTombstonesAreNot() {
        FeaturestreamAvroDeserializationSchema decoder =
                new FeaturestreamAvroDeserializationSchema(
                        SCHEMA,
                        "http://unused",
                        null,
                        DataTypes.ROW(
                                        DataTypes.FIELD("id", DataTypes.STRING()),
                                        DataTypes.FIELD(
                                                FeaturestreamAvroDeserializationSchema.DECODE_ERROR,
                                                DataTypes.STRING()))
                                .getLogicalType(),
                        null);
        RecordingMetricGroup metrics = new RecordingMetricGroup();
        decoder.open(
                new DeserializationSchema.InitializationContext() {
                    @Override
                    public MetricGroup getMetricGroup() {
                        return metrics;
                    }

                    @Override
                    public UserCodeClassLoader getUserCodeClassLoader() {
                        throw new UnsupportedOperationException();
                    }
                });
        // Undecodable values (no registry needed to tell) still count: they become dead letters.
        RowData bad = decoder.deserialize(new byte[] {7, 1, 2});
        assertEquals(ConfluentAvro.WRONG_MAGIC_BYTE, bad.getString(1).toString());
        decoder.deserialize(new byte[] {0, 1});
        assertNull(decoder.deserialize(null));
        assertEquals(2, metrics.counters.get("recordsRead").getCount());
    }
}
