package dev.featurestream.flink;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The window function's state encoding: a growable big-endian byte writer and a reader over a
 * byte array, with varints and {@link Values}' tagged values. Whole words go in one access
 * (VarHandle) rather than a byte at a time through streams; the byte layout of fixed-width fields
 * and tagged values is the one {@code DataOutputStream} wrote, so pending groups and history
 * entries written by earlier releases read back unchanged.
 */
final class StateBytes {
    private static final VarHandle LONG =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle INT =
            MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);

    private StateBytes() {}

    /** Appends to a growable array. */
    static final class Writer {
        private byte[] buf;
        private int pos;

        Writer(int capacity) {
            buf = new byte[Math.max(16, capacity)];
        }

        private void room(int n) {
            if (pos + n > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + n));
            }
        }

        int position() {
            return pos;
        }

        Writer putByte(int b) {
            room(1);
            buf[pos++] = (byte) b;
            return this;
        }

        Writer putInt(int v) {
            room(4);
            INT.set(buf, pos, v);
            pos += 4;
            return this;
        }

        Writer putLong(long v) {
            room(8);
            LONG.set(buf, pos, v);
            pos += 8;
            return this;
        }

        Writer putDouble(double v) {
            return putLong(Double.doubleToRawLongBits(v));
        }

        /** An unsigned LEB128 varint (1 byte below 128). */
        Writer putVarLong(long v) {
            room(10);
            while ((v & ~0x7FL) != 0) {
                buf[pos++] = (byte) ((v & 0x7F) | 0x80);
                v >>>= 7;
            }
            buf[pos++] = (byte) v;
            return this;
        }

        /** A signed varint (zigzag): small magnitudes of either sign stay short. */
        Writer putZigZag(long v) {
            return putVarLong((v << 1) ^ (v >> 63));
        }

        Writer putBytes(byte[] b, int off, int len) {
            room(len);
            System.arraycopy(b, off, buf, pos, len);
            pos += len;
            return this;
        }

        Writer putBytes(byte[] b) {
            return putBytes(b, 0, b.length);
        }

        /** A list of byte arrays: the count, then each array's length and bytes (varints). */
        Writer putByteArrays(List<byte[]> arrays) {
            putVarLong(arrays.size());
            for (byte[] a : arrays) {
                putVarLong(a.length).putBytes(a);
            }
            return this;
        }

        /** A string as its UTF-8 length (4 bytes) and bytes. */
        Writer putString(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            putInt(bytes.length);
            return putBytes(bytes);
        }

        /** A canonical value with its {@link Values} tag. */
        Writer putValue(Object v) {
            if (v == null) {
                putByte(Values.NULL);
            } else if (v instanceof Long) {
                putByte(Values.LONG).putLong((Long) v);
            } else if (v instanceof Double) {
                putByte(Values.DOUBLE).putDouble((Double) v);
            } else if (v instanceof String) {
                putByte(Values.STRING).putString((String) v);
            } else if (v instanceof Boolean) {
                putByte(Values.BOOLEAN).putByte((Boolean) v ? 1 : 0);
            } else {
                putValue(Values.canonical(v));
            }
            return this;
        }

        byte[] toArray() {
            return Arrays.copyOf(buf, pos);
        }
    }

    /** Reads from an array, from an offset on. */
    static final class Reader {
        private final byte[] buf;
        private int pos;

        Reader(byte[] buf, int offset) {
            this.buf = buf;
            this.pos = offset;
        }

        Reader(byte[] buf) {
            this(buf, 0);
        }

        int position() {
            return pos;
        }

        boolean atEnd() {
            return pos >= buf.length;
        }

        byte getByte() {
            return buf[pos++];
        }

        int getInt() {
            int v = (int) INT.get(buf, pos);
            pos += 4;
            return v;
        }

        long getLong() {
            long v = (long) LONG.get(buf, pos);
            pos += 8;
            return v;
        }

        double getDouble() {
            return Double.longBitsToDouble(getLong());
        }

        long getVarLong() {
            long v = 0;
            int shift = 0;
            while (true) {
                byte b = buf[pos++];
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return v;
                }
                shift += 7;
            }
        }

        long getZigZag() {
            long v = getVarLong();
            return (v >>> 1) ^ -(v & 1);
        }

        byte[] getBytes(int len) {
            byte[] b = Arrays.copyOfRange(buf, pos, pos + len);
            pos += len;
            return b;
        }

        /** What {@link Writer#putByteArrays} wrote. */
        byte[][] getByteArrays() {
            byte[][] arrays = new byte[(int) getVarLong()][];
            for (int i = 0; i < arrays.length; i++) {
                arrays[i] = getBytes((int) getVarLong());
            }
            return arrays;
        }

        void skip(int n) {
            pos += n;
        }

        String getString() {
            int len = getInt();
            String s = new String(buf, pos, len, StandardCharsets.UTF_8);
            pos += len;
            return s;
        }

        Object getValue() {
            byte tag = buf[pos++];
            switch (tag) {
                case Values.NULL:
                    return null;
                case Values.LONG:
                    return getLong();
                case Values.DOUBLE:
                    return getDouble();
                case Values.STRING:
                    return getString();
                case Values.BOOLEAN:
                    return buf[pos++] != 0;
                default:
                    throw new IllegalStateException("corrupt window state: value tag " + tag);
            }
        }
    }

    /** About what {@link Writer#putByteArrays} writes for {@code arrays} (a capacity hint). */
    static int sizeOf(List<byte[]> arrays) {
        int n = 2;
        for (byte[] a : arrays) {
            n += a.length + 2;
        }
        return n;
    }

    /** The big-endian long at {@code offset}. */
    static long longAt(byte[] data, int offset) {
        return (long) LONG.get(data, offset);
    }

    /** A copy of {@code data} with the long at {@code offset} replaced. */
    static byte[] withLongAt(byte[] data, int offset, long v) {
        byte[] copy = data.clone();
        LONG.set(copy, offset, v);
        return copy;
    }
}
