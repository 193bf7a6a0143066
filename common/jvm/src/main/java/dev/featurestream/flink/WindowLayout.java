package dev.featurestream.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * What the state of one key was written for: the input expressions (the order of values in the
 * history and in pending events), the carried columns, and each aggregate's signature. Stored
 * once per key with window state (as JSON, in the history map under {@link #STATE_KEY}), and as a
 * 64-bit hash in the key's accumulator blob (which also tells the state format), so that state written by an earlier definition of the view can be
 * recognised and evolved after a restore ({@link WindowEvolution}).
 */
final class WindowLayout {
    /** The history-map key of the layout entry (history sequence numbers are >= 0). */
    static final long STATE_KEY = Long.MIN_VALUE;
    private static final byte[] STATE_FORMAT = "\nstate-format=2".getBytes(StandardCharsets.UTF_8);

    /** An aggregate as state sees it: what it folds, over which window. */
    static final class Signature {
        final String name;
        final WindowSpec.Fn fn;
        /** The input's SQL expression, or null. */
        final String input;
        /** Window length, or -1. */
        final long windowMs;

        Signature(String name, WindowSpec.Fn fn, String input, long windowMs) {
            this.name = name;
            this.fn = fn;
            this.input = input;
            this.windowMs = windowMs;
        }

        /** Same accumulator meaning (the name may differ). */
        boolean sameFold(Signature o) {
            return fn == o.fn && Objects.equals(input, o.input) && windowMs == o.windowMs;
        }
    }

    final List<String> inputs;
    final List<String> carry;
    final List<Signature> aggs;
    /** Distinct window lengths, shortest first. */
    final long[] windows;
    final byte[] json;
    /** What blobs of state format v1 carry (the hash of the JSON). */
    final long v1Hash;
    /** What blobs of state format v2 carry: another hash, so the format shows in the blob. */
    final long stateHash;

    private WindowLayout(List<String> inputs, List<String> carry, List<Signature> aggs, byte[] json) {
        this.inputs = inputs;
        this.carry = carry;
        this.aggs = aggs;
        TreeSet<Long> lengths = new TreeSet<>();
        for (Signature a : aggs) {
            if (a.windowMs > 0) {
                lengths.add(a.windowMs);
            }
        }
        this.windows = lengths.stream().mapToLong(Long::longValue).toArray();
        this.json = json;
        this.v1Hash = hashOf(json);
        byte[] tagged = java.util.Arrays.copyOf(json, json.length + STATE_FORMAT.length);
        System.arraycopy(STATE_FORMAT, 0, tagged, json.length, STATE_FORMAT.length);
        this.stateHash = hashOf(tagged);
    }

    /** The layout of a spec. */
    static WindowLayout of(WindowSpec spec) {
        List<Signature> aggs = new ArrayList<>();
        for (WindowSpec.Agg a : spec.aggs) {
            String input = a.inputIndex < 0 ? null : spec.inputExpressions.get(a.inputIndex);
            aggs.add(new Signature(a.name, a.fn, input, a.windowMs));
        }
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        ArrayNode in = root.putArray("inputs");
        spec.inputExpressions.forEach(in::add);
        ArrayNode carried = root.putArray("carry");
        spec.carry.forEach(carried::add);
        ArrayNode signatures = root.putArray("aggs");
        for (Signature a : aggs) {
            ArrayNode row = signatures.addArray();
            row.add(a.name).add(a.fn.name()).add(a.input).add(a.windowMs);
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        return new WindowLayout(
                List.copyOf(spec.inputExpressions), List.copyOf(spec.carry), aggs, json);
    }

    /** A stored layout. */
    static WindowLayout parse(byte[] json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json);
        List<String> inputs = new ArrayList<>();
        root.path("inputs").forEach(n -> inputs.add(n.asText()));
        List<String> carry = new ArrayList<>();
        root.path("carry").forEach(n -> carry.add(n.asText()));
        List<Signature> aggs = new ArrayList<>();
        for (JsonNode row : root.path("aggs")) {
            aggs.add(
                    new Signature(
                            row.get(0).asText(),
                            WindowSpec.Fn.valueOf(row.get(1).asText()),
                            row.get(2).isNull() ? null : row.get(2).asText(),
                            row.get(3).asLong()));
        }
        return new WindowLayout(inputs, carry, aggs, json);
    }

    /** The aggregates' functions, in order. */
    WindowSpec.Fn[] fns() {
        WindowSpec.Fn[] fns = new WindowSpec.Fn[aggs.size()];
        for (int i = 0; i < fns.length; i++) {
            fns[i] = aggs.get(i).fn;
        }
        return fns;
    }

    int windowIndex(long windowMs) {
        for (int i = 0; i < windows.length; i++) {
            if (windows[i] == windowMs) {
                return i;
            }
        }
        return -1;
    }

    long largestWindow() {
        return windows.length == 0 ? 0 : windows[windows.length - 1];
    }

    private static long hashOf(byte[] json) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(json);
            return ByteBuffer.wrap(digest, 0, 8).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
