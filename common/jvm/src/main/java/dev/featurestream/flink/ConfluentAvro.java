package dev.featurestream.flink;

import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.types.DataType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.EOFException;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Shared Confluent-wire-format Avro pieces of {@link DecodeConfluentAvro} and the
 * {@code featurestream-avro} table format: the Avro to Flink type mapping, the strict UTF-8
 * reader, the registry lookup, and the dead-letter classification of raw bytes.
 */
final class ConfluentAvro {

    static final String WRONG_MAGIC_BYTE = "wrong_magic_byte";
    static final String TRUNCATED = "truncated";
    static final String UNKNOWN_SCHEMA_ID = "unknown_schema_id";
    static final String UNDECODABLE = "undecodable";

    private static final ObjectMapper JSON = new ObjectMapper();

    private ConfluentAvro() {}

    /** Avro -> Flink type; every field nullable (bad input yields all-null fields). */
    static DataType toType(Schema s) {
        LogicalType lt = s.getLogicalType();
        switch (s.getType()) {
            case UNION:
                return toType(nonNullBranch(s));
            case RECORD:
                List<DataTypes.Field> fs = new ArrayList<>();
                for (Schema.Field f : s.getFields()) {
                    fs.add(DataTypes.FIELD(f.name(), toType(f.schema())));
                }
                return DataTypes.ROW(fs.toArray(new DataTypes.Field[0]));
            case ARRAY:
                return DataTypes.ARRAY(toType(s.getElementType()));
            case MAP:
                return DataTypes.MAP(DataTypes.STRING(), toType(s.getValueType()));
            case STRING:
            case ENUM:
                return DataTypes.STRING();
            case BYTES:
            case FIXED:
                if (lt instanceof LogicalTypes.Decimal) {
                    LogicalTypes.Decimal d = (LogicalTypes.Decimal) lt;
                    return DataTypes.DECIMAL(d.getPrecision(), d.getScale());
                }
                return DataTypes.BYTES();
            case INT:
                return DataTypes.INT();
            case LONG:
                if (lt instanceof LogicalTypes.TimestampMillis) {
                    // TIMESTAMP(3) in UTC, as Flink's own avro formats read it (their writers
                    // reject TIMESTAMP_LTZ), so decoded rows can go straight to avro sinks.
                    return DataTypes.TIMESTAMP(3).bridgedTo(LocalDateTime.class);
                }
                return DataTypes.BIGINT();
            case FLOAT:
                return DataTypes.FLOAT();
            case DOUBLE:
                return DataTypes.DOUBLE();
            case BOOLEAN:
                return DataTypes.BOOLEAN();
            default:
                throw new ValidationException("unsupported avro type " + s.getType());
        }
    }

    /** The X of a {@code [null, X]} union; any other union is rejected. */
    static Schema nonNullBranch(Schema union) {
        List<Schema> nonNull = new ArrayList<>();
        for (Schema b : union.getTypes()) {
            if (b.getType() != Schema.Type.NULL) {
                nonNull.add(b);
            }
        }
        if (nonNull.size() != 1) {
            throw new ValidationException("only [null, X] unions supported: " + union);
        }
        return nonNull.get(0);
    }

    /**
     * Avro's Java reader accepts any bytes as a string; Python's (fastavro) rejects invalid UTF-8.
     * Validating here gives both decoders the same verdict (``undecodable``) on the same bytes.
     */
    static final class StrictUtf8Reader extends GenericDatumReader<GenericRecord> {
        // One per reader (readers are per task, used by one thread): no allocation per string.
        private final CharsetDecoder utf8 =
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT);

        StrictUtf8Reader(Schema writer, Schema reader) {
            super(writer, reader);
        }

