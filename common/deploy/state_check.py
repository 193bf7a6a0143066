"""Upgrade safety: will the changed job restore from the savepoints of the one that runs?

Every job commits ``jobs/<job>/state.lock.json``: its stateful operators as Flink will restore
them (uid, what they are, their key and state), taken from the job's compiled plan. ``featurestream
check-upgrade <job>`` compiles the job as it is now, compares it with that file and says, per
operator, what a restore does, with the remedy when it breaks:

=============================== ====================================================== =========
change                           on restore                                             verdict
=============================== ====================================================== =========
window function gone             its state is dropped                                   breaking*
window key type changed          its state cannot be read                               breaking
window state format changed      its state cannot be read                               breaking
aggregate added, fold known      moved as it is                                         safe
aggregate added, input kept,     rebuilt exactly from the key's history                 safe
window <= largest earlier one
aggregate added otherwise        its values cover only what is left until a window     warm-up**
                                 has passed
source / sink / join uid gone    offsets / open transactions / joins in flight lost    breaking*
max parallelism changed          no state can be restored                               breaking
=============================== ====================================================== =========

``*`` accepted with ``--allow-non-restored-state``; ``**`` with ``--allow-warmup``. The documented
way to make a breaking change is a new feature view version (``version=2``: new uid, new topic).
The window-function rules are the ones ``WindowEvolution`` (common/jvm) applies at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common.features.job import MAX_PARALLELISM
from common.features.sql import CompiledJob, JobSettings, compile_job
from common.models.request_sql import InferenceJob, compile_requests
from common.runtime.launch import Job

# Re-exported: callers read and write locks through this module.
from common.runtime.locks import LOCK_NAME as LOCK_NAME
from common.runtime.locks import lock_path as lock_path
from common.runtime.locks import read_lock as read_lock

LOCK_VERSION = 1
# Placeholder endpoints: the plan's shape does not depend on them.
_SETTINGS = JobSettings(
    bootstrap_servers="kafka:9092",
    registry_url="http://registry:8081",
    redis_url="redis://redis:6379/0",
)
# uid = "<exec node id>_<transformation>" (table.exec.uid.format); checked against the job
# vertex ids Flink derives from them.
_TRANSFORMATIONS = {
    "stream-exec-table-source-scan": ("source", "source"),
    "stream-exec-sink": ("sink", "sink"),
    "stream-exec-interval-join": ("interval-join", "join"),
}
_STATE = {
    "source": "Kafka split offsets",
    "sink": "Kafka transactions in flight",
    "join": "rows waiting for their join partner",
}
STATELESS = "none"
"""The state of a sink that keeps none (the Redis writer flushes at every checkpoint)."""


def _compiled(job: Job) -> CompiledJob:
    if isinstance(job, InferenceJob):
        return compile_requests(job, _SETTINGS, job_version="state-check")
    return compile_job(job, _SETTINGS)


def _plan_json(compiled: CompiledJob) -> dict[str, Any]:
    """The job's compiled plan (Flink's JSON), planned in a local JVM with the stack's jars."""
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from common.config import load_stack_config
    from common.local import artifacts, jvm_functions

    cache = load_stack_config().cache_dir
    jars = [
        jvm_functions.functions_jar(cache),
        *sorted(artifacts.part_dir(cache, "flink").glob("*.jar")),
    ]
    missing = [str(j) for j in jars if not j.is_file()]
    if missing:
        raise FileNotFoundError(f"jars missing (run `make setup`): {', '.join(missing)}")
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.jars", ";".join(j.resolve().as_uri() for j in jars))
    config.set("table.local-time-zone", "UTC")
    config.set("table.exec.uid.generation", "ALWAYS")
    env.execute_sql(
        "CREATE TEMPORARY SYSTEM FUNCTION fs_count_dead_letter "
        "AS 'dev.featurestream.flink.CountDeadLetter' LANGUAGE JAVA"
    )
    jvm = get_gateway().jvm
    for name, spec in compiled.window_functions.items():
        env._j_tenv.createTemporarySystemFunction(
            name, jvm.dev.featurestream.flink.WindowFeatures(spec)
        )
    for statement in compiled.statements:
        env.execute_sql(statement)
    statements = env.create_statement_set()
    for insert in compiled.inserts:
        statements.add_insert_sql(insert)
    plan: dict[str, Any] = json.loads(statements._j_statement_set.compilePlan().asJsonString())
    return plan


