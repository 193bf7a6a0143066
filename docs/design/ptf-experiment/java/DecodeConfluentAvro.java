package fsexp;

import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

import java.io.EOFException;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * decode_avro(raw BYTES, schema STRING literal) -> ROW<..fields derived from schema.., error STRING>.
 * Confluent wire format: 0x00 | 4-byte schema id | avro binary body. Never throws on bad input.
 * Writer schema == reader schema (registry lookup stubbed).
 */
public class DecodeConfluentAvro extends ScalarFunction {

    private transient String cachedSchemaText;
    private transient Schema schema;
    private transient GenericDatumReader<GenericRecord> reader;
    private transient DataType rowType;
    private transient BinaryDecoder decoder;

    // ------------------------------------------------------------------ planning time
    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.BYTES(), DataTypes.STRING())
                .outputTypeStrategy(
                        callContext -> {
                            if (!callContext.isArgumentLiteral(1)) {
                                throw callContext.newValidationError(
                                        "decode_avro: schema argument must be a string literal");
                            }
                            String text =
                                    callContext
                                            .getArgumentValue(1, String.class)
                                            .orElseThrow(
                                                    () ->
                                                            callContext.newValidationError(
                                                                    "decode_avro: schema literal is null"));
                            try {
                                return Optional.of(outputType(new Schema.Parser().parse(text)));
                            } catch (RuntimeException e) {
                                throw callContext.newValidationError(
                                        "decode_avro: bad schema: %s", e.getMessage());
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
                    return DataTypes.TIMESTAMP_LTZ(3).bridgedTo(Instant.class);
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
    public Row eval(byte[] raw, String schemaText) {
        if (!schemaText.equals(cachedSchemaText)) {
            schema = new Schema.Parser().parse(schemaText);
            reader = new GenericDatumReader<>(schema); // stub: writer schema == reader schema
            rowType = outputType(schema);
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
        // int schemaId = ByteBuffer.wrap(raw, 1, 4).getInt();  -> registry lookup would go here
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
                    return Instant.ofEpochMilli((Long) v);
                }
                return v;
            default:
                return v; // Integer, Long, Float, Double, Boolean
        }
    }
}
