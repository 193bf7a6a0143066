package dev.featurestream.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Dead letters are counted in total, per reason by name, and per reason as a label. */
class CountDeadLetterTest {

    @Test
    void everyReasonIsCountedByNameAndAsALabel() {
        RecordingMetricGroup metrics = new RecordingMetricGroup();
        CountDeadLetter count = new CountDeadLetter();
        count.open(RecordingMetricGroup.context(metrics));
        assertEquals("late", count.eval("late"));
        count.eval("late");
        count.eval("empty_key");
        assertEquals("unknown", count.eval(null));

        assertEquals(4, metrics.counters.get("deadLetters").getCount());
        assertEquals(2, metrics.counters.get("deadLetters_late").getCount());
        assertEquals(1, metrics.counters.get("deadLetters_empty_key").getCount());
        assertEquals(1, metrics.counters.get("deadLetters_unknown").getCount());
        assertEquals(2, metrics.groups.get("reason=late").counters.get("deadLetters").getCount());
        assertEquals(
                1, metrics.groups.get("reason=empty_key").counters.get("deadLetters").getCount());
        assertEquals(3, metrics.groups.size(), "one labelled counter per reason");
    }
}
