"""Starting the scoring job on the local cluster: topics created, artefact checked, submitted.

Used by ``featurestream score`` and the tests, like ``common.runtime.launch`` for feature jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common.config import StackConfig
from common.generate.sinks import ensure_topic
from common.models.artifact import load_artifact
from common.models.contract import ModelContract
from common.runtime.launch import RunOptions, submit_module

MODULE = "jobs.model_scoring.job"


def prepare(config: StackConfig, contract: ModelContract, options: RunOptions) -> None:
    """Create the request and result topics (idempotent).

    The request schema is registered by whoever writes requests (the inference request job);
    the result schema by the job itself before it starts
    (``common.features.job.register_sink_schemas``).
    """
    ensure_topic(config, options.source_topic or contract.request_topic)
    ensure_topic(config, contract.result_topic + options.topic_suffix)


def submit(
    config: StackConfig,
    contract: ModelContract,
    model_path: Path,
    options: RunOptions,
    on_progress: Callable[[str], None] = lambda _: None,
) -> str:
    """Check the artefact, prepare the topics and submit; the Flink job id (runs detached).

    Raises:
        ArtifactError: the artefact is missing or was trained for other inputs.
    """
    model_path = model_path.resolve()
    artifact = load_artifact(model_path, contract)  # fail here rather than in flink run
    on_progress(
        f"artefact {model_path} (sha256 {artifact.sha256[:12]}) fits {contract.qualified_name}"
    )
    prepare(config, contract, options)
    on_progress(
        f"submitting model_scoring for {contract.qualified_name} to {config.flink_rest_url}"
    )
    args = [
        "--model",
        contract.name,
        "--version",
        str(contract.version),
        "--model-path",
        str(model_path),
        *options.kafka_job_args(config),
    ]
    # Not shipped: Flink would zip the whole checkout, venv included, for the Python workers
    # (decision 42); they import featurestream from the cluster's python.executable.
    return submit_module(config, MODULE, args, options, ship_code=False)
