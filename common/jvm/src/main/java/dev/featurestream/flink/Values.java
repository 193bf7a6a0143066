package dev.featurestream.flink;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Tagged binary encoding of the plain values the window function keeps in state (BIGINT family,
 * DOUBLE/FLOAT, STRING, BOOLEAN, null), plus the comparisons and conversions it needs.
 *
 * <p>Hand-rolled because state must not depend on the view's column types being known at
 * restore time, and a few bytes per value keep the history small.
 */
final class Values {
    static final byte NULL = 0;
    static final byte LONG = 1;
    static final byte DOUBLE = 2;
    static final byte STRING = 3;
    static final byte BOOLEAN = 4;

    private Values() {}

    /** The canonical form: Long for integer types, Double for floating types. */
    static Object canonical(Object v) {
        if (v == null || v instanceof Long || v instanceof Double || v instanceof String
                || v instanceof Boolean) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float) {
            return ((Float) v).doubleValue();
        }
        throw new IllegalArgumentException(
                "unsupported value type " + v.getClass().getName()
                        + " (window function inputs are BIGINT, INT, DOUBLE, STRING or BOOLEAN)");
    }

    static void write(DataOutput out, Object v) throws IOException {
        if (v == null) {
            out.writeByte(NULL);
        } else if (v instanceof Long) {
            out.writeByte(LONG);
            out.writeLong((Long) v);
        } else if (v instanceof Double) {
            out.writeByte(DOUBLE);
            out.writeDouble((Double) v);
        } else if (v instanceof String) {
            byte[] bytes = ((String) v).getBytes(StandardCharsets.UTF_8);
            out.writeByte(STRING);
            out.writeInt(bytes.length);
            out.write(bytes);
        } else if (v instanceof Boolean) {
            out.writeByte(BOOLEAN);
            out.writeBoolean((Boolean) v);
        } else {
            write(out, canonical(v));
        }
    }

    static Object read(DataInput in) throws IOException {
        byte tag = in.readByte();
        switch (tag) {
            case NULL:
                return null;
            case LONG:
                return in.readLong();
            case DOUBLE:
                return in.readDouble();
            case STRING:
                byte[] bytes = new byte[in.readInt()];
                in.readFully(bytes);
                return new String(bytes, StandardCharsets.UTF_8);
            case BOOLEAN:
                return in.readBoolean();
            default:
                throw new IOException("corrupt window state: value tag " + tag);
        }
    }

    static void writeString(DataOutput out, String s) throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    static String readString(DataInput in) throws IOException {
        byte[] bytes = new byte[in.readInt()];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** Orders two non-null canonical values of one column. */
    @SuppressWarnings("unchecked")
    static int compare(Object a, Object b) {
        return ((Comparable<Object>) a).compareTo(b);
    }

    static double asDouble(Object v) {
        return ((Number) v).doubleValue();
    }
}