        @Override
        protected Object readString(Object old, Schema expected, Decoder in) throws IOException {
            Object value = super.readString(old, expected, in);
            if (value instanceof Utf8) {
                Utf8 text = (Utf8) value;
                utf8.reset();
                utf8.decode(ByteBuffer.wrap(text.getBytes(), 0, text.getByteLength()));
            }
            return value;
        }
    }

    /**
     * Decodes Confluent wire-format values against one reader schema, fetching writer schemas
     * from the registry by id. Not thread-safe; one per task.
     */
    static final class WireDecoder {
        /**
         * How long a schema lookup is retried while the registry is unreachable or answers 5xx:
         * the decoder holds the source back meanwhile (an outage is not the record's fault, so
         * no dead letter; and a failing task would only restart into the same outage).
         */
        static final long REGISTRY_RETRY_TIMEOUT_MILLIS = 5 * 60_000L;
        private final Schema reader;
        private final RegistryHttp registry;
        private final Map<Integer, Optional<GenericDatumReader<GenericRecord>>> readersById =
                new HashMap<>();
        private BinaryDecoder decoder;
        private Runnable onRetry = () -> {};
        private long retryTimeoutMillis = REGISTRY_RETRY_TIMEOUT_MILLIS;

        /** Called before each retried registry lookup (a metric counter). */
        WireDecoder onRetry(Runnable callback) {
            this.onRetry = callback;
            return this;
        }

        WireDecoder retryTimeout(long millis) {
            this.retryTimeoutMillis = millis;
            return this;
        }

        WireDecoder(Schema reader, String registryUrl) {
            this(reader, registryUrl, null);
        }

        /** {@code userInfo} is {@code <user>:<password>} for basic auth, or null/empty. */
        WireDecoder(Schema reader, String registryUrl, String userInfo) {
            this.reader = reader;
            this.registry = new RegistryHttp(registryUrl, userInfo);
        }

        /**
         * The decoded record (fields in reader-schema order), or the dead-letter reason as a
         * String. A registry outage is retried, then throws: it is not the record's fault.
         */
        Object decode(byte[] raw) {
            if (raw.length < 1 || raw[0] != 0) {
                return WRONG_MAGIC_BYTE;
            }
            if (raw.length < 5) {
                return TRUNCATED;
            }
            int schemaId =
                    ((raw[1] & 0xff) << 24) | ((raw[2] & 0xff) << 16) | ((raw[3] & 0xff) << 8)
                            | (raw[4] & 0xff);
            GenericDatumReader<GenericRecord> datumReader = readerFor(schemaId);
            if (datumReader == null) {
                return UNKNOWN_SCHEMA_ID;
            }
            try {
                decoder = DecoderFactory.get().binaryDecoder(raw, 5, raw.length - 5, decoder);
                GenericRecord rec = datumReader.read(null, decoder);
                if (!decoder.isEnd()) {
                    return UNDECODABLE; // trailing bytes
                }
                return rec;
            } catch (EOFException e) {
                return TRUNCATED;
            } catch (Exception e) {
                return UNDECODABLE;
            }
        }

        /**
         * The datum reader for a writer schema id; null when the registry does not know the id.
         * Both outcomes are cached for the task's lifetime, so garbage ids cannot hammer the
         * registry.
         */
        private GenericDatumReader<GenericRecord> readerFor(int schemaId) {
            Optional<GenericDatumReader<GenericRecord>> cached = readersById.get(schemaId);
            if (cached == null) {
                Schema writer = fetchSchema(schemaId);
                cached =
                        writer == null
                                ? Optional.empty()
                                : Optional.of(new StrictUtf8Reader(writer, reader));
                readersById.put(schemaId, cached);
            }
            return cached.orElse(null);
        }

        /**
         * The writer schema of {@code schemaId}, or null when the registry does not know it
         * (404). Unreachable or failing (5xx), the lookup is retried with backoff for up to the
         * retry timeout; then it throws.
         */
        private Schema fetchSchema(int schemaId) {
            String id = Integer.toUnsignedString(schemaId);
            return RegistryHttp.withRetry(
                    () -> fetchOnce(id), retryTimeoutMillis, onRetry, "schema id " + id);
        }

        private Schema fetchOnce(String id) {
            HttpResponse<String> response = registry.send("GET", "/schemas/ids/" + id, null);
            if (response.statusCode() == 404) {
                return null;
            }
            if (response.statusCode() != 200) {
                throw new IllegalStateException(
                        "schema registry answered HTTP " + response.statusCode() + " for id " + id);
            }
            try {
                JsonNode body = JSON.readTree(response.body());
                return new Schema.Parser().parse(body.get("schema").asText());
            } catch (IOException e) {
                throw new IllegalStateException("schema id " + id + ": unreadable answer", e);
            }
        }
    }

    static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }
}
