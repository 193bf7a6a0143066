package dev.featurestream.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.charset.StandardCharsets;

/** The state codec: round trips, and the byte layout v1's DataOutputStream wrote. */
class StateBytesTest {
    static final long[] LONGS = {
        0, 1, -1, 127, 128, 16_383, 16_384, Integer.MAX_VALUE, Long.MAX_VALUE, Long.MIN_VALUE,
        1_767_225_600_000L
    };

    @Test
    void numbersRoundTrip() {
        StateBytes.Writer out = new StateBytes.Writer(1);
        for (long v : LONGS) {
            out.putLong(v).putZigZag(v).putDouble(v / 3.0).putInt((int) v);
            if (v >= 0) {
                out.putVarLong(v);
            }
        }
        StateBytes.Reader in = new StateBytes.Reader(out.toArray());
        for (long v : LONGS) {
            assertEquals(v, in.getLong());
            assertEquals(v, in.getZigZag());
            assertEquals(v / 3.0, in.getDouble());
            assertEquals((int) v, in.getInt());
            if (v >= 0) {
                assertEquals(v, in.getVarLong());
            }
        }
        assertTrue(in.atEnd());
    }

    @Test
    void smallVarintsTakeOneByte() {
        assertEquals(1, new StateBytes.Writer(1).putVarLong(127).toArray().length);
        assertEquals(2, new StateBytes.Writer(1).putVarLong(128).toArray().length);
        assertEquals(1, new StateBytes.Writer(1).putZigZag(-64).toArray().length);
    }

    @Test
    void valuesHaveTheBytesOfTheV1Encoding() throws Exception {
        Object[] values = {null, 42L, -7L, 3.25, "café", true, false};
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream v1 = new DataOutputStream(bytes);
        StateBytes.Writer v2 = new StateBytes.Writer(4);
        for (Object v : values) {
            v2.putValue(v);
            if (v == null) {
                v1.writeByte(Values.NULL);
            } else if (v instanceof Long l) {
                v1.writeByte(Values.LONG);
                v1.writeLong(l);
            } else if (v instanceof Double d) {
                v1.writeByte(Values.DOUBLE);
                v1.writeDouble(d);
            } else if (v instanceof String s) {
                byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
                v1.writeByte(Values.STRING);
                v1.writeInt(utf8.length);
                v1.write(utf8);
            } else {
                v1.writeByte(Values.BOOLEAN);
                v1.writeBoolean((Boolean) v);
            }
        }
        assertArrayEquals(bytes.toByteArray(), v2.toArray());
        StateBytes.Reader in = new StateBytes.Reader(v2.toArray());
        for (Object v : values) {
            assertEquals(v, in.getValue());
        }
        assertEquals(7L, new StateBytes.Reader(new StateBytes.Writer(1).putValue(7).toArray())
                .getValue(), "integers are stored as BIGINT");
    }
}
