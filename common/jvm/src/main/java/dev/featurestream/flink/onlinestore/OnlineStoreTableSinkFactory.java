package dev.featurestream.flink.onlinestore;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.RowType;

import redis.clients.jedis.util.JedisURIHelper;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Table connector {@code featurestream-redis}: writes the latest feature vector per entity to the
 * online store in Redis ({@code fs:<view>:v<N>:<entity key>}, a hash of the features plus
 * {@code event_time}, {@code event_id} and {@code version}) with the newer-wins Lua script that
 * the Python {@code OnlineStore} uses too, so replays and out-of-order rows never regress a
 * stored vector.
 *
 * <p>Every column not named by {@code key-column}, {@code event-id-column},
 * {@code event-time-column} or {@code history-columns} is a feature. Insert-only; at-least-once
 * (rows are flushed before every checkpoint).
 *
 * <p>With {@code history-columns} the sink also keeps, per key, a log of the key's recent events
 * ({@code fse:<view>:v<N>:<entity key>}, a sorted set by event time whose members are the
 * event id and those columns' values, see {@link EventLogEncoder}), trimmed to
 * {@code history-keep} behind the key's newest event, so that readers can compute the windowed
 * features as of the moment they read (issue 17).
 *
 * <p>With a positive {@code history-tile} (busy keys, decision 76) the events are folded instead into
 * tiles of that length ({@code fst:<view>:v<N>:<entity key>}, a hash of partial aggregates per
 * tile plus the newest event, see {@code common/online_tiles.lua}), with the parts each history
 * column keeps named by {@code history-parts}: one comma-separated entry per history column, in
 * the same order, each letters of {@code nslhwd} in that order ({@code n} non-null count, {@code
 * s} sum, {@code l} min, {@code h} max, {@code w} Welford mean and m2, {@code d} distinct values),
 * possibly empty. {@code history-keep} then trims tiles starting that far behind the newest event.
 *
 * <pre>
 *   'connector' = 'featurestream-redis',
 *   'url' = 'redis://127.0.0.1:16379',
 *   'view' = 'payment_card', 'version' = '1',
 *   'key-column' = 'card_id', 'event-id-column' = 'payment_id',
 *   'event-time-column' = 'event_time',
 *   'ttl' = '24 h', 'batch-size' = '500', 'flush-interval' = '200 ms',
 *   'history-columns' = 'in_0,in_1', 'history-keep' = '24 h', 'history-ttl' = '25 h'
 *   -- or, tiled: 'history-keep' = '61 min', 'history-tile' = '1 min', 'history-parts' = 'ns,d'
 * </pre>
 */
public class OnlineStoreTableSinkFactory implements DynamicTableSinkFactory {

    public static final String IDENTIFIER = "featurestream-redis";

    public static final ConfigOption<String> URL =
            ConfigOptions.key("url")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Redis URL: redis://[[user]:password@]host:port[/db] (rediss:// for TLS).");

    public static final ConfigOption<String> VIEW =
            ConfigOptions.key("view")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Feature view name: the <view> of fs:<view>:v<N>:<entity key>.");

    public static final ConfigOption<Integer> VERSION =
            ConfigOptions.key("version")
                    .intType()
                    .noDefaultValue()
                    .withDescription("Feature view version (>= 1): the <N> of fs:<view>:v<N>:<entity key>.");

    public static final ConfigOption<String> KEY_COLUMN =
            ConfigOptions.key("key-column")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("STRING column holding the entity key.");

    public static final ConfigOption<String> EVENT_ID_COLUMN =
            ConfigOptions.key("event-id-column")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "STRING column holding the id of the event that produced the vector; "
                                    + "breaks ties between vectors of the same event time (larger wins).");

    public static final ConfigOption<String> EVENT_TIME_COLUMN =
            ConfigOptions.key("event-time-column")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "TIMESTAMP(3) (read as UTC) or TIMESTAMP_LTZ(3) column: the vector's event "
                                    + "time; an older vector never overwrites a newer one.");

    public static final ConfigOption<Duration> TTL =
            ConfigOptions.key("ttl")
                    .durationType()
                    .defaultValue(Duration.ZERO)
                    .withDescription("Expiry of a vector after its last write (PEXPIRE); 0 = never.");

    public static final ConfigOption<Integer> BATCH_SIZE =
            ConfigOptions.key("batch-size")
                    .intType()
                    .defaultValue(500)
                    .withDescription("Rows sent to Redis in one pipeline.");

    public static final ConfigOption<Duration> FLUSH_INTERVAL =
            ConfigOptions.key("flush-interval")
                    .durationType()
                    .defaultValue(Duration.ofMillis(200))
                    .withDescription(
                            "Longest time a row waits in a partial batch; 0 = flush only when the "
                                    + "batch is full and on checkpoints / end of input.");

    public static final ConfigOption<Duration> RETRY_TIMEOUT =
            ConfigOptions.key("retry-timeout")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(5))
                    .withDescription(
                            "How long a batch is retried, with backoff up to 5 s, while Redis is "
                                    + "unreachable or failing; then the task fails and Flink "
                                    + "restarts it from the last checkpoint.");

    public static final ConfigOption<String> HISTORY_COLUMNS =
            ConfigOptions.key("history-columns")
                    .stringType()
                    .defaultValue("")
                    .withDescription(
                            "Comma-separated columns whose values the event log keeps per event, "
                                    + "in this order (they are inputs, not features: not in the "
                                    + "vector); empty = no event log.");

    public static final ConfigOption<Duration> HISTORY_KEEP =
            ConfigOptions.key("history-keep")
                    .durationType()
                    .noDefaultValue()
                    .withDescription(
                            "How far behind the key's newest event the event log keeps events, "
                                    + "or the tiles keep tiles "
                                    + "(> 0; required with 'history-columns'): the largest "
                                    + "window readers compute, plus how stale a read may be "
                                    + "(tiled: plus a tile).");

    public static final ConfigOption<Duration> HISTORY_TTL =
            ConfigOptions.key("history-ttl")
                    .durationType()
                    .defaultValue(Duration.ZERO)
                    .withDescription(
                            "Expiry of an event log (or tiles hash) after its last write "
                                    + "(PEXPIRE); 0 = never.");

    public static final ConfigOption<Duration> HISTORY_TILE =
            ConfigOptions.key("history-tile")
                    .durationType()
                    .defaultValue(Duration.ZERO)
                    .withDescription(
                            "Length of a tile (whole milliseconds): > 0 folds each event into "
                                    + "per-tile partial aggregates (fst:<view>:v<N>:<entity key>, "
                                    + "decision 76) instead of logging it; 0 = the event log. "
                                    + "Needs 'history-parts'.");

    public static final ConfigOption<String> HISTORY_PARTS =
            ConfigOptions.key("history-parts")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "The parts each history column keeps per tile: one comma-separated "
                                    + "entry per 'history-columns' column, in the same order, "
                                    + "each letters of 'nslhwd' in that order, each at most once, "
                                    + "possibly empty (n count, s sum, l min, h max, w Welford "
                                    + "mean and m2, d distinct values), e.g. 'ns,d'. Required "
                                    + "with 'history-tile', refused without it.");

    /** The letters of {@code history-parts}, in their canonical order. */
    static final String PART_LETTERS = "nslhwd";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(URL);
        options.add(VIEW);
        options.add(VERSION);
        options.add(KEY_COLUMN);
        options.add(EVENT_ID_COLUMN);
        options.add(EVENT_TIME_COLUMN);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(TTL);
        options.add(BATCH_SIZE);
        options.add(FLUSH_INTERVAL);
        options.add(RETRY_TIMEOUT);
        options.add(HISTORY_COLUMNS);
        options.add(HISTORY_KEEP);
        options.add(HISTORY_TTL);
        options.add(HISTORY_TILE);
        options.add(HISTORY_PARTS);
        options.add(FactoryUtil.SINK_PARALLELISM);
        return options;
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate(); // unknown and missing options
        ReadableConfig options = helper.getOptions();

        String url = options.get(URL);
        checkUrl(url);
        String view = options.get(VIEW);
        if (view.isBlank() || view.contains(":")) {
            // ':' separates the parts of the Redis key; a view containing one would be ambiguous.
            throw invalid("option 'view' must be non-empty and contain no ':', got '" + view + "'");
        }
        int version = options.get(VERSION);
        if (version < 1) {
            throw invalid("option 'version' must be >= 1, got " + version);
        }
        Duration ttl = options.get(TTL);
        if (ttl.isNegative()) {
            throw invalid("option 'ttl' must not be negative, got " + ttl);
        }
        int batchSize = options.get(BATCH_SIZE);
        if (batchSize < 1) {
            throw invalid("option 'batch-size' must be >= 1, got " + batchSize);
        }
        Duration flushInterval = options.get(FLUSH_INTERVAL);
        if (flushInterval.isNegative()) {
            throw invalid("option 'flush-interval' must not be negative, got " + flushInterval);
        }

        Duration retryTimeout = options.get(RETRY_TIMEOUT);
        if (retryTimeout.isNegative()) {
            throw invalid("option 'retry-timeout' must not be negative, got " + retryTimeout);
        }

        List<String> historyColumns = historyColumns(options.get(HISTORY_COLUMNS));
        long historyKeep = 0;
        long historyTtl = 0;
        long historyTile = 0;
        String historyParts = null;
        if (historyColumns.isEmpty()) {
            for (ConfigOption<?> option :
                    List.of(HISTORY_KEEP, HISTORY_TTL, HISTORY_TILE, HISTORY_PARTS)) {
                if (options.getOptional(option).isPresent()) {
                    // Most likely a misspelt or forgotten history-columns: say so, not ignore.
                    throw invalid(
                            "option '"
                                    + option.key()
                                    + "' needs 'history-columns' (no event log without it)");
                }
            }
        } else {
            Duration keep =
                    options.getOptional(HISTORY_KEEP)
                            .orElseThrow(
                                    () ->
                                            invalid(
                                                    "option 'history-keep' is required when "
                                                            + "'history-columns' is set"));
            if (keep.isNegative() || keep.isZero()) {
                throw invalid("option 'history-keep' must be > 0, got " + keep);
            }
            Duration historyTtlOption = options.get(HISTORY_TTL);
            if (historyTtlOption.isNegative()) {
                throw invalid("option 'history-ttl' must not be negative, got " + historyTtlOption);
            }
            historyKeep = keep.toMillis();
            historyTtl = historyTtlOption.toMillis();
            Duration tile = options.get(HISTORY_TILE);
            if (tile.isNegative()) {
                throw invalid("option 'history-tile' must not be negative, got " + tile);
            }
            if (tile.toNanos() % 1_000_000 != 0) {
                // Tile starts are epoch millis, in the script and in the readers.
                throw invalid(
                        "option 'history-tile' must be a whole number of milliseconds, got "
                                + tile);
            }
            historyTile = tile.toMillis();
            historyParts = options.getOptional(HISTORY_PARTS).orElse(null);
            if (historyTile > 0 && historyParts == null) {
                throw invalid(
                        "option 'history-parts' is required when 'history-tile' is set (> 0)");
            }
            if (historyTile == 0 && historyParts != null) {
                throw invalid(
                        "option 'history-parts' needs 'history-tile' > 0 (tiles); the event log "
                                + "keeps whole events");
            }
        }

        RowType rowType = (RowType) context.getPhysicalRowDataType().getLogicalType();
        VectorLayout layout =
                VectorLayout.of(
                        rowType,
                        view,
                        version,
                        options.get(KEY_COLUMN),
                        options.get(EVENT_ID_COLUMN),
                        options.get(EVENT_TIME_COLUMN),
                        historyColumns);
        EventLogLayout eventLog =
                historyColumns.isEmpty()
                        ? null
                        : EventLogLayout.of(
                                rowType, view, version, layout, historyColumns, historyParts);
        Map<StoreScript, String> scripts = new EnumMap<>(StoreScript.class);
        scripts.put(StoreScript.VECTOR, loadScript(StoreScript.VECTOR));
        if (eventLog != null) {
            StoreScript history =
                    eventLog.tiled() ? StoreScript.EVENT_TILES : StoreScript.EVENT_LOG;
            scripts.put(history, loadScript(history));
        }
        WriterSettings settings =
                new WriterSettings(
                        url,
                        scripts,
                        ttl.toMillis(),
                        batchSize,
                        flushInterval.toMillis(),
                        retryTimeout.toMillis(),
                        historyKeep,
                        historyTtl,
                        historyTile);
        return new OnlineStoreTableSink(
                layout,
                eventLog,
                settings,
                options.getOptional(FactoryUtil.SINK_PARALLELISM).orElse(null));
    }

    /** The {@code history-columns} option split at commas, blanks trimmed; empty when unset. */
    static List<String> historyColumns(String option) {
        List<String> columns = new ArrayList<>();
        if (option.isBlank()) {
            return columns;
        }
        for (String part : option.split(",", -1)) {
            String column = part.strip();
            if (column.isEmpty()) {
                throw invalid(
                        "option 'history-columns' must be column names separated by commas, got '"
                                + option
                                + "'");
            }
            columns.add(column);
        }
        return columns;
    }

    /**
     * The {@code history-parts} option split at commas, one entry per history column: each entry
     * letters of {@link #PART_LETTERS} in that order, each at most once, possibly empty, {@code w}
     * only with {@code n}. Not trimmed: the script gets the option as given.
     *
     * @param columns the history columns, in option order (for the count and the messages)
     */
    static List<String> historyParts(String option, List<String> columns) {
        List<String> entries = List.of(option.split(",", -1));
        if (entries.size() != columns.size()) {
            throw invalid(
                    "option 'history-parts' must have one comma-separated entry per column of "
                            + "'history-columns' ("
                            + columns.size()
                            + ": "
                            + String.join(",", columns)
                            + "), got "
                            + entries.size()
                            + " in '"
                            + option
                            + "'");
        }
        for (int i = 0; i < entries.size(); i++) {
            String entry = entries.get(i);
            int previous = -1;
            for (int k = 0; k < entry.length(); k++) {
                char letter = entry.charAt(k);
                int position = PART_LETTERS.indexOf(letter);
                if (position < 0) {
                    throw invalid(
                            "option 'history-parts': entry '"
                                    + entry
                                    + "' of column '"
                                    + columns.get(i)
                                    + "' has '"
                                    + letter
                                    + "'; parts are letters of '"
                                    + PART_LETTERS
                                    + "'");
                }
                if (position <= previous) {
                    throw invalid(
                            "option 'history-parts': entry '"
                                    + entry
                                    + "' of column '"
                                    + columns.get(i)
                                    + "' must have its letters in the order '"
                                    + PART_LETTERS
                                    + "', each at most once");
                }
                previous = position;
            }
            if (entry.indexOf('w') >= 0 && entry.indexOf('n') < 0) {
                // The script's Welford step divides by the column's count, which 'n' keeps.
                throw invalid(
                        "option 'history-parts': entry '"
                                + entry
                                + "' of column '"
                                + columns.get(i)
                                + "' has 'w' without 'n' (Welford's mean needs the count)");
            }
        }
        return entries;
    }

    private static void checkUrl(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw invalid("option 'url' is not a URI: " + e.getMessage());
        }
        if (!JedisURIHelper.isValid(uri)) {
            throw invalid(
                    "option 'url' must be redis://host:port[/db] or rediss://host:port[/db], got '"
                            + RedisVectorStore.redact(url)
                            + "'");
        }
    }

    /** A script's text, read here so a jar without it fails at planning, not on the cluster. */
    static String loadScript(StoreScript script) {
        try (InputStream in =
                OnlineStoreTableSinkFactory.class.getResourceAsStream(script.resource)) {
            if (in == null) {
                throw new IllegalStateException(
                        script.resource + " is missing from the featurestream jar (build problem)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + script.resource, e);
        }
    }

    static ValidationException invalid(String message) {
        return new ValidationException(IDENTIFIER + ": " + message);
    }
}
