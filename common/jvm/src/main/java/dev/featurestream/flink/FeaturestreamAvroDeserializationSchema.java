package dev.featurestream.flink;

import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runtime decoder of the {@code featurestream-avro} format: Confluent wire-format bytes to
 * internal {@link RowData} in the DDL's value-column order. Never throws on bad bytes (see
 * {@link FeaturestreamAvroFormatFactory}). A registry outage holds decoding back (retried with
 * backoff, counted in {@code registryLookupRetries}) and throws only when it outlasts the retry
 * timeout.
 */
public final class FeaturestreamAvroDeserializationSchema implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    static final String DECODE_ERROR = "decode_error";
    static final String RAW_VALUE = "raw_value";

    private final String schemaText;
    private final String registryUrl;
    private final String registryUserInfo; // basic auth "<user>:<password>", or null
    private final RowType rowType;
    private final TypeInformation<RowData> producedType;

    private transient Plan plan;
    private transient ConfluentAvro.WireDecoder wire;
    private transient org.apache.flink.metrics.Counter recordsRead;

    FeaturestreamAvroDeserializationSchema(
            String schemaText,
            String registryUrl,
            String registryUserInfo,
            LogicalType physicalType,
            TypeInformation<RowData> producedType) {
        if (!(physicalType instanceof RowType)) {
            throw new ValidationException(
                    FeaturestreamAvroFormatFactory.IDENTIFIER + ": value type must be a row");
        }
        this.schemaText = schemaText;
        this.registryUrl = registryUrl;
        this.registryUserInfo = registryUserInfo;
        this.rowType = (RowType) physicalType;
        this.producedType = producedType;
        this.plan = new Plan(new Schema.Parser().parse(schemaText), rowType); // validates now
    }

    @Override
    public void open(InitializationContext context) {
        ensureOpen();
        org.apache.flink.metrics.Counter retries =
                context.getMetricGroup().counter("registryLookupRetries");
        wire.onRetry(retries::inc);
        // Every value read, decodable or not: the dead-letter ratio's denominator (the Kafka
        // source's own numRecordsIn cannot be told apart from other operators' by name).
        recordsRead = context.getMetricGroup().counter("recordsRead");
    }

    private void ensureOpen() {
        if (plan == null) {
            plan = new Plan(new Schema.Parser().parse(schemaText), rowType);
        }
        if (wire == null) {
            wire = new ConfluentAvro.WireDecoder(plan.projected, registryUrl, registryUserInfo);
        }
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (message == null) {
            return null; // tombstone: nothing to decode, nothing to route
        }
        ensureOpen();
        if (recordsRead != null) { // null when a caller decodes without open()
            recordsRead.inc();
        }
        Object decoded = wire.decode(message);
        Plan p = plan;
        GenericRowData row = new GenericRowData(p.arity);
        if (decoded instanceof String) {
            for (int pos : p.timestampColumns) {
                row.setField(pos, EPOCH);
            }
            if (p.errorPos >= 0) {
                row.setField(p.errorPos, StringData.fromString((String) decoded));
            }
        } else {
            GenericRecord rec = (GenericRecord) decoded;
            for (int i = 0; i < p.columnPos.length; i++) {
                Object v = rec.get(i);
                row.setField(p.columnPos[i], v == null ? null : p.converters[i].convert(v));
            }
        }
        if (p.rawPos >= 0) {
            row.setField(p.rawPos, message);
        }
        return row;
    }

    private static final TimestampData EPOCH = TimestampData.fromEpochMillis(0L);

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }

    // ------------------------------------------------------------------ planning

    @FunctionalInterface
    interface Converter {
        Object convert(Object avroValue);
    }

    /** Column mapping and converters, derived from the reader schema and the DDL row type. */
    static final class Plan {
        final int arity;
        final int errorPos;
        final int rawPos;
        final int[] timestampColumns;
        /** Reader schema cut down to the DDL's schema columns, in DDL order. */
        final Schema projected;
        /** DDL position of the i-th projected field. */
        final int[] columnPos;
        final Converter[] converters;

        Plan(Schema reader, RowType rowType) {
            String id = FeaturestreamAvroFormatFactory.IDENTIFIER;
            List<RowType.RowField> columns = rowType.getFields();
            arity = columns.size();
            int error = -1;
            int raw = -1;
            List<Integer> ts = new ArrayList<>();
            List<Schema.Field> projectedFields = new ArrayList<>();
            List<Integer> positions = new ArrayList<>();
            List<Converter> convs = new ArrayList<>();
            for (int pos = 0; pos < columns.size(); pos++) {
                RowType.RowField column = columns.get(pos);
                String name = column.getName();
                LogicalType type = column.getType();
                Schema.Field field = reader.getField(name);
                if (field == null && name.equals(DECODE_ERROR)) {
                    if (!type.is(LogicalTypeRoot.VARCHAR) && !type.is(LogicalTypeRoot.CHAR)) {
                        throw new ValidationException(
                                id + ": column decode_error must be STRING, not " + type);
                    }
                    error = pos;
                    continue;
                }
                if (field == null && name.equals(RAW_VALUE)) {
                    if (!type.is(LogicalTypeRoot.VARBINARY) && !type.is(LogicalTypeRoot.BINARY)) {
                        throw new ValidationException(
                                id + ": column raw_value must be BYTES, not " + type);
                    }
                    raw = pos;
                    continue;
                }
                if (field == null) {
                    throw new ValidationException(
                            String.format(
                                    "%s: column '%s' is not a field of reader schema %s (fields: %s;"
                                            + " extra columns allowed: decode_error STRING,"
                                            + " raw_value BYTES)",
                                    id, name, reader.getFullName(), fieldNames(reader)));
                }
                LogicalType expected = ConfluentAvro.toType(field.schema()).getLogicalType();
                if (!compatible(expected, type)) {
                    throw new ValidationException(
                            String.format(
                                    "%s: column '%s' is declared %s but reader schema field maps to %s",
                                    id, name, type.asSummaryString(), expected.asSummaryString()));
                }
                if (type.is(LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE)
                        || type.is(LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE)) {
                    ts.add(pos);
                }
                projectedFields.add(new Schema.Field(field, field.schema()));
                positions.add(pos);
                convs.add(converter(field.schema(), type));
            }
            errorPos = error;
            rawPos = raw;
            timestampColumns = ts.stream().mapToInt(Integer::intValue).toArray();
            columnPos = positions.stream().mapToInt(Integer::intValue).toArray();
            converters = convs.toArray(new Converter[0]);
            projected =
                    Schema.createRecord(
                            reader.getName(),
                            reader.getDoc(),
                            reader.getNamespace(),
                            reader.isError(),
                            projectedFields);
            for (String alias : reader.getAliases()) {
                projected.addAlias(alias);
            }
        }
    }

    private static List<String> fieldNames(Schema s) {
        List<String> names = new ArrayList<>();
        for (Schema.Field f : s.getFields()) {
            names.add(f.name());
        }
        return names;
    }

    /** Same type up to nullability (anywhere) and VARCHAR/VARBINARY length; LTZ for TIMESTAMP. */
    static boolean compatible(LogicalType expected, LogicalType actual) {
        LogicalTypeRoot e = expected.getTypeRoot();
        LogicalTypeRoot a = actual.getTypeRoot();
        if (e == LogicalTypeRoot.VARCHAR) {
            return a == LogicalTypeRoot.VARCHAR;
        }
        if (e == LogicalTypeRoot.VARBINARY) {
            return a == LogicalTypeRoot.VARBINARY;
        }
        if (e == LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE) {
            return (a == LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE
                            || a == LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE)
                    && precision(actual) == 3;
        }
        if (e != a) {
            return false;
        }
        if (e == LogicalTypeRoot.ROW) {
            List<String> en = ((RowType) expected).getFieldNames();
            List<String> an = ((RowType) actual).getFieldNames();
            if (!en.equals(an)) {
                return false;
            }
        }
        List<LogicalType> ec = expected.getChildren();
        List<LogicalType> ac = actual.getChildren();
        if (ec.isEmpty()) {
            return expected.copy(true).equals(actual.copy(true));
        }
        if (ec.size() != ac.size()) {
            return false;
        }
        for (int i = 0; i < ec.size(); i++) {
            if (!compatible(ec.get(i), ac.get(i))) {
                return false;
            }
        }
        return true;
    }

    private static int precision(LogicalType t) {
        if (t instanceof org.apache.flink.table.types.logical.TimestampType) {
            return ((org.apache.flink.table.types.logical.TimestampType) t).getPrecision();
        }
        if (t instanceof org.apache.flink.table.types.logical.LocalZonedTimestampType) {
            return ((org.apache.flink.table.types.logical.LocalZonedTimestampType) t).getPrecision();
        }
        return -1;
    }

    /** Avro generic value (non-null) -> Flink internal data structure for {@code t}. */
    static Converter converter(Schema s, LogicalType t) {
        if (s.getType() == Schema.Type.UNION) {
            return converter(ConfluentAvro.nonNullBranch(s), t);
        }
        switch (s.getType()) {
            case STRING:
                return v ->
                        v instanceof Utf8
                                ? StringData.fromBytes(
                                        ((Utf8) v).getBytes(), 0, ((Utf8) v).getByteLength())
                                : StringData.fromString(v.toString());
            case ENUM:
                return v -> StringData.fromString(v.toString());
            case RECORD: {
                RowType rt = (RowType) t;
                List<Schema.Field> fields = s.getFields();
                Converter[] cs = new Converter[fields.size()];
                for (int i = 0; i < cs.length; i++) {
                    cs[i] = converter(fields.get(i).schema(), rt.getTypeAt(rt.getFieldIndex(fields.get(i).name())));
                }
                return v -> {
                    GenericRecord r = (GenericRecord) v;
                    GenericRowData row = new GenericRowData(cs.length);
                    for (int i = 0; i < cs.length; i++) {
                        Object f = r.get(i);
                        row.setField(i, f == null ? null : cs[i].convert(f));
                    }
                    return row;
                };
            }
            case ARRAY: {
                Converter ec = converter(s.getElementType(), t.getChildren().get(0));
                return v -> {
                    Collection<?> c = (Collection<?>) v;
                    Object[] out = new Object[c.size()];
                    int i = 0;
                    for (Object o : c) {
                        out[i++] = o == null ? null : ec.convert(o);
                    }
                    return new GenericArrayData(out);
                };
            }
            case MAP: {
                Converter vc = converter(s.getValueType(), t.getChildren().get(1));
                return v -> {
                    Map<Object, Object> out = new HashMap<>();
                    for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                        Object ev = e.getValue();
                        out.put(
                                StringData.fromString(e.getKey().toString()),
                                ev == null ? null : vc.convert(ev));
                    }
                    return new GenericMapData(out);
                };
            }
            case BYTES:
                if (s.getLogicalType() instanceof LogicalTypes.Decimal) {
                    LogicalTypes.Decimal d = (LogicalTypes.Decimal) s.getLogicalType();
                    return v -> DecimalData.fromUnscaledBytes(bytes((ByteBuffer) v), d.getPrecision(), d.getScale());
                }
                return v -> bytes((ByteBuffer) v);
            case FIXED:
                if (s.getLogicalType() instanceof LogicalTypes.Decimal) {
                    LogicalTypes.Decimal d = (LogicalTypes.Decimal) s.getLogicalType();
                    return v ->
                            DecimalData.fromUnscaledBytes(
                                    ((GenericFixed) v).bytes().clone(), d.getPrecision(), d.getScale());
                }
                return v -> ((GenericFixed) v).bytes().clone();
            case LONG:
                if (s.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
                    return v -> TimestampData.fromEpochMillis((Long) v);
                }
                return v -> v;
            default:
                return v -> v; // Integer, Float, Double, Boolean
        }
    }

    private static byte[] bytes(ByteBuffer v) {
        ByteBuffer bb = v.duplicate();
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        return b;
    }
}
