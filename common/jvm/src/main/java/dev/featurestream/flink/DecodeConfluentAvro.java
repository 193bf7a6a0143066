package dev.featurestream.flink;

import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;


import java.lang.reflect.Array;
import java.nio.ByteBuffer;
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
    private transient String cachedRegistryUrl;
    private transient ConfluentAvro.WireDecoder wire;

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
        return ConfluentAvro.toType(s);
    }

    // ------------------------------------------------------------------ runtime
    public Row eval(byte[] raw, String schemaText, String registryUrl) {
        if (!schemaText.equals(cachedSchemaText) || !registryUrl.equals(cachedRegistryUrl)) {
            schema = new Schema.Parser().parse(schemaText);
            rowType = outputType(schema);
            wire = new ConfluentAvro.WireDecoder(schema, registryUrl);
            cachedSchemaText = schemaText;
            cachedRegistryUrl = registryUrl;
        }
        int arity = schema.getFields().size() + 1;
        if (raw == null) {
            return null;
        }
        Object decoded = wire.decode(raw);
        if (decoded instanceof String) {
            return error(arity, (String) decoded);
        }
        GenericRecord rec = (GenericRecord) decoded;
        Row out = new Row(arity);
        List<DataType> fieldTypes = rowType.getChildren();
        List<Schema.Field> fields = schema.getFields();
        for (int i = 0; i < fields.size(); i++) {
            out.setField(i, convert(rec.get(i), fields.get(i).schema(), fieldTypes.get(i)));
        }
        return out;
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
