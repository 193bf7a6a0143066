package dev.featurestream.flink;

/**
 * The plain values the window function keeps in state (BIGINT family, DOUBLE/FLOAT, STRING,
 * BOOLEAN, null): their tags in the state encoding ({@link StateBytes}), the comparisons and
 * conversions it needs.
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

    /** Orders two non-null canonical values of one column. */
    @SuppressWarnings("unchecked")
    static int compare(Object a, Object b) {
        return ((Comparable<Object>) a).compareTo(b);
    }

    static double asDouble(Object v) {
        return ((Number) v).doubleValue();
    }
}
