"""``featurestream new job`` / ``new view`` in a copy of the repository: the scaffold passes the
linters and the schema/golden/lock checks as generated, and its own test (the job over
generated payments against the reference) passes unchanged on the session's stack, before and
after a second view is added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import StackConfig
from tests.conftest import export

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _copy_repo(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _run(repo: Path, env: dict[str, str], *command: str) -> str:
    result = subprocess.run(
        list(command), cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_new_job_and_view_pass_lint_and_their_own_test(
    stack_config: StackConfig, tmp_path: Path
) -> None:
    repo = _copy_repo(tmp_path / "repo")
    env = {
        **os.environ,
        **export(stack_config),
        "FEATURESTREAM_TEST_STACK": "reuse",
        "PYTHONPATH": str(repo),  # the copy's common/ and jobs/, not the installed checkout's
    }
    python = str(BIN / "python")
    out = _run(
        repo, env, python, "-m", "common.cli", "new", "job", "card_velocity",
        "--source", "payments", "--entity", "card_id",
    )  # fmt: skip
    for path in (
        "jobs/card_velocity/features.py",
        "jobs/card_velocity/state.lock.json",
        "schemas/feature_card_velocity_v1.avsc",
        "deploy/helm/golden/card_velocity.prod.yaml",
        "tests/integration/test_job_card_velocity.py",
    ):
        assert (repo / path).is_file(), (path, out)

    def checks() -> None:
        _run(repo, env, str(BIN / "ruff"), "check", ".")
        _run(repo, env, str(BIN / "ruff"), "format", "--check", ".")
        _run(repo, env, str(BIN / "mypy"))  # the project's configuration, as `make lint`
        _run(
            repo, env, str(BIN / "mypy"), "--follow-imports=silent",
            "tests/integration/test_job_card_velocity.py",
        )  # fmt: skip
        _run(repo, env, python, "-m", "common.cli", "schemas", "check")
        _run(repo, env, python, "-m", "common.cli", "render", "--check")
        _run(repo, env, python, "-m", "common.cli", "check-upgrade", "card_velocity")
        _run(
            repo, env, python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/integration/test_job_card_velocity.py",
        )  # fmt: skip

    checks()
    before = (repo / "jobs/card_velocity/features.py").read_text()
    _run(
        repo, env, python, "-m", "common.cli", "new", "view", "card_velocity_merchant",
        "--job", "card_velocity", "--entity", "merchant_id",
    )  # fmt: skip
    after = (repo / "jobs/card_velocity/features.py").read_text()
    added = len(after.splitlines()) - len(before.splitlines())
    assert 0 < added <= 20, added  # room for two more features within 60 lines of diff
    assert (repo / "schemas/feature_card_velocity_merchant_v1.avsc").is_file()
    checks()
