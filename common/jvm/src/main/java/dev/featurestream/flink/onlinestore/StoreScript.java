package dev.featurestream.flink.onlinestore;

/**
 * The Lua scripts the sink runs in Redis, each packaged from {@code common/} into the jar, so the
 * Python side and the JVM sink share one copy.
 */
enum StoreScript {
    /** Newer-wins write of a key's feature vector ({@code common/online_store.lua}). */
    VECTOR("/featurestream/online_store.lua"),
    /** Adds an event to a key's event log and trims it ({@code common/online_events.lua}). */
    EVENT_LOG("/featurestream/online_events.lua"),
    /**
     * Folds an event into a key's tiles of partial aggregates and trims them ({@code
     * common/online_tiles.lua}, decision 76): the event log's alternative for busy keys.
     */
    EVENT_TILES("/featurestream/online_tiles.lua");

    /** Classpath location of the script text. */
    final String resource;

    StoreScript(String resource) {
        this.resource = resource;
    }
}
