"""The driver of ``jobs/inference_requests/job.py``: contracts checked, then the job submitted.

``python -m jobs.inference_requests.job --model payment_fraud --explain`` prints its SQL. Before
anything is submitted, each chosen contract is checked against the feature schemas in the
registry (``common.models.registered``): a missing or mistyped feature stops the driver with a
message, so the job never starts reading with a broken contract.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from confluent_kafka.schema_registry import SchemaRegistryClient

from common.features.job import base_arg_parser, driver_credentials, run_driver, settings_from_args
from common.models.contract import ContractError
from common.models.registered import check_registered
from common.models.request_sql import InferenceJob, compile_requests
from common.version import code_version

# Exactly-once output is visible when a checkpoint commits: a short interval keeps the request
# latency near the watermark delay (the p99 budget is out-of-orderness + 500 ms).
CHECKPOINT_INTERVAL = "200 ms"
WATERMARK_INTERVAL = "50 ms"


def main(job: InferenceJob, argv: Sequence[str] | None = None) -> None:
    """Command-line entry point of the inference-request job."""
    parser = base_arg_parser(
        job.name,
        f"Inference requests for models {', '.join(m.qualified_name for m in job.models)}",
        "each model's trigger topic (an override needs exactly one --model)",
        CHECKPOINT_INTERVAL,
    )
    parser.set_defaults(watermark_interval=WATERMARK_INTERVAL, no_online_store=True)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="serve only this model (name or name.vN; repeatable); default: all",
    )
    parser.add_argument("--job-version", default=code_version(), help="stamped on each request")
    args = parser.parse_args(argv)
    creds = driver_credentials(job.name)
    try:
        models = job.select(args.model)
        settings = settings_from_args(args, creds)
        compiled = compile_requests(job, settings, args.job_version, models)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.explain:
        conf = {"url": args.registry_url}
        if creds.registry_user_info:
            conf["basic.auth.user.info"] = creds.registry_user_info
        registry = SchemaRegistryClient(conf)
        try:
            for model in models:
                check_registered(model, registry)
        except ContractError as exc:
            # The first line of a failed `flink run` the CLI shows: make it this message.
            print(f"ContractError: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)
    run_driver(job.dashed, compiled, args, creds)
