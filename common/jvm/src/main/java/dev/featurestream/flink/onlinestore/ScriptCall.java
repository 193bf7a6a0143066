package dev.featurestream.flink.onlinestore;

import java.util.List;

/**
 * One EVALSHA the writer sends: which script, its {@code KEYS[1]} and {@code ARGV}. Encoded from
 * a row when the row arrives (the runtime may reuse row objects), sent with its batch.
 */
record ScriptCall(StoreScript script, String key, List<String> args) {}