def _table(node: dict[str, Any], field: str) -> tuple[str, dict[str, str]]:
    spec = node[field]["table"]
    name = spec["identifier"].split(".")[-1].strip("`")
    options = spec.get("resolvedTable", {}).get("options", {})
    return name, options


def _layout(spec: dict[str, Any]) -> dict[str, Any]:
    """What a window function's state is written for (``WindowLayout`` in common/jvm)."""
    expressions = {i["column"]: i["expression"] for i in spec["inputs"]}
    return {
        "inputs": [i["expression"] for i in spec["inputs"]],
        "carry": spec.get("carry", []),
        "aggregates": [
            [a["name"], a["function"], expressions.get(a["input"]), a["window_ms"]]
            for a in spec["aggregates"]
        ],
    }


def inventory(job: Job) -> dict[str, Any]:
    """The stateful operators of ``job`` as they would be restored (the lock file's content)."""
    compiled = _compiled(job)
    plan = _plan_json(compiled)
    # Exec node ids come from a JVM-wide counter: the job's own driver plans once in a fresh JVM
    # (ids from 1); a process that planned other jobs first is offset by a constant.
    offset = min(node["id"] for node in plan["nodes"]) - 1
    operators: list[dict[str, Any]] = []
    for node in plan["nodes"]:
        node["id"] -= offset
        kind = node["type"].rsplit("_", 1)[0]
        if kind == "stream-exec-process-table-function":
            call = node["functionCall"]
            function = call["systemName"]
            table = call["operands"][0]
            fields = table["type"]["fields"]
            spec = json.loads(compiled.window_functions[function])
            operators.append(
                {
                    "uid": node["uid"],
                    "kind": "window",
                    "name": f"{spec['view']}.v{spec['version']}",
                    "key": [
                        f"{fields[i]['name']} {fields[i]['fieldType']}"
                        for i in table["partitionKeys"]
                    ],
                    "state": "window state (accumulators, pending events, history, distinct)",
                    "spec_version": spec["spec_version"],
                    "layout": _layout(spec),
                }
            )
        elif kind in _TRANSFORMATIONS:
            transformation, short = _TRANSFORMATIONS[kind]
            entry: dict[str, Any] = {"uid": f"{node['id']}_{transformation}", "kind": short}
            if short == "source":
                entry["name"], options = _table(node, "scanTableSource")
                entry["topic"] = options.get("topic", "")
            elif short == "sink":
                entry["name"], options = _table(node, "dynamicTableSink")
                entry["connector"] = options.get("connector", "")
            else:
                entry["name"] = node.get("description", "join").split("(")[0]
            stateless = short == "sink" and entry["connector"] != "kafka"
            entry["state"] = STATELESS if stateless else _STATE[short]
            operators.append(entry)
    return {
        "lock_version": LOCK_VERSION,
        "job": job.name,
        "max_parallelism": MAX_PARALLELISM,
        "operators": operators,
    }


def lock_text(state: dict[str, Any]) -> str:
    """The lock file's text (stable formatting)."""
    return json.dumps(state, indent=2) + "\n"


@dataclass(frozen=True)
class Finding:
    """What a restore does to one operator's state.

    Attributes:
        level: ``breaking`` (the restore fails or loses state), ``warmup`` (values partial for a
            while), ``safe`` or ``note``.
        operator: uid and name of the operator.
        message: What happens.
        remedy: What to do about it ("" when nothing is needed).
        allowed_by: The flag that accepts it (``--allow-non-restored-state``, ``--allow-warmup``),
            or "" when none can.
    """

    level: str
    operator: str
    message: str
    remedy: str = ""
    allowed_by: str = ""


NON_RESTORED = "--allow-non-restored-state"
WARMUP = "--allow-warmup"
_BUMP = "publish the change as a new feature view version (version=N+1: new uid and topic)"


def _label(op: dict[str, Any]) -> str:
    return f"{op['uid']} ({op['kind']} {op.get('name', '')})".strip()


