package dev.featurestream.flink;

import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Runtime encoder of the {@code featurestream-avro} format: internal {@link RowData} straight to
 * Confluent wire-format Avro (magic byte, schema id, binary body).
 *
 * <p>Why not Flink's {@code avro-confluent}: its serializer asks the registry client for the
 * schema id of every record ({@code CachedSchemaRegistryClient.register}, a bounded-map lookup
 * that was a fifth of a pass-through job's CPU) and converts each row to a {@code GenericRecord}
 * before writing it. Here the id is looked up once when the task opens (registered if new; the
 * job's driver registers the same text first, so parallel writers only look it up), and each
 * field is written by a writer chosen at planning time.
 *
 * <p>Supported: records whose fields are, in the table's column order and with the same names,
 * {@code string}, {@code bytes}, {@code int}, {@code long}, {@code float}, {@code double},
 * {@code boolean}, {@code timestamp-millis} longs (from {@code TIMESTAMP(3)} or
 * {@code TIMESTAMP_LTZ(3)}), nested records (from {@code ROW}), arrays of non-null strings and
 * numbers, and {@code ["null", T]} unions of these. Anything else is refused when the job is
 * planned.
 */
public final class FeaturestreamAvroSerializationSchema implements SerializationSchema<RowData> {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String schemaText;
    private final String registryUrl;
    private final String registryUserInfo; // basic auth "<user>:<password>", or null
    private final String subject;
    private final RowType rowType;

    private transient FieldWriter[] writers;
    private transient byte[] header;
    private transient ByteArrayOutputStream buffer;
    private transient BinaryEncoder encoder;

    FeaturestreamAvroSerializationSchema(
            String schemaText,
            String registryUrl,
            String registryUserInfo,
            String subject,
            LogicalType physicalType) {
        if (!(physicalType instanceof RowType)) {
            throw new ValidationException(
                    FeaturestreamAvroFormatFactory.IDENTIFIER + ": value type must be a row");
        }
        this.schemaText = schemaText;
        this.registryUrl = registryUrl;
        this.registryUserInfo = registryUserInfo;
        this.subject = subject;
        this.rowType = (RowType) physicalType;
        recordWriters(parse(schemaText), rowType, ""); // validates at planning time
    }

    /**
     * The schema text this format registers for {@code schemaText}: what the job's driver must
     * register first (the registry matches texts exactly).
     */
    public static String registeredText(String schemaText) {
        return parse(schemaText).toString();
    }

    @Override
    public void open(InitializationContext context) {
        org.apache.flink.metrics.Counter retries =
                context.getMetricGroup().counter("registryLookupRetries");
        open(retries::inc);
    }

    void open(Runnable onRetry) {
        Schema schema = parse(schemaText);
        RegistryHttp registry = new RegistryHttp(registryUrl, registryUserInfo);
        int id =
                RegistryHttp.withRetry(
                        () -> schemaId(registry, schema.toString()),
                        ConfluentAvro.WireDecoder.REGISTRY_RETRY_TIMEOUT_MILLIS,
                        onRetry,
                        "subject " + subject);
        prepare(id);
    }

    /** Ready to serialize with schema id {@code id} (what {@code open} found in the registry). */
    void prepare(int id) {
        writers = recordWriters(parse(schemaText), rowType, "");
        header = new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id};
        buffer = new ByteArrayOutputStream(256);
        encoder = EncoderFactory.get().directBinaryEncoder(buffer, null);
    }

    @Override
    public byte[] serialize(RowData row) {
        buffer.reset();
        buffer.write(header, 0, header.length);
        try {
            for (FieldWriter writer : writers) {
                writer.write(row, encoder);
            }
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return buffer.toByteArray();
    }

    /** The id of {@code text} under the subject: looked up, else registered. */
    private int schemaId(RegistryHttp registry, String text) {
        String path = "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8);
        ObjectNode body = JSON.createObjectNode().put("schema", text);
        HttpResponse<String> found = registry.send("POST", path, body.toString());
        if (found.statusCode() == 200) {
            return idOf(found);
        }
        if (found.statusCode() != 404) {
            throw new IllegalStateException(
                    "subject " + subject + ": registry answered HTTP " + found.statusCode()
                            + " to a schema lookup: " + found.body());
        }
        HttpResponse<String> registered = registry.send("POST", path + "/versions", body.toString());
        if (registered.statusCode() != 200) {
            throw new IllegalStateException(
                    "subject " + subject + ": registry refused the schema (HTTP "
                            + registered.statusCode() + "): " + registered.body());
        }
        return idOf(registered);
    }

    private int idOf(HttpResponse<String> response) {
        try {
            JsonNode id = JSON.readTree(response.body()).get("id");
            if (id == null || !id.canConvertToInt()) {
                throw new IllegalStateException("registry answer without an id: " + response.body());
            }
            return id.asInt();
        } catch (IOException e) {
            throw new IllegalStateException("unreadable registry answer: " + response.body(), e);
        }
    }

    private static Schema parse(String text) {
        try {
            return new Schema.Parser().parse(text);
        } catch (RuntimeException e) {
            throw new ValidationException(
                    FeaturestreamAvroFormatFactory.IDENTIFIER
                            + ": option 'schema' is not a valid Avro schema: "
                            + e.getMessage(),
                    e);
        }
    }

    // --- writers, chosen once per field ----------------------------------------------------

    /** Writes one field of a row. */
    @FunctionalInterface
    private interface FieldWriter {
        void write(RowData row, BinaryEncoder out) throws IOException;
    }

    /** Writes a non-null value at a position of a row. */
    @FunctionalInterface
    private interface ValueWriter {
        void write(RowData row, int pos, BinaryEncoder out) throws IOException;
    }

    private static FieldWriter[] recordWriters(Schema schema, RowType type, String path) {
        if (schema.getType() != Schema.Type.RECORD) {
            throw refuse(path.isEmpty() ? "the schema" : path, "must be a record", schema, type);
        }
        List<Schema.Field> fields = schema.getFields();
        List<RowType.RowField> columns = type.getFields();
        if (fields.size() != columns.size()) {
            throw new ValidationException(
                    FeaturestreamAvroFormatFactory.IDENTIFIER + ": " + (path.isEmpty() ? "the schema" : path)
                            + " has " + fields.size() + " fields, the table " + columns.size()
                            + " value columns");
        }
        FieldWriter[] writers = new FieldWriter[fields.size()];
        for (int i = 0; i < writers.length; i++) {
            Schema.Field field = fields.get(i);
            RowType.RowField column = columns.get(i);
            String name = path.isEmpty() ? field.name() : path + "." + field.name();
            if (!field.name().equals(column.getName())) {
                throw new ValidationException(
                        FeaturestreamAvroFormatFactory.IDENTIFIER + ": field " + i + " is '"
                                + name + "' in the schema but '" + column.getName()
                                + "' in the table (same names, same order)");
            }
            writers[i] = fieldWriter(field.schema(), column.getType(), i, name);
        }
        return writers;
    }

    private static FieldWriter fieldWriter(Schema schema, LogicalType type, int pos, String name) {
        if (schema.getType() == Schema.Type.UNION) {
            List<Schema> branches = schema.getTypes();
            int nullIndex = branches.size() == 2 ? indexOfNull(branches) : -1;
            if (nullIndex < 0) {
                throw refuse(name, "only [\"null\", T] unions are supported", schema, type);
            }
            int valueIndex = 1 - nullIndex;
            ValueWriter value = valueWriter(branches.get(valueIndex), type, name);
            return (row, out) -> {
                if (row.isNullAt(pos)) {
                    out.writeIndex(nullIndex);
                } else {
                    out.writeIndex(valueIndex);
                    value.write(row, pos, out);
                }
            };
        }
        ValueWriter value = valueWriter(schema, type, name);
        return (row, out) -> {
            if (row.isNullAt(pos)) {
                throw new IllegalArgumentException(
                        "field '" + name + "' is null but its Avro type " + schema + " is not nullable");
            }
            value.write(row, pos, out);
        };
    }

    private static int indexOfNull(List<Schema> branches) {
        for (int i = 0; i < branches.size(); i++) {
            if (branches.get(i).getType() == Schema.Type.NULL) {
                return i;
            }
        }
        return -1;
    }

    private static ValueWriter valueWriter(Schema schema, LogicalType type, String name) {
        switch (schema.getType()) {
            case STRING:
                requireRoot(type, name, schema, "CHAR", "VARCHAR");
                return (row, pos, out) -> out.writeBytes(row.getString(pos).toBytes());
            case BYTES:
                requireRoot(type, name, schema, "BINARY", "VARBINARY");
                return (row, pos, out) -> out.writeBytes(row.getBinary(pos));
            case INT:
                requireRoot(type, name, schema, "INTEGER");
                return (row, pos, out) -> out.writeInt(row.getInt(pos));
            case FLOAT:
                requireRoot(type, name, schema, "FLOAT");
                return (row, pos, out) -> out.writeFloat(row.getFloat(pos));
            case DOUBLE:
                requireRoot(type, name, schema, "DOUBLE");
                return (row, pos, out) -> out.writeDouble(row.getDouble(pos));
            case BOOLEAN:
                requireRoot(type, name, schema, "BOOLEAN");
                return (row, pos, out) -> out.writeBoolean(row.getBoolean(pos));
            case LONG:
                if (schema.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
                    int precision = timestampPrecision(type);
                    if (precision < 0) {
                        throw refuse(name, "timestamp-millis needs a TIMESTAMP column", schema, type);
                    }
                    return (row, pos, out) ->
                            out.writeLong(row.getTimestamp(pos, precision).getMillisecond());
                }
                if (schema.getLogicalType() != null) {
                    throw refuse(name, "unsupported logical type", schema, type);
                }
                requireRoot(type, name, schema, "BIGINT");
                return (row, pos, out) -> out.writeLong(row.getLong(pos));
            case RECORD:
                if (!(type instanceof RowType)) {
                    throw refuse(name, "a record needs a ROW column", schema, type);
                }
                int arity = ((RowType) type).getFieldCount();
                FieldWriter[] nested = recordWriters(schema, (RowType) type, name);
                return (row, pos, out) -> {
                    RowData inner = row.getRow(pos, arity);
                    for (FieldWriter writer : nested) {
                        writer.write(inner, out);
                    }
                };
            case ARRAY:
                if (!(type instanceof ArrayType)) {
                    throw refuse(name, "an array needs an ARRAY column", schema, type);
                }
                ElementWriter items =
                        elementWriter(schema.getElementType(), ((ArrayType) type).getElementType(), name);
                return (row, pos, out) -> {
                    ArrayData array = row.getArray(pos);
                    int size = array.size();
                    out.writeArrayStart();
                    out.setItemCount(size);
                    for (int i = 0; i < size; i++) {
                        out.startItem();
                        if (array.isNullAt(i)) {
                            throw new IllegalArgumentException(
                                    "field '" + name + "' holds a null item; its items are not nullable");
                        }
                        items.write(array, i, out);
                    }
                    out.writeArrayEnd();
                };
            default:
                throw refuse(name, "unsupported Avro type", schema, type);
        }
    }

    /** Writes a non-null array item. */
    @FunctionalInterface
    private interface ElementWriter {
        void write(ArrayData array, int i, BinaryEncoder out) throws IOException;
    }

    private static ElementWriter elementWriter(Schema schema, LogicalType type, String name) {
        String item = name + "[]";
        switch (schema.getType()) {
            case STRING:
                requireRoot(type, item, schema, "CHAR", "VARCHAR");
                return (a, i, out) -> out.writeBytes(a.getString(i).toBytes());
            case INT:
                requireRoot(type, item, schema, "INTEGER");
                return (a, i, out) -> out.writeInt(a.getInt(i));
            case LONG:
                if (schema.getLogicalType() != null) {
                    throw refuse(item, "unsupported logical type in an array", schema, type);
                }
                requireRoot(type, item, schema, "BIGINT");
                return (a, i, out) -> out.writeLong(a.getLong(i));
            case DOUBLE:
                requireRoot(type, item, schema, "DOUBLE");
                return (a, i, out) -> out.writeDouble(a.getDouble(i));
            case BOOLEAN:
                requireRoot(type, item, schema, "BOOLEAN");
                return (a, i, out) -> out.writeBoolean(a.getBoolean(i));
            default:
                throw refuse(item, "arrays of this type are not supported", schema, type);
        }
    }

    private static int timestampPrecision(LogicalType type) {
        if (type instanceof TimestampType) {
            return ((TimestampType) type).getPrecision();
        }
        if (type instanceof LocalZonedTimestampType) {
            return ((LocalZonedTimestampType) type).getPrecision();
        }
        return -1;
    }

    private static void requireRoot(LogicalType type, String name, Schema schema, String... roots) {
        String root = type.getTypeRoot().name();
        for (String allowed : roots) {
            if (root.equals(allowed)) {
                return;
            }
        }
        throw refuse(name, "column type does not match", schema, type);
    }

    private static ValidationException refuse(
            String name, String why, Schema schema, LogicalType type) {
        return new ValidationException(
                FeaturestreamAvroFormatFactory.IDENTIFIER + ": field '" + name + "': " + why
                        + " (Avro " + schema + ", column " + type.asSummaryString()
                        + "); use value.format avro-confluent for such a sink");
    }
}
