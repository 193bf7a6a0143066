package dev.featurestream.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code fs_count_dead_letter(reason)}: returns {@code reason} unchanged and counts it in Flink
 * metrics, so every record a job routes to its dead-letter topic is also a counted metric:
 * {@code deadLetters} (all) and {@code deadLetters_<reason>} in the operator's metric group, and
 * {@code deadLetters} in its {@code reason=<reason>} subgroup, which reporters turn into a label
 * (Prometheus: {@code flink_taskmanager_job_task_operator_reason_deadLetters{reason="late"}}), so
 * one query can break dead letters down by reason.
 *
 * <p>Declared non-deterministic so the planner neither folds nor reorders the call.
 */
public class CountDeadLetter extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    private transient MetricGroup group;
    private transient Counter total;
    private transient Map<String, Counter[]> byReason;

    @Override
    public void open(FunctionContext context) {
        group = context.getMetricGroup();
        total = group.counter("deadLetters");
        byReason = new HashMap<>();
    }

    /** Counts one dead letter; null counts as reason "unknown". */
    public String eval(String reason) {
        String r = reason == null ? "unknown" : reason;
        total.inc();
        Counter[] counters = byReason.computeIfAbsent(r, this::register);
        counters[0].inc();
        counters[1].inc();
        return r;
    }

    private Counter[] register(String reason) {
        return new Counter[] {
            group.counter("deadLetters_" + reason),
            group.addGroup("reason", reason).counter("deadLetters")
        };
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
