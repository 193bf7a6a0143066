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
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.EOFException;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code fs_decode_avro(raw BYTES, reader_schema STRING, registry_url STRING)}: decodes a
 * Confluent wire-format value (0x00, 4-byte schema id, Avro binary) into a ROW whose fields come
 * from the reader schema literal, plus {@code error STRING}.
 *
 * <p>The writer schema is fetched from the registry by the id in the record (cached per id) and
 * resolved against the reader schema, so older writers decode under a newer reader. Bad input
 * never throws: the row's fields are null and {@code error} holds the dead-letter reason
 * ({@code wrong_magic_byte}, {@code truncated}, {@code unknown_schema_id}, {@code undecodable}),
 * the same codes as {@code common/serde.py}. A registry that cannot be reached does throw: that
 * is an outage, not the record's fault, and the job's restart strategy handles it.
 */
public class DecodeConfluentAvro extends ScalarFunction {

    private transient String cachedSchemaText;
    private transient Schema schema;
    private transient DataType rowType;
    private transient BinaryDecoder decoder;
    private transient Map<Integer, Optional<GenericDatumReader<GenericRecord>>> readersById;
    private transient HttpClient http;

    private static final ObjectMapper JSON = new ObjectMapper();

    // ------------------------------------------------------------------ planning time
    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.BYTES(), DataTypes.STRING(), DataTypes.STRING())
                .outputTypeStrategy(
                        callContext -> {
                            if (!callContext.isArgumentLiteral(1)) {
                                throw callContext.newValidationError(
                                        "fs_decode_avro: schema argument must be a string literal");
                            }
                            String text =
                                    callContext
                                            .getArgumentValue(1, String.class)
                                            .orElseThrow(
                                                    () ->
                                                            callContext.newValidationError(
                                                                    "fs_decode_avro: schema literal is null"));
                            try {
                                return Optional.of(outputType(new Schema.Parser().parse(text)));
                            } catch (RuntimeException e) {
                                throw callContext.newValidationError(
                                        "fs_decode_avro: bad schema: %s", e.getMessage());
                            }
                        })
                .build();
    }

    static DataType outputType(Schema s) {
        if (s.getType() != Schema.Type.RECORD) {
            throw new ValidationException("top-level schema must be a record");
        }
        List<DataTypes.Field> fields = new ArrayList<>();
        for (Schema.Field f : s.getFields()) {
            fields.add(DataTypes.FIELD(f.name(), toType(f.schema())));
        }
        fields.add(DataTypes.FIELD("error", DataTypes.STRING()));
        return DataTypes.ROW(fields.toArray(new DataTypes.Field[0])).nullable();
    }

    /** Avro -> Flink type; every field nullable (bad input yields all-null fields). */
    static DataType toType(Schema s) {
        LogicalType lt = s.getLogicalType();
        switch (s.getType()) {
            case UNION:
                List<Schema> nonNull = new ArrayList<>();
                for (Schema b : s.getTypes()) {
                    if (b.getType() != Schema.Type.NULL) {
                        nonNull.add(b);
                    }
                }
                if (nonNull.size() != 1) {
                    throw new ValidationException("only [null, X] unions supported: " + s);
                }
                return toType(nonNull.get(0));
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

    // ------------------------------------------------------------------ runtime
    public Row eval(byte[] raw, String schemaText, String registryUrl) {
        if (!schemaText.equals(cachedSchemaText)) {
            schema = new Schema.Parser().parse(schemaText);
            rowType = outputType(schema);
            readersById = new ConcurrentHashMap<>();
            cachedSchemaText = schemaText;
        }
        int arity = schema.getFields().size() + 1;
        if (raw == null) {
            return null;
        }
        if (raw.length < 1 || raw[0] != 0) {
            return error(arity, "wrong_magic_byte");
        }
        if (raw.length < 5) {
            return error(arity, "truncated");
        }
        int schemaId = ByteBuffer.wrap(raw, 1, 4).getInt();
        GenericDatumReader<GenericRecord> reader = readerFor(schemaId, registryUrl);
        if (reader == null) {
            return error(arity, "unknown_schema_id");
        }
        GenericRecord rec;
        try {
            decoder = DecoderFactory.get().binaryDecoder(raw, 5, raw.length - 5, decoder);
            rec = reader.read(null, decoder);
            if (!decoder.isEnd()) {
                return error(arity, "undecodable"); // trailing bytes
            }
        } catch (EOFException e) {
            return error(arity, "truncated");
        } catch (Exception e) {
            return error(arity, "undecodable");
        }
        Row out = new Row(arity);
        List<DataType> fieldTypes = rowType.getChildren();
        List<Schema.Field> fields = schema.getFields();
        for (int i = 0; i < fields.size(); i++) {
            out.setField(i, convert(rec.get(i), fields.get(i).schema(), fieldTypes.get(i)));
        }
        return out;
    }

    /**
     * The datum reader for a writer schema id; null when the registry does not know the id. Both
     * outcomes are cached for the task's lifetime, so garbage ids cannot hammer the registry.
     */
    private GenericDatumReader<GenericRecord> readerFor(int schemaId, String registryUrl) {
        Optional<GenericDatumReader<GenericRecord>> cached = readersById.get(schemaId);
        if (cached == null) {
            Schema writer = fetchSchema(schemaId, registryUrl);
            cached =
                    writer == null
                            ? Optional.empty()
                            : Optional.of(new StrictUtf8Reader(writer, schema));
            readersById.put(schemaId, cached);
        }
        return cached.orElse(null);
    }

    private Schema fetchSchema(int schemaId, String registryUrl) {
        if (http == null) {
            http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        }
        URI uri = URI.create(stripSlash(registryUrl) + "/schemas/ids/" + Integer.toUnsignedString(schemaId));
        try {
            HttpResponse<String> response =
                    http.send(
                            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET().build(),
                            HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() == 404) {
                return null;
            }
            if (response.statusCode() != 200) {
                throw new IllegalStateException(
                        "schema registry answered HTTP " + response.statusCode() + " for " + uri);
            }
            JsonNode body = JSON.readTree(response.body());
            return new Schema.Parser().parse(body.get("schema").asText());
        } catch (IOException e) {
            throw new IllegalStateException("schema registry unreachable at " + uri, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted fetching " + uri, e);
        }
    }

    /**
     * Avro's Java reader accepts any bytes as a string; Python's (fastavro) rejects invalid UTF-8.
     * Validating here gives both decoders the same verdict (``undecodable``) on the same bytes.
     */
    static final class StrictUtf8Reader extends GenericDatumReader<GenericRecord> {
        StrictUtf8Reader(Schema writer, Schema reader) {
            super(writer, reader);
        }

        @Override
        protected Object readString(Object old, Schema expected, Decoder in) throws IOException {
            Object value = super.readString(old, expected, in);
            if (value instanceof Utf8) {
                Utf8 text = (Utf8) value;
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(text.getBytes(), 0, text.getByteLength()));
            }
            return value;
        }
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }

    private static Row error(int arity, String reason) {
        Row r = new Row(arity);
        r.setField(arity - 1, reason);
        return r;
    }

    static Object convert(Object v, Schema s, DataType t) {
        if (v == null) {
            return null;
        }
        if (s.getType() == Schema.Type.UNION) {
            for (Schema b : s.getTypes()) {
                if (b.getType() != Schema.Type.NULL) {
                    return convert(v, b, t);
                }
            }
        }
        switch (s.getType()) {
            case STRING:
            case ENUM:
                return v.toString();
            case RECORD:
                GenericRecord r = (GenericRecord) v;
                Row row = new Row(s.getFields().size());
                for (int i = 0; i < s.getFields().size(); i++) {
                    row.setField(
                            i,
                            convert(r.get(i), s.getFields().get(i).schema(), t.getChildren().get(i)));
                }
                return row;
            case ARRAY:
                Collection<?> c = (Collection<?>) v;
                DataType et = t.getChildren().get(0);
                Object arr = Array.newInstance(et.getConversionClass(), c.size());
                int i = 0;
                for (Object o : c) {
                    Array.set(arr, i++, convert(o, s.getElementType(), et));
                }
                return arr;
            case MAP:
                Map<String, Object> m = new HashMap<>();
                DataType vt = t.getChildren().get(1);
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    m.put(e.getKey().toString(), convert(e.getValue(), s.getValueType(), vt));
                }
                return m;
            case BYTES:
                if (s.getLogicalType() instanceof LogicalTypes.Decimal) {
                    ByteBuffer bb = ((ByteBuffer) v).duplicate();
                    byte[] b = new byte[bb.remaining()];
                    bb.get(b);
                    return new java.math.BigDecimal(
                            new java.math.BigInteger(b),
                            ((LogicalTypes.Decimal) s.getLogicalType()).getScale());
                }
                ByteBuffer bb = ((ByteBuffer) v).duplicate();
                byte[] b = new byte[bb.remaining()];
                bb.get(b);
                return b;
            case FIXED:
                return ((org.apache.avro.generic.GenericFixed) v).bytes().clone();
            case LONG:
                if (s.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
                    return LocalDateTime.ofInstant(Instant.ofEpochMilli((Long) v), ZoneOffset.UTC);
                }
                return v;
            default:
                return v; // Integer, Long, Float, Double, Boolean
        }
    }
}
