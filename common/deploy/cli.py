"""``featurestream deploy | render | savepoint | savepoints | restore | upgrade``.

The main CLI attaches these with ``main.add_command``. ``--target local`` (the default except for
``deploy``) acts on the local session cluster over its REST API; ``--target k8s`` on a release of
the featurestream-job chart through Helm and kubectl, where ``--dry-run`` changes nothing and
prints the commands, the rendered resources and the diff.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from common.config import load_stack_config
from common.deploy import k8s, k8s_status, local, render, state_check, status
from common.deploy.render import SetValue
from common.features.definitions import DefinitionError
from common.local import tools
from common.runtime import catalog
from common.runtime.launch import Job

F = TypeVar("F", bound=Callable[..., Any])
TARGETS = ("local", "k8s")


def _job(name: str) -> Job:
    try:
        return catalog.load_runnable(name)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from exc


def _k8s_options(function: F) -> F:
    """The options every Kubernetes-side verb shares."""
    for decorator in reversed(
        [
            click.option(
                "--namespace",
                "-n",
                default=render.DEFAULT_NAMESPACE,
                show_default=True,
                help="Namespace of the release (k8s).",
            ),
            click.option("--context", help="kubeconfig context (k8s; default: the current one)."),
            click.option(
                "--dry-run",
                is_flag=True,
                help="k8s: change nothing; print the commands, the resources and the diff.",
            ),
        ]
    ):
        function = decorator(function)
    return function


def _target_option(function: F) -> F:
    return click.option(
        "--target",
        type=click.Choice(TARGETS),
        default="local",
        show_default=True,
        help="The local session cluster, or the Kubernetes release.",
    )(function)


def _env_option(function: F) -> F:
    return click.option(
        "--env",
        "env",
        type=click.Choice(render.environments()),
        help="Environment overlay deploy/helm/env/<env>.yaml (k8s).",
    )(function)


def _k8s_target(
    target: str,
    env: str | None,
    namespace: str,
    context: str | None,
    dry_run: bool,
    needs_env: bool = True,
) -> k8s.Target | None:
    """The k8s.Target for ``--target k8s``; None for local (where k8s-only flags are refused)."""
    if target == "local":
        if dry_run:
            raise click.UsageError("--dry-run is for --target k8s; local verbs act directly")
        return None
    if needs_env and env is None:
        raise click.UsageError("--target k8s needs --env")
    return k8s.Target(namespace=namespace, context=context, dry_run=dry_run)


def _parse_set(items: tuple[str, ...]) -> dict[str, SetValue]:
    """``KEY=VALUE`` flags; true/false and integers are typed like Helm's --set."""
    parsed: dict[str, SetValue] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set {item!r}: use KEY=VALUE")
        if value in ("true", "false"):
            parsed[key] = value == "true"
        elif re.fullmatch(r"-?[0-9]+", value):
            parsed[key] = int(value)
        else:
            parsed[key] = value
    return parsed


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


K8S_ERRORS = (k8s.K8sError, render.RenderError, tools.ToolError)


@click.command("deploy")
@click.argument("job_name", metavar="JOB")
@click.option("--env", "env", required=True, type=click.Choice(render.environments()))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a value.")
@_k8s_options
def deploy(
    job_name: str,
    env: str,
    sets: tuple[str, ...],
    namespace: str,
    context: str | None,
    dry_run: bool,
) -> None:
    """Install or upgrade JOB's release on Kubernetes (helm upgrade --install).

    Values (later wins): chart defaults < deploy/helm/env/<ENV>.yaml < jobs/<JOB>/values.yaml <
    deploy/helm/env/<ENV>.force.yaml < --set. prod needs --set image.digest=sha256:...; dev's
    image tag is the checked-out commit's. The resources are checked against the operator's CRDs
    and admission rules first. JOB `feature-server` deploys the feature server's chart
    (deploy/helm/feature-server: the environment file < --set; a rolling update).
    """
    target = k8s.Target(namespace=namespace, context=context, dry_run=dry_run)
    try:
        if job_name == render.SERVER:
            k8s.deploy_server(env, target, click.echo, _parse_set(sets))
            return
        k8s.deploy(job_name, env, target, click.echo, _parse_set(sets))
    except K8S_ERRORS as exc:
        raise _fail(exc) from exc


