"""Kafka SASL and registry basic auth from the environment: in every Kafka table, never shown."""

from __future__ import annotations

import re

import pytest

from common import credentials
from common.credentials import CredentialsError, from_env
from common.features.job import main
from common.features.sql import JobSettings, compile_job
from common.runtime.catalog import load_job

# Test-only placeholders, not real credentials.
PASSWORD = "pw-'quoted\"-x"
USER_INFO = "svc-registry:reg-pass-1"
SASL_ENV = {
    credentials.SECURITY_PROTOCOL: "SASL_SSL",
    credentials.SASL_MECHANISM: "SCRAM-SHA-512",
    credentials.SASL_USERNAME: "svc-features",
    credentials.SASL_PASSWORD: PASSWORD,
    credentials.REGISTRY_USER_INFO: USER_INFO,
}


def test_nothing_set_means_no_properties() -> None:
    creds = from_env({})
    assert creds.kafka_properties == {} and creds.registry_user_info is None
    assert creds.redact("text") == "text"


def test_username_and_password_become_a_shaded_scram_login() -> None:
    creds = from_env(SASL_ENV)
    jaas = creds.kafka_properties["sasl.jaas.config"]
    assert creds.kafka_properties["security.protocol"] == "SASL_SSL"
    assert creds.kafka_properties["sasl.mechanism"] == "SCRAM-SHA-512"
    assert jaas.startswith(
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
    )
    assert 'username="svc-features"' in jaas
    assert 'password="pw-\'quoted\\"-x"' in jaas  # the double quote is escaped for JAAS
    assert creds.registry_user_info == USER_INFO


def test_a_jaas_config_is_taken_verbatim() -> None:
    jaas = 'x.PlainLoginModule required username="u" password="p";'
    creds = from_env(
        {
            credentials.SECURITY_PROTOCOL: "SASL_PLAINTEXT",
            credentials.SASL_MECHANISM: "PLAIN",
            credentials.SASL_JAAS_CONFIG: jaas,
        }
    )
    assert creds.kafka_properties["sasl.jaas.config"] == jaas


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({credentials.SECURITY_PROTOCOL: "TLS"}, "use"),
        ({credentials.SASL_MECHANISM: "PLAIN", credentials.SASL_USERNAME: "u"}, "SASL_SSL"),
        (
            {
                credentials.SECURITY_PROTOCOL: "SASL_SSL",
                credentials.SASL_MECHANISM: "PLAIN",
                credentials.SASL_USERNAME: "u",
            },
            "need each other",
        ),
        (
            {credentials.SECURITY_PROTOCOL: "SASL_SSL", credentials.SASL_MECHANISM: "GSSAPI"},
            "GSSAPI",
        ),
        ({credentials.SECURITY_PROTOCOL: "SASL_SSL", credentials.SASL_MECHANISM: "PLAIN"}, "JAAS"),
        ({credentials.REGISTRY_USER_INFO: "no-colon"}, "<user>:<password>"),
    ],
)
def test_inconsistent_settings_are_refused_without_echoing_secrets(
    env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(CredentialsError, match=re.escape(complaint)) as info:
        from_env(env)
    assert "no-colon" not in str(info.value)


def test_every_kafka_table_gets_the_properties_and_every_registry_client_the_auth() -> None:
    creds = from_env(SASL_ENV)
    settings = JobSettings(
        bootstrap_servers="kafka:9093",
        registry_url="https://registry/apis/ccompat/v7",
        redis_url="redis://redis:6379/0",
        kafka_properties=creds.kafka_properties,
        registry_user_info=creds.registry_user_info,
    )
    job = load_job("payment_features")
    compiled = compile_job(job, settings)
    kafka_tables = [s for s in compiled.statements if "'connector' = 'kafka'" in s]
    # source, dead letters (the job's and its window functions'), one sink per view
    assert len(kafka_tables) == 3 + len(job.views)
    for ddl in kafka_tables:
        assert "'properties.security.protocol' = 'SASL_SSL'" in ddl
        assert "'properties.sasl.mechanism' = 'SCRAM-SHA-512'" in ddl
        assert "'properties.sasl.jaas.config' = " in ddl
        assert f"basic-auth.user-info' = '{USER_INFO}'" in ddl
    source = next(s for s in kafka_tables if "source_events" in s)
    assert "'value.featurestream-avro.basic-auth.user-info'" in source
    sinks = [s for s in kafka_tables if "source_events" not in s]
    assert all("'value.featurestream-avro.basic-auth.user-info'" in s for s in sinks)
    online = [s for s in compiled.statements if "featurestream-redis" in s]
    assert online and not any("sasl" in s for s in online)


def test_redact_hides_every_secret_also_in_sql_quoting() -> None:
    creds = from_env(SASL_ENV)
    settings = JobSettings(
        bootstrap_servers="k:9093",
        registry_url="https://r",
        kafka_properties=creds.kafka_properties,
        registry_user_info=creds.registry_user_info,
    )
    text = creds.redact(compile_job(load_job("trade_features"), settings).text())
    assert "pw-" not in text and "reg-pass-1" not in text and "svc-registry" not in text
    assert "<redacted>" in text


def test_explain_prints_no_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in SASL_ENV.items():
        monkeypatch.setenv(key, value)
    main(load_job("payment_features"), ["--explain"])
    out = capsys.readouterr().out
    assert "'properties.sasl.jaas.config' = '<redacted>'" in out
    assert "basic-auth.user-info' = '<redacted>'" in out
    assert "pw-" not in out and "reg-pass-1" not in out


def test_a_bad_setting_stops_the_driver_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(credentials.SASL_MECHANISM, "PLAIN")
    with pytest.raises(SystemExit, match="SASL_SSL"):
        main(load_job("payment_features"), ["--explain"])
