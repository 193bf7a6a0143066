"""Kafka and schema-registry credentials, read from the environment when a job starts.

On Kubernetes the chart fills these variables from Secrets (``secretKeyRef``); values files never
hold a credential. Locally none is set, and jobs talk to the stack without authentication.

=========================================== ================================================
variable                                    becomes
=========================================== ================================================
``FEATURESTREAM_KAFKA_SECURITY_PROTOCOL``   ``security.protocol`` (``SASL_SSL``, ...)
``FEATURESTREAM_KAFKA_SASL_MECHANISM``      ``sasl.mechanism`` (``PLAIN``, ``SCRAM-SHA-512``)
``FEATURESTREAM_KAFKA_SASL_JAAS_CONFIG``    ``sasl.jaas.config``, verbatim
``FEATURESTREAM_KAFKA_SASL_USERNAME`` +     ``sasl.jaas.config`` for the mechanism's login
``FEATURESTREAM_KAFKA_SASL_PASSWORD``       module (when no JAAS config is given)
``FEATURESTREAM_REGISTRY_BASIC_AUTH_USER_INFO`` registry basic auth, ``<user>:<password>``
=========================================== ================================================

Example::

    creds = credentials.from_env()
    JobSettings(..., kafka_properties=creds.kafka_properties,
                registry_user_info=creds.registry_user_info)
    print(creds.redact(compiled.text()))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from common.features.sql import quote

SECURITY_PROTOCOL = "FEATURESTREAM_KAFKA_SECURITY_PROTOCOL"
SASL_MECHANISM = "FEATURESTREAM_KAFKA_SASL_MECHANISM"
SASL_JAAS_CONFIG = "FEATURESTREAM_KAFKA_SASL_JAAS_CONFIG"
SASL_USERNAME = "FEATURESTREAM_KAFKA_SASL_USERNAME"
SASL_PASSWORD = "FEATURESTREAM_KAFKA_SASL_PASSWORD"
REGISTRY_USER_INFO = "FEATURESTREAM_REGISTRY_BASIC_AUTH_USER_INFO"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# Flink's SQL Kafka connector relocates the Kafka client: a JAAS config must name the shaded
# login module, or the broker login fails with "class not found" inside the task.
_SHADED = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security"
LOGIN_MODULES = {
    "PLAIN": f"{_SHADED}.plain.PlainLoginModule",
    "SCRAM-SHA-256": f"{_SHADED}.scram.ScramLoginModule",
    "SCRAM-SHA-512": f"{_SHADED}.scram.ScramLoginModule",
}
REDACTED = "<redacted>"


class CredentialsError(ValueError):
    """The credential variables are inconsistent (the message never contains a secret)."""


@dataclass(frozen=True)
class Credentials:
    """What a job adds to its Kafka tables and registry clients.

    Attributes:
        kafka_properties: Kafka client properties, without Flink's ``properties.`` prefix.
        registry_user_info: ``<user>:<password>`` for the registry, or None.
        secrets: Every secret value, longest first, for ``redact``.
    """

    kafka_properties: dict[str, str] = field(default_factory=dict)
    registry_user_info: str | None = None
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        """``text`` with every secret (also in its SQL-quoted form) replaced by ``<redacted>``."""
        for secret in self.secrets:
            text = text.replace(quote(secret)[1:-1], REDACTED).replace(secret, REDACTED)
        return text


def _jaas(mechanism: str, username: str, password: str) -> str:
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return (
        f'{LOGIN_MODULES[mechanism]} required username="{escaped(username)}" '
        f'password="{escaped(password)}";'
    )


def from_env(environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials named by the ``FEATURESTREAM_KAFKA_*``/``..._REGISTRY_*`` variables.

    Raises:
        CredentialsError: an unknown protocol or mechanism, a username without password, or
            SASL settings without a SASL protocol.
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, "").strip()

    protocol, mechanism = get(SECURITY_PROTOCOL), get(SASL_MECHANISM)
    jaas, username, password = get(SASL_JAAS_CONFIG), get(SASL_USERNAME), env.get(SASL_PASSWORD, "")
    properties: dict[str, str] = {}
    secrets: list[str] = []
    if protocol:
        if protocol not in SECURITY_PROTOCOLS:
            raise CredentialsError(f"{SECURITY_PROTOCOL}={protocol!r}: use {SECURITY_PROTOCOLS}")
        properties["security.protocol"] = protocol
    sasl_given = bool(mechanism or jaas or username or password)
    if sasl_given and not protocol.startswith("SASL_"):
        raise CredentialsError(
            f"SASL credentials are set but {SECURITY_PROTOCOL} is {protocol or 'unset'}: "
            "use SASL_SSL (or SASL_PLAINTEXT)"
        )
    if mechanism:
        if mechanism not in LOGIN_MODULES:
            raise CredentialsError(f"{SASL_MECHANISM}={mechanism!r}: use {tuple(LOGIN_MODULES)}")
        properties["sasl.mechanism"] = mechanism
    if jaas:
        properties["sasl.jaas.config"] = jaas
        secrets.append(jaas)
    elif username or password:
        if not (username and password and mechanism):
            raise CredentialsError(
                f"{SASL_USERNAME} and {SASL_PASSWORD} need each other and {SASL_MECHANISM}"
            )
        properties["sasl.jaas.config"] = _jaas(mechanism, username, password)
        secrets += [properties["sasl.jaas.config"], password]
    elif mechanism:
        raise CredentialsError(
            f"{SASL_MECHANISM} is set but neither {SASL_JAAS_CONFIG} nor "
            f"{SASL_USERNAME}/{SASL_PASSWORD}"
        )
    user_info = env.get(REGISTRY_USER_INFO, "").strip() or None
    if user_info is not None:
        if ":" not in user_info:
            raise CredentialsError(f"{REGISTRY_USER_INFO} must be <user>:<password>")
        secrets += [user_info, user_info.split(":", 1)[1]]
    return Credentials(
        kafka_properties=properties,
        registry_user_info=user_info,
        secrets=tuple(sorted({s for s in secrets if s}, key=len, reverse=True)),
    )