@click.command("render")
@click.argument("job_name", metavar="JOB", required=False)
@click.option("--env", "env", type=click.Choice(render.environments()))
@click.option("--update-golden", is_flag=True, help="Rewrite values.schema.json and goldens.")
@click.option("--check", is_flag=True, help="Fail if a generated file is out of date.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a value.")
def render_command(
    job_name: str | None, env: str | None, update_golden: bool, check: bool, sets: tuple[str, ...]
) -> None:
    """Print JOB's rendered resources in ENV, or maintain the generated files.

    JOB `feature-server` renders the feature server's chart (deploy/helm/feature-server).
    Generated (committed) files: deploy/helm/featurestream-job/values.schema.json and
    deploy/helm/golden/<job>.<env>.yaml for every job with a values.yaml, and the feature
    server, in every env.
    """
    try:
        if update_golden:
            written = render.update_generated_files()
            for path in written:
                click.echo(f"wrote {path.relative_to(render.REPO_ROOT)}")
            click.echo("generated files up to date" if not written else f"{len(written)} updated")
            return
        if check:
            stale = render.stale_generated_files()
            if stale:
                names = ", ".join(str(p.relative_to(render.REPO_ROOT)) for p in stale)
                raise click.ClickException(f"out of date: {names}; run `make golden`")
            click.echo("generated files up to date")
            return
        if job_name is None or env is None:
            raise click.UsageError("give JOB and --env (or --update-golden / --check)")
        if job_name == render.SERVER:
            click.echo(render.server_template(env, _parse_set(sets)), nl=False)
            return
        click.echo(render.template(job_name, env, _parse_set(sets)), nl=False)
    except K8S_ERRORS as exc:
        raise _fail(exc) from exc


