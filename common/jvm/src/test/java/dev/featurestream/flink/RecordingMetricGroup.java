package dev.featurestream.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.table.functions.FunctionContext;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A metric group that keeps what a function registers, by name, so tests can read counters,
 * gauges and histograms the way a reporter would.
 */
final class RecordingMetricGroup extends UnregisteredMetricsGroup {
    final Map<String, Counter> counters = new LinkedHashMap<>();
    final Map<String, Gauge<?>> gauges = new LinkedHashMap<>();
    final Map<String, Histogram> histograms = new LinkedHashMap<>();
    /** Key-value subgroups by {@code key=value} (reporters make them labels). */
    final Map<String, RecordingMetricGroup> groups = new LinkedHashMap<>();

    @Override
    public MetricGroup addGroup(String key, String value) {
        return groups.computeIfAbsent(key + "=" + value, k -> new RecordingMetricGroup());
    }

    @Override
    public Counter counter(String name) {
        return counter(name, new SimpleCounter());
    }

    @Override
    public <C extends Counter> C counter(String name, C counter) {
        counters.put(name, counter);
        return counter;
    }

    @Override
    public <T, G extends Gauge<T>> G gauge(String name, G gauge) {
        gauges.put(name, gauge);
        return gauge;
    }

    @Override
    public <H extends Histogram> H histogram(String name, H histogram) {
        histograms.put(name, histogram);
        return histogram;
    }

    /** A function context (no runtime context) whose metric group is {@code group}. */
    static FunctionContext context(MetricGroup group) {
        return new FunctionContext(null) {
            @Override
            public MetricGroup getMetricGroup() {
                return group;
            }
        };
    }
}
