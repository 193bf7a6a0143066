package fsexp;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import java.util.Arrays;
import java.util.HashSet;

/**
 * Hard-coded multi-window features in ONE pass, exact OVER(RANGE ... CURRENT ROW) semantics:
 * rows are buffered per (key, timestamp) until the watermark passes their timestamp, then the
 * whole peer group is folded into the history and emitted (results independent of arrival order).
 *
 * <p>Input columns expected: id BIGINT, amount DOUBLE, cat STRING (+ partition key, + time attr).
 */
@DataTypeHint(
        "ROW<id BIGINT, amount DOUBLE, cat STRING, cnt_10m BIGINT, cnt_1h BIGINT, cnt_24h BIGINT,"
                + " sum_1h DOUBLE, sum_24h DOUBLE, max_24h DOUBLE, dcnt_cat_24h BIGINT,"
                + " seconds_since_prev DOUBLE>")
public class MultiWindowFeatures extends ProcessTableFunction<Row> {

    static final long M10 = 10 * 60_000L, H1 = 3_600_000L, H24 = 24 * H1;

    /** Buffered event (not yet released by the watermark). */
    public static class Ev {
        public long id;
        public double amount;
        public String cat;

        public Ev() {}

        Ev(long id, double amount, String cat) {
            this.id = id;
            this.amount = amount;
            this.cat = cat;
        }
    }

    /** Released history of the key, sorted by ts, limited to the largest window (24h). */
    public static class Hist {
        public long[] ts = new long[0];
        public double[] amt = new double[0];
        public String[] cat = new String[0];
        public Long lastTs; // latest released timestamp (kept beyond 24h for seconds_since_prev)
    }

    public void eval(
            Context ctx,
            @StateHint Hist hist,
            @StateHint MapView<Long, Ev[]> pending,
            @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME})
                    Row input)
            throws Exception {
        TimeContext<Long> tc = ctx.timeContext(Long.class);
        long t = tc.time(); // rows with t <= watermark never reach eval (framework drops them)
        Ev ev =
                new Ev(
                        input.<Long>getFieldAs("id"),
                        input.<Double>getFieldAs("amount"),
                        input.<String>getFieldAs("cat"));
        Ev[] group = pending.get(t);
        if (group == null) {
            pending.put(t, new Ev[] {ev});
            tc.registerOnTime(t); // unnamed timer per distinct timestamp
        } else {
            Ev[] g = Arrays.copyOf(group, group.length + 1);
            g[group.length] = ev;
            pending.put(t, g);
        }
    }

    public void onTimer(OnTimerContext ctx, Hist hist, MapView<Long, Ev[]> pending)
            throws Exception {
        long t = ctx.timeContext(Long.class).time(); // == timer timestamp
        Ev[] group = pending.get(t);
        if (group == null) {
            return;
        }
        pending.remove(t);

        // evict everything older than the largest window
        int n = hist.ts.length;
        int from = lowerBound(hist.ts, t - H24);
        int keep = n - from;
        long[] ts = new long[keep + group.length];
        double[] amt = new double[keep + group.length];
        String[] cat = new String[keep + group.length];
        System.arraycopy(hist.ts, from, ts, 0, keep);
        System.arraycopy(hist.amt, from, amt, 0, keep);
        System.arraycopy(hist.cat, from, cat, 0, keep);
        for (int i = 0; i < group.length; i++) {
            ts[keep + i] = t;
            amt[keep + i] = group[i].amount;
            cat[keep + i] = group[i].cat;
        }
        Double sincePrev = hist.lastTs == null ? null : (t - hist.lastTs) / 1000.0;
        hist.ts = ts;
        hist.amt = amt;
        hist.cat = cat;
        hist.lastTs = t;

        int len = ts.length;
        int i10 = lowerBound(ts, t - M10), i1h = lowerBound(ts, t - H1);
        double sum1h = 0, sum24 = 0, max24 = Double.NEGATIVE_INFINITY;
        HashSet<String> distinct = new HashSet<>();
        for (int i = 0; i < len; i++) {
            sum24 += amt[i];
            max24 = Math.max(max24, amt[i]);
            if (cat[i] != null) {
                distinct.add(cat[i]);
            }
            if (i >= i1h) {
                sum1h += amt[i];
            }
        }
        for (Ev e : group) {
            collect(
                    Row.of(
                            e.id,
                            e.amount,
                            e.cat,
                            (long) (len - i10),
                            (long) (len - i1h),
                            (long) len,
                            sum1h,
                            sum24,
                            max24,
                            (long) distinct.size(),
                            sincePrev));
        }
    }

    /** first index with a[i] >= x. */
    static int lowerBound(long[] a, long x) {
        int lo = 0, hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