@click.command("savepoint")
@click.argument("job_name", metavar="JOB")
@_target_option
@_env_option
@_k8s_options
@click.option("--job-id", help="local: the Flink job id, when several run under the job's name.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="Seconds to wait.")
def savepoint(
    job_name: str,
    target: str,
    env: str | None,
    namespace: str,
    context: str | None,
    dry_run: bool,
    job_id: str | None,
    timeout_s: float,
) -> None:
    """Take a savepoint of JOB, wait for it, print its path."""
    kube = _k8s_target(target, env, namespace, context, dry_run)
    if kube is not None and env is not None:
        try:
            path = k8s.savepoint(job_name, env, kube, click.echo, timeout_s=timeout_s)
        except K8S_ERRORS as exc:
            raise _fail(exc) from exc
        if path:
            click.echo(path)
        return
    try:
        path, taken_from = local.take_savepoint(
            load_stack_config(), _job(job_name), job_id, timeout_s
        )
    except local.LocalError as exc:
        raise _fail(exc) from exc
    click.echo(f"savepoint of job {taken_from}:")
    click.echo(path)


@click.command("savepoints")
@click.argument("job_name", metavar="JOB")
@_target_option
@_k8s_options
def savepoints(
    job_name: str, target: str, namespace: str, context: str | None, dry_run: bool
) -> None:
    """List JOB's savepoints (and, locally, retained checkpoints): time, path, job version."""
    kube = _k8s_target(target, None, namespace, context, dry_run, needs_env=False)
    if kube is not None:
        try:
            rows = k8s.savepoints(job_name, kube, click.echo)
        except K8S_ERRORS as exc:
            raise _fail(exc) from exc
        if rows is None:
            return
        if not rows:
            click.echo(f"no FlinkStateSnapshots of {render.release_name(job_name)}")
        for row in rows:
            click.echo(f"{row.time:<21} {row.state:<10} {row.path}  {row.version}  ({row.name})")
        return
    config = load_stack_config()
    states = local.list_states(config, _job(job_name))
    if not states:
        click.echo(f"no savepoints or retained checkpoints of {job_name} in {config.data_dir}")
    for state in states:
        click.echo(f"{state.time}  {state.kind:<10} {state.path}  {state.version}")


def _print_restart(result: local.Restart) -> None:
    click.echo(f"job {result.job_id} RUNNING, restored from {result.restored_from}")
    if result.stop_savepoint:
        click.echo(f"the stopped job's savepoint: {result.stop_savepoint}")
    click.echo(f"downtime {result.downtime_s:.1f} s (stop request to every task RUNNING)")


@click.command("restore")
@click.argument("job_name", metavar="JOB")
@click.option("--savepoint", "savepoint_path", required=True, help="Savepoint or checkpoint path.")
@click.option("--allow-non-restored-state", is_flag=True, help="Skip state no operator claims.")
@_target_option
@_env_option
@_k8s_options
@click.option("--nonce", type=click.IntRange(min=1), help="k8s dry run without a cluster: nonce.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="k8s: override a value (the live image is kept otherwise).",
)
@click.option("-p", "--parallelism", type=click.IntRange(min=1), help="local: new parallelism.")
@click.option("--job-id", help="local: the Flink job id, when several run under the job's name.")
def restore(
    job_name: str,
    savepoint_path: str,
    allow_non_restored_state: bool,
    target: str,
    env: str | None,
    namespace: str,
    context: str | None,
    dry_run: bool,
    nonce: int | None,
    sets: tuple[str, ...],
    parallelism: int | None,
    job_id: str | None,
) -> None:
    """Restart JOB from a savepoint.

    local: stop the running job with a savepoint (no drain), start it from SAVEPOINT.
    k8s: helm upgrade with job.initialSavepointPath=SAVEPOINT and savepointRedeployNonce bumped.
    """
    kube = _k8s_target(target, env, namespace, context, dry_run)
    if kube is not None and env is not None:
        try:
            k8s.restore(
                job_name,
                env,
                kube,
                savepoint_path,
                click.echo,
                allow_non_restored_state=allow_non_restored_state,
                nonce=nonce,
                sets=_parse_set(sets),
            )
        except K8S_ERRORS as exc:
            raise _fail(exc) from exc
        return
    try:
        result = local.restore(
            load_stack_config(),
            _job(job_name),
            savepoint_path,
            allow_non_restored_state=allow_non_restored_state,
            parallelism=parallelism,
            job_id=job_id,
            on_progress=click.echo,
        )
    except local.LocalError as exc:
        raise _fail(exc) from exc
    _print_restart(result)


@click.command("upgrade")
@click.argument("job_name", metavar="JOB")
@click.option("--allow-non-restored-state", is_flag=True, help="Skip state no operator claims.")
@_target_option
@_env_option
@_k8s_options
@click.option("-p", "--parallelism", type=click.IntRange(min=1), help="New parallelism.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="k8s: override a value (prod: the new image.digest).",
)
@click.option("--job-id", help="local: the Flink job id, when several run under the job's name.")
def upgrade(
    job_name: str,
    allow_non_restored_state: bool,
    target: str,
    env: str | None,
    namespace: str,
    context: str | None,
    dry_run: bool,
    parallelism: int | None,
    sets: tuple[str, ...],
    job_id: str | None,
) -> None:
    """Run the current code of JOB from a savepoint of the running job.

    local: stop with a savepoint, start the checkout's code from it, print the downtime.
    k8s: the same as `deploy` (the operator stops with a savepoint and starts the new spec).
    """
    kube = _k8s_target(target, env, namespace, context, dry_run)
    if kube is not None and env is not None:
        values: dict[str, SetValue] = _parse_set(sets)
        if allow_non_restored_state:
            values["job.allowNonRestoredState"] = True
        if parallelism:
            values["job.parallelism"] = parallelism
        try:
            k8s.deploy(job_name, env, kube, click.echo, values)
        except K8S_ERRORS as exc:
            raise _fail(exc) from exc
        return
    try:
        result = local.upgrade(
            load_stack_config(),
            _job(job_name),
            parallelism=parallelism,
            allow_non_restored_state=allow_non_restored_state,
            job_id=job_id,
            on_progress=click.echo,
        )
    except local.LocalError as exc:
        raise _fail(exc) from exc
    _print_restart(result)


_MARKS = {"breaking": "BREAKING", "warmup": "WARM-UP", "safe": "ok", "note": "note"}


@click.command("check-upgrade")
@click.argument("job_name", metavar="JOB")
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The state lock of the running release (default: jobs/<JOB>/state.lock.json).",
)
@click.option(
    "--savepoint",
    "savepoint_path",
    help="Compare with the state of this savepoint: a local savepoint or retained checkpoint "
    "path, or with --target k8s a FlinkStateSnapshot name (the lock its job ran with).",
)
@click.option(
    "--running",
    is_flag=True,
    help="Compare with the running job: on the local cluster, or with --target k8s the "
    "deployed release.",
)
@_target_option
@click.option(
    "--namespace",
    "-n",
    default=render.DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of the release (k8s).",
)
@click.option("--context", help="kubeconfig context (k8s; default: the current one).")
@click.option("--allow-non-restored-state", is_flag=True, help="Accept dropping state.")
@click.option("--allow-warmup", is_flag=True, help="Accept new features that warm up.")
@click.option("--update", is_flag=True, help="Write the current state lock (commit it).")
def check_upgrade(
    job_name: str,
    against: Path | None,
    savepoint_path: str | None,
    running: bool,
    target: str,
    namespace: str,
    context: str | None,
    allow_non_restored_state: bool,
    allow_warmup: bool,
    update: bool,
) -> None:
    """Whether JOB as checked out restores from savepoints of the committed (running) one.

    Compiles the job's plan and compares its stateful operators (uids, keys, window-state
    layouts) with jobs/<JOB>/state.lock.json, or with what a given savepoint (--savepoint) or
    the running job (--running) was started with; exit code 1 when a restore would fail or lose
    state, with the operator and the remedy. After a deliberate change: --update and commit.
    """
    if sum(bool(x) for x in (against, savepoint_path, running)) > 1:
        raise click.UsageError("give at most one of --against, --savepoint, --running")
    job = _job(job_name)
    kube = k8s.Target(namespace=namespace, context=context) if target == "k8s" else None
    if kube is not None and not (savepoint_path or running):
        raise click.UsageError("--target k8s compares with --running or --savepoint <snapshot>")
    try:
        if kube is not None and savepoint_path:
            old: dict[str, Any] | None = k8s.snapshot_state_lock(kube, savepoint_path)
        elif kube is not None:
            old = k8s.live_state_lock(kube, job_name)
        elif savepoint_path:
            old = local.state_lock_of_savepoint(savepoint_path)
        elif running:
            old = local.state_lock_of_running(load_stack_config(), job)
        elif against:
            old = json.loads(against.read_text(encoding="utf-8"))
        else:
            old = state_check.read_lock(job_name)
    except (local.LocalError, *K8S_ERRORS) as exc:
        raise _fail(exc) from exc
    click.echo(f"compiling {job_name}'s plan")
    current = state_check.inventory(job)
    if update:
        path = state_check.lock_path(job_name)
        path.write_text(state_check.lock_text(current), encoding="utf-8")
        click.echo(f"wrote {path} ({len(current['operators'])} stateful operators)")
        return
    if old is None:
        raise click.ClickException(
            f"no {state_check.lock_path(job_name)}: run `featurestream check-upgrade {job_name} "
            "--update` and commit it"
        )
    findings = state_check.compare(old, current)
    for finding in findings:
        click.echo(f"{_MARKS[finding.level]:<9} {finding.operator}: {finding.message}")
        if finding.remedy and finding.level in ("breaking", "warmup"):
            click.echo(f"{'':<9} remedy: {finding.remedy}")
    blocking = state_check.blocking(findings, allow_non_restored_state, allow_warmup)
    if blocking:
        raise click.ClickException(
            f"{len(blocking)} change(s) would break the restore of {job_name} (see above)"
        )
    unchanged = not findings
    click.echo(
        f"{job_name}: restores from its savepoints" + (" (no stateful change)" if unchanged else "")
    )


