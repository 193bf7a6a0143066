package dev.featurestream.flink;

import org.apache.avro.Schema;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.SerializationFormatFactory;
import org.apache.flink.table.types.DataType;

import java.util.HashSet;
import java.util.Set;

/**
 * Table format {@code featurestream-avro}: Confluent wire-format Avro values that never fail the
 * job. A value that cannot be decoded becomes a row whose {@code decode_error} column holds the
 * dead-letter reason ({@code wrong_magic_byte}, {@code truncated}, {@code unknown_schema_id},
 * {@code undecodable}) and whose {@code raw_value} column holds the original bytes; its schema
 * columns are null except TIMESTAMP columns, which are epoch 0 so a watermark column is never
 * null. Because this is a format (not a function after the source), the Kafka source keeps its
 * native per-partition watermarks and idleness.
 *
 * <pre>
 *   'value.format' = 'featurestream-avro',
 *   'value.featurestream-avro.schema' = '{reader schema json}',
 *   'value.featurestream-avro.url' = 'http://registry/apis/ccompat/v7',
 *   'value.featurestream-avro.basic-auth.user-info' = '<user>:<password>'   -- optional
 * </pre>
 *
 * <p>As a sink format it writes the same wire format with the schema id looked up once per task
 * ({@link FeaturestreamAvroSerializationSchema}); it then needs the registry subject:
 *
 * <pre>
 *   'value.featurestream-avro.subject' = '<topic>-value'
 * </pre>
 */
public class FeaturestreamAvroFormatFactory
        implements DeserializationFormatFactory, SerializationFormatFactory {

    public static final String IDENTIFIER = "featurestream-avro";

    public static final ConfigOption<String> SCHEMA =
            ConfigOptions.key("schema")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Reader schema (Avro JSON); the value columns are its fields.");

    public static final ConfigOption<String> URL =
            ConfigOptions.key("url")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Schema registry base URL (Confluent API).");

    /** Named like avro-confluent's option, so Flink masks it ("basic-auth") in logs. */
    public static final ConfigOption<String> BASIC_AUTH_USER_INFO =
            ConfigOptions.key("basic-auth.user-info")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Registry basic auth as <user>:<password> (optional).");

    public static final ConfigOption<String> SUBJECT =
            ConfigOptions.key("subject")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Registry subject a sink writes under (<topic>-value).");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(SCHEMA);
        options.add(URL);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(BASIC_AUTH_USER_INFO);
        options.add(SUBJECT);
        return options;
    }

    /** The options both directions read, validated. */
    private static final class Options {
        final String schemaText;
        final String url;
        final String userInfo;

        Options(FeaturestreamAvroFormatFactory factory, ReadableConfig formatOptions) {
            FactoryUtil.validateFactoryOptions(factory, formatOptions);
            schemaText = formatOptions.get(SCHEMA);
            url = formatOptions.get(URL);
            userInfo = formatOptions.getOptional(BASIC_AUTH_USER_INFO).orElse(null);
            Schema schema;
            try {
                schema = new Schema.Parser().parse(schemaText);
            } catch (RuntimeException e) {
                throw new ValidationException(
                        IDENTIFIER + ": option 'schema' is not a valid Avro schema: "
                                + e.getMessage(),
                        e);
            }
            if (schema.getType() != Schema.Type.RECORD) {
                throw new ValidationException(IDENTIFIER + ": the schema must be a record");
            }
            if (url.isBlank()) {
                throw new ValidationException(IDENTIFIER + ": option 'url' is empty");
            }
        }
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        Options options = new Options(this, formatOptions);
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context ctx, DataType physicalDataType) {
                return new FeaturestreamAvroDeserializationSchema(
                        options.schemaText,
                        options.url,
                        options.userInfo,
                        physicalDataType.getLogicalType(),
                        ctx.createTypeInformation(physicalDataType));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public EncodingFormat<SerializationSchema<RowData>> createEncodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        Options options = new Options(this, formatOptions);
        String subject = formatOptions.getOptional(SUBJECT).orElse("");
        if (subject.isBlank()) {
            throw new ValidationException(
                    IDENTIFIER + ": a sink needs option 'subject' (the topic's '<topic>-value')");
        }
        return new EncodingFormat<SerializationSchema<RowData>>() {
            @Override
            public SerializationSchema<RowData> createRuntimeEncoder(
                    DynamicTableSink.Context ctx, DataType physicalDataType) {
                return new FeaturestreamAvroSerializationSchema(
                        options.schemaText,
                        options.url,
                        options.userInfo,
                        subject,
                        physicalDataType.getLogicalType());
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }
}
