import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.config import load_stack_config


def test_defaults_sit_away_from_usual_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FEATURESTREAM_"):
            monkeypatch.delenv(key)
    config = load_stack_config()
    assert config.bootstrap_servers == "127.0.0.1:19092"
    assert config.registry_url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert config.redis_url == "redis://127.0.0.1:16379/0"


def test_env_overrides_defaults_and_arguments_override_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FEATURESTREAM_KAFKA_PORT", "29092")
    monkeypatch.setenv("FEATURESTREAM_DATA_DIR", str(tmp_path))
    assert load_stack_config().kafka_port == 29092
    assert load_stack_config().data_dir == tmp_path
    assert load_stack_config(kafka_port=39092).kafka_port == 39092
    assert load_stack_config(kafka_port=None).kafka_port == 29092  # None means "not given"


def test_unknown_settings_are_rejected() -> None:
    with pytest.raises(ValidationError):
        load_stack_config(kafka_prot=1)