def _compare_layouts(label: str, old: dict[str, Any], new: dict[str, Any]) -> list[Finding]:
    findings = []
    old_folds = {tuple(a[1:]) for a in old["aggregates"]}
    old_names = {a[0] for a in old["aggregates"]}
    windows = [a[3] for a in old["aggregates"] if a[3]]
    largest = max(windows, default=0)
    for name, function, expression, window in new["aggregates"]:
        if (function, expression, window) in old_folds:
            if name not in old_names:
                findings.append(Finding("safe", label, f"{name}: renamed, state moved as it is"))
            continue
        if not window:
            findings.append(Finding("safe", label, f"{name}: {function} needs no history"))
        elif (expression is None or expression in old["inputs"]) and largest and window <= largest:
            findings.append(
                Finding("safe", label, f"{name}: new, rebuilt exactly from each key's history")
            )
        else:
            why = (
                f"its input {expression} is not in the restored history"
                if expression is not None and expression not in old["inputs"]
                else f"its window ({window} ms) is longer than the history kept ({largest} ms)"
            )
            findings.append(
                Finding(
                    "warmup",
                    label,
                    f"{name}: new, and {why}: its values cover only what is left until "
                    f"{window} ms of events have passed",
                    f"accept the warm-up, or {_BUMP}",
                    WARMUP,
                )
            )
    new_names = {a[0] for a in new["aggregates"]}
    new_folds = {tuple(a[1:]) for a in new["aggregates"]}
    for name, function, expression, window in old["aggregates"]:
        if name not in new_names and (function, expression, window) not in new_folds:
            findings.append(Finding("note", label, f"{name}: removed, its accumulator dropped"))
    return findings


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Finding]:
    """Findings for restoring ``new`` (an inventory) from savepoints of ``old``."""
    findings: list[Finding] = []
    if old.get("max_parallelism") != new.get("max_parallelism"):
        findings.append(
            Finding(
                "breaking",
                "job",
                f"max parallelism {old.get('max_parallelism')} → {new.get('max_parallelism')}: "
                "no keyed state can be restored",
                "keep pipeline.max-parallelism for the life of the state",
            )
        )
    current = {op["uid"]: op for op in new["operators"]}
    for op in old["operators"]:
        label = _label(op)
        now = current.get(op["uid"])
        if now is None and op["state"] == STATELESS:
            findings.append(Finding("note", label, "gone or renumbered; it keeps no state"))
            continue
        if now is None:
            remedy = (
                f"if the view is retired on purpose, restore with {NON_RESTORED}; otherwise {_BUMP}"
                if op["kind"] == "window"
                else f"restore with {NON_RESTORED}; the statement order of the job changed"
            )
            findings.append(
                Finding(
                    "breaking",
                    label,
                    f"no operator with this uid any more: its {op['state']} would be dropped",
                    remedy,
                    NON_RESTORED,
                )
            )
            continue
        if op["kind"] != now["kind"]:
            findings.append(
                Finding(
                    "breaking",
                    label,
                    f"the uid is now a {now['kind']}: the restore would fail",
                    _BUMP,
                )
            )
            continue
        if op["kind"] != "window":
            continue
        if op["key"] != now["key"]:
            findings.append(
                Finding(
                    "breaking",
                    label,
                    f"key {op['key']} → {now['key']}: its state cannot be read",
                    _BUMP,
                )
            )
        elif op["spec_version"] != now["spec_version"]:
            findings.append(
                Finding(
                    "breaking",
                    label,
                    f"window state format {op['spec_version']} → {now['spec_version']}",
                    _BUMP,
                )
            )
        else:
            findings += _compare_layouts(label, op["layout"], now["layout"])
    known = {op["uid"] for op in old["operators"]}
    for op in new["operators"]:
        if op["uid"] not in known:
            detail = (
                "starts without state: its windows fill up from the restore on"
                if op["kind"] == "window"
                else "starts without state"
            )
            findings.append(Finding("note", _label(op), f"new operator: {detail}"))
    return findings


def blocking(
    findings: list[Finding], allow_non_restored_state: bool, allow_warmup: bool
) -> list[Finding]:
    """The findings that make the upgrade unsafe under the given flags."""
    allowed = {NON_RESTORED} if allow_non_restored_state else set()
    if allow_warmup:
        allowed.add(WARMUP)
    return [
        f
        for f in findings
        if f.level in ("breaking", "warmup") and not (f.allowed_by and f.allowed_by in allowed)
    ]
