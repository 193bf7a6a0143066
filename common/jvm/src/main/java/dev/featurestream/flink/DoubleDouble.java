package dev.featurestream.flink;

/**
 * A running sum in double-double precision (about 32 significant digits).
 *
 * <p>Sliding windows subtract what leaves the window; in plain doubles the rounding error of a
 * large value that came and went would stay in the sum forever. With the extra word the error of
 * a window sum stays far below the 1e-9 relative tolerance the feature contract allows.
 */
final class DoubleDouble {
    double hi;
    double lo;

    void add(double x) {
        double s = hi + x;
        double bp = s - hi;
        double err = (hi - (s - bp)) + (x - bp);
        double t = s + (lo + err);
        lo = (lo + err) - (t - s);
        hi = t;
    }

    /** Adds {@code x * x} exactly (the product's rounding error goes to the low word). */
    void addSquare(double x, double sign) {
        double p = x * x;
        double e = Math.fma(x, x, -p);
        add(sign * p);
        add(sign * e);
    }

    double value() {
        return hi + lo;
    }

    boolean isZero() {
        return hi == 0.0 && lo == 0.0;
    }

    /**
     * Population variance from the sums of values and of squares over {@code n} values:
     * {@code (sumSq - sum^2 / n) / n}, the subtraction done in double-double so that a small
     * variance of large values (prices) does not cancel away.
     */
    static double variance(DoubleDouble sum, DoubleDouble sumSq, long n) {
        if (n <= 0) {
            return Double.NaN;
        }
        // sum^2 as a double-double: hi*hi exactly (fma) plus the cross term.
        double p = sum.hi * sum.hi;
        double pe = Math.fma(sum.hi, sum.hi, -p) + 2.0 * sum.hi * sum.lo;
        // divide (p, pe) by n
        double q1 = p / n;
        double r = Math.fma(-q1, n, p) + pe;
        double q2 = r / n;
        // sumSq - (q1, q2)
        DoubleDouble diff = new DoubleDouble();
        diff.hi = sumSq.hi;
        diff.lo = sumSq.lo;
        diff.add(-q1);
        diff.add(-q2);
        double var = diff.value() / n;
        return var < 0 ? 0.0 : var;
    }
}