@click.command("status")
@click.argument("job_name", metavar="JOB")
@_target_option
@click.option(
    "--env",
    "env",
    type=click.Choice(render.environments()),
    default="dev",
    show_default=True,
    help="Whose objectives: the job's slo values layered for this environment.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="slo.KEY=VALUE",
    help="Override an objective, e.g. slo.freshness.p99Seconds=5 (repeatable).",
)
@click.option("--job-id", help="The Flink job id, when several run under the job's name.")
@click.option(
    "--namespace",
    "-n",
    default=render.DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of the release (k8s).",
)
@click.option("--context", help="kubeconfig context (k8s; default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def status_command(
    job_name: str,
    target: str,
    env: str,
    sets: tuple[str, ...],
    job_id: str | None,
    namespace: str,
    context: str | None,
    as_json: bool,
) -> None:
    """JOB's state, uptime, checkpoints, savepoint, restarts, source lag, freshness per view and
    dead letters, against its objectives (the chart's slo values).

    With --target k8s, over `kubectl port-forward` to the release's REST service and each pod's
    Prometheus reporter (no savepoint shown: `savepoints --target k8s` lists them).

    Exit code 0: RUNNING within every objective; 1: not running; 2: an objective is breached.
    """
    job = _job(job_name)
    try:
        slo = status.slo_values(job_name, env, _parse_set(sets))
        if target == "k8s":
            kube = k8s.Target(namespace=namespace, context=context)
            found = k8s_status.k8s_status(kube, job, slo, env, job_id)
        else:
            found = status.local_status(load_stack_config(), job, slo, job_id)
    except (ValueError, status.StatusError, render.RenderError) as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(status.render_text(found))
    sys.exit(found.exit_code)


COMMANDS = (
    deploy,
    render_command,
    savepoint,
    savepoints,
    restore,
    upgrade,
    check_upgrade,
    status_command,
)
