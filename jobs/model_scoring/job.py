"""The model_scoring job: score every inference request of a model with its trained artefact.

``python -m jobs.model_scoring.job --model payment_fraud --model-path <dir>`` builds and submits
the job (``flink run -pym jobs.model_scoring.job ...`` on a cluster; ``featurestream score``
does that for the local one). ``--explain`` prints the SQL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from common.config import load_stack_config
from common.features.job import add_kafka_job_arguments, execute, table_environment
from common.features.sql import JobSettings
from common.models import catalog
from common.models.artifact import load_artifact
from jobs.model_scoring.scoring import SCORE_FUNCTION, compile_scoring, pipeline_name


def build_arg_parser() -> argparse.ArgumentParser:
    """The job's command line; defaults come from the local stack's configuration."""
    parser = argparse.ArgumentParser(
        prog="jobs.model_scoring.job",
        description="Score inference.requests.<model>.v<N> into inference.results.<model>.v<N>.",
    )
    parser.add_argument("--model", required=True, help="contract name, e.g. payment_fraud")
    parser.add_argument("--version", type=int, help="contract version (default: the highest)")
    parser.add_argument(
        "--model-path", required=True, help="artefact directory (featurestream train --output)"
    )
    add_kafka_job_arguments(
        parser,
        load_stack_config(),
        "inference.requests.<model>.v<N>",
        "featurestream-model-scoring-<model>",
    )
    # The chart passes it to every job with the online store off; scoring writes none anyway.
    parser.add_argument("--no-online-store", action="store_true", help="accepted; no effect")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    args = build_arg_parser().parse_args(argv)
    contract = catalog.contract(args.model, args.version)
    settings = JobSettings(
        bootstrap_servers=args.bootstrap_servers,
        registry_url=args.registry_url,
        source_topic=args.source_topic,
        topic_suffix=args.topic_suffix,
        startup=args.startup,
        bounded=args.bounded,
        group_id=args.group_id,
        sink_guarantee=args.sink_guarantee,
    )
    compiled = compile_scoring(contract, settings)
    if args.explain:
        sys.stdout.write(compiled.text())
        return
    # Fails here, before submission, on a missing artefact or one of other inputs; the
    # workers load the same path.
    model_path = Path(args.model_path).resolve()
    artifact = load_artifact(model_path, contract)
    from jobs.model_scoring.udf import score_function

    name = pipeline_name(contract)
    env = table_environment(name, args.checkpoint_interval)
    env.create_temporary_system_function(
        SCORE_FUNCTION, score_function(contract.name, contract.version, str(model_path))
    )
    job_id = execute(env, compiled, wait=args.wait)
    print(f"submitted {name} (artefact {artifact.sha256[:12]}) as job {job_id}", flush=True)


if __name__ == "__main__":
    main()
