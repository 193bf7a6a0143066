package dev.featurestream.flink.state;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointWriter;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Writes a copy of a savepoint without the state of the given operators (by uid), with Flink's
 * State Processor API. {@code backfill --then-live} (decision 66) uses it to drop the history
 * source's split offsets, so the live job restores every window but reads the live topic from
 * its own start position instead of polling the history topic's finished splits (which would
 * also hold back its watermark forever).
 *
 * <p>Usage: {@code flink run -c dev.featurestream.flink.state.DropOperatorState <jar> <savepoint>
 * <new savepoint> <uid> [<uid>...]}. The new savepoint refers to the old one's files for the
 * operators it keeps: keep both.
 */
public final class DropOperatorState {
    private DropOperatorState() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            throw new IllegalArgumentException(
                    "usage: DropOperatorState <savepoint> <new savepoint> <uid> [<uid>...]");
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);
        SavepointWriter writer = SavepointWriter.fromExistingSavepoint(env, args[0]);
        for (int i = 2; i < args.length; i++) {
            writer = writer.removeOperator(OperatorIdentifier.forUid(args[i]));
        }
        writer.write(args[1]);
        env.execute("featurestream: drop operator state");
    }
}
