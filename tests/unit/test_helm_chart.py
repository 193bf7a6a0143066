"""The featurestream-job chart: lint, render every job x environment, validate against the
operator 1.15.0 CRDs (jsonschema and kubeconform -strict) and its admission rules, goldens.

Needs the pinned helm and kubeconform; they are built on first use (``make setup`` does it too).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.config import load_stack_config
from common.deploy import checks, crd_schema, render, values
from common.local import artifacts, parts, tools

JOBS = render.deployable_jobs()
ENVS = render.environments()
CASES = [(job, env) for job in JOBS for env in ENVS]
CRD_CHECKSUMS = {
    "flinkdeployments.flink.apache.org-v1.yml": (
        "7977265fc26d5e13e46ea5a18b18ce71dc1b93a7c750d781843a7af0d1d13e47"
    ),
    "flinkstatesnapshots.flink.apache.org-v1.yml": (
        "b4d9e65e4465c74ff8526cfc46d823a4a5198d51e0e08a9f0f5a8c6f4380e399"
    ),
}
DOCKERFILE = render.REPO_ROOT / "deploy" / "docker" / "Dockerfile"


def _template(job: str, env: str, sets: dict[str, Any] | None = None, **kw: Any) -> str:
    """A render with what deploy time supplies (prod's digest, dev's commit tag) fixed."""
    return render.template(job, env, {**render.golden_sets(env), **(sets or {})}, **kw)


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], str]:
    return {(job, env): _template(job, env) for job, env in CASES}


def _resources(text: str) -> list[dict[str, Any]]:
    return render.documents(text)


def _deployment(text: str) -> dict[str, Any]:
    return render.find(_resources(text), "FlinkDeployment")


def test_every_job_and_environment_is_covered() -> None:
    assert {"payment_features", "trade_features"} <= set(JOBS)
    assert {"dev", "prod"} <= set(ENVS)


@pytest.mark.parametrize(("job", "env"), CASES)
def test_helm_lint_strict(job: str, env: str) -> None:
    assert "0 chart(s) failed" in render.lint(job, env, render.golden_sets(env))


@pytest.mark.parametrize(("job", "env"), CASES)
def test_rendered_resources_pass_crd_schemas_and_admission(
    rendered: dict[tuple[str, str], str], job: str, env: str
) -> None:
    resources = _resources(rendered[job, env])
    assert sorted(r["kind"] for r in resources) == [
        "ConfigMap",  # the Grafana dashboard
        "FlinkDeployment",
        "PodMonitor",
        "PrometheusRule",
    ]
    assert checks.problems(resources) == []


def test_the_snapshot_renders_valid_and_is_off_by_default(
    rendered: dict[tuple[str, str], str],
) -> None:
    assert all("FlinkStateSnapshot" not in text for text in rendered.values())
    text = _template(
        "payment_features",
        "prod",
        {"snapshot.enabled": True, "snapshot.name": "20261201-120000"},
        show_only="templates/flinkstatesnapshot.yaml",
    )
    (snapshot,) = _resources(text)
    assert snapshot["metadata"]["name"] == "featurestream-payment-features-20261201-120000"
    assert snapshot["spec"]["jobReference"] == {
        "kind": "FlinkDeployment",
        "name": "featurestream-payment-features",
    }
    assert checks.problems([snapshot]) == []


def test_kubeconform_strict_accepts_every_render_and_rejects_an_unknown_field(
    tmp_path: Path, rendered: dict[tuple[str, str], str]
) -> None:
    kubeconform = tools.ensure(load_stack_config().cache_dir, "kubeconform")
    location = crd_schema.write_kubeconform_schemas(crd_schema.load_schemas(), tmp_path / "schemas")
    files = []
    for (job, env), text in rendered.items():
        path = tmp_path / f"{job}.{env}.yaml"
        path.write_text(text)
        files.append(str(path))
    command = [str(kubeconform), "-strict", "-summary", "-schema-location", location]
    result = subprocess.run([*command, *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {4 * len(CASES)}, Invalid: 0" in result.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        rendered["trade_features", "prod"].replace(
            "  flinkVersion: v2_2\n", "  flinkVersion: v2_2\n  flinkVersoin: v2_2\n"
        )
    )
    result = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "additional properties 'flinkVersoin' not allowed" in result.stdout


@pytest.mark.parametrize(("job", "env"), CASES)
def test_the_deployment_runs_the_job_the_way_the_issue_says(
    rendered: dict[tuple[str, str], str], job: str, env: str
) -> None:
    deployment = _deployment(rendered[job, env])
    name = render.release_name(job)
    spec = deployment["spec"]
    conf = spec["flinkConfiguration"]
    assert deployment["metadata"]["name"] == name and len(name) <= 45
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    assert spec["flinkVersion"] == "v2_2" and spec["mode"] == "native"
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert spec["job"]["args"][:2] == ["-pym", f"jobs.{job}.job"]
    assert "--wait" not in spec["job"]["args"]  # application mode: the driver must not block
    assert spec["job"]["upgradeMode"] == "savepoint"
    base = f"/{name}/"
    assert base in conf["execution.checkpointing.dir"]
    assert base in conf["execution.checkpointing.savepoint-dir"]
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.incremental"] == "true"
    assert conf["restart-strategy.type"] == "exponential-delay"
    assert conf["pipeline.max-parallelism"] == "128"
    assert "metrics.reporter.prom.factory.class" in conf
    assert all(isinstance(v, str) for v in conf.values())
    assert spec["serviceAccount"]
    pod_security = spec["podTemplate"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] != 0
    for role in ("jobManager", "taskManager"):
        (container,) = spec[role]["podTemplate"]["spec"]["containers"]
        assert container["name"] == "flink-main-container"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"name": "metrics", "containerPort": 9249, "protocol": "TCP"} in container["ports"]


def test_credentials_only_come_from_secrets(rendered: dict[tuple[str, str], str]) -> None:
    deployment = _deployment(rendered["payment_features", "prod"])
    (container,) = deployment["spec"]["jobManager"]["podTemplate"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in (
        "FEATURESTREAM_KAFKA_SASL_USERNAME",
        "FEATURESTREAM_KAFKA_SASL_PASSWORD",
        "FEATURESTREAM_REGISTRY_BASIC_AUTH_USER_INFO",
    ):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"]
    assert env["FEATURESTREAM_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    dev = _deployment(rendered["payment_features", "dev"])
    (dev_container,) = dev["spec"]["jobManager"]["podTemplate"]["spec"]["containers"]
    assert [e["name"] for e in dev_container["env"]] == ["FEATURESTREAM_KAFKA_SECURITY_PROTOCOL"]


def test_the_pod_monitor_scrapes_the_job_pods(rendered: dict[tuple[str, str], str]) -> None:
    resources = _resources(rendered["trade_features", "dev"])
    monitor = render.find(resources, "PodMonitor")
    pod_labels = render.find(resources, "FlinkDeployment")["spec"]["podTemplate"]["metadata"][
        "labels"
    ]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_pod_labels_do_not_follow_the_chart_or_image_version(
    rendered: dict[tuple[str, str], str],
) -> None:
    # Pod template labels are part of the spec: a label that moved with every chart release
    # would make each chart bump a savepoint upgrade of every job.
    labels = _deployment(rendered["payment_features", "dev"])["spec"]["podTemplate"]["metadata"][
        "labels"
    ]
    assert not {"helm.sh/chart", "app.kubernetes.io/version"} & set(labels)


def test_goldens_and_values_schema_are_up_to_date() -> None:
    stale = [str(p.relative_to(render.REPO_ROOT)) for p in render.stale_generated_files()]
    assert stale == [], f"out of date: {stale}; run `make golden` and commit the result"


def test_unchanged_values_render_byte_identical_resources() -> None:
    # Any spec change makes the operator upgrade the job: rendering must be deterministic.
    first = _template("trade_features", "prod")
    assert _template("trade_features", "prod") == first
    assert render.committed_golden("trade_features", "prod") == first


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("job.parallelism", 3, ("job", "parallelism")),
        ("image.tag", "0.1.1", ("image",)),
        ("job.checkpointInterval", "20 s", ("job", "args")),
        (
            "job.checkpointInterval",
            "20 s",
            ("flinkConfiguration", "execution.checkpointing.interval"),
        ),
        ("checkpoints.retained", 7, ("flinkConfiguration", "execution.checkpointing.num-retained")),
    ],
)
def test_changing_one_value_changes_the_spec(key: str, value: Any, where: tuple[str, ...]) -> None:
    before = _deployment(_template("payment_features", "dev"))["spec"]
    after = _deployment(_template("payment_features", "dev", {key: value}))["spec"]
    assert after != before

    def at(spec: dict[str, Any]) -> Any:
        for part in where:
            spec = spec[part]
        return spec

    assert at(after) != at(before)


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"job.parallelizm": 3}, "parallelizm"),
        ({"registry.url": "https://user:secret@registry:8443"}, "registry"),
        ({"onlineStore.url": "redis://:secret@redis:6379/0"}, "onlineStore"),
        ({"job.name": "a_job_name_much_longer_than_thirty_one"}, "job"),
        ({"job.upgradeMode": "last_state"}, "upgradeMode"),
        ({"flinkConfiguration.kubernetes\\.cluster-id": "x"}, "kubernetes.cluster-id"),
        ({"flinkConfiguration.state\\.backend\\.type": "hashmap"}, "set by the chart"),
        ({"kafka.credentialsSecret.name": ""}, "credentialsSecret.name"),
        ({"kafka.saslMechanism": ""}, "needs kafka.saslMechanism"),
        ({"onlineStore.url": ""}, "onlineStore.url"),
        ({"job.parallelism": 200}, "job.parallelism 200 is above job.maxParallelism 128"),
        ({"job.parallelism": 9, "job.maxParallelism": 8}, "is above job.maxParallelism 8"),
        (
            {"highAvailability.enabled": False, "job.upgradeMode": "last-state"},
            "last-state needs highAvailability.enabled",
        ),
        ({"highAvailability.enabled": False}, "jobManager.replicas > 1 (standbys) needs"),
        ({"image.digest": ""}, "pass --set image.digest=sha256:<64 hex>"),
        ({"image.digest": "sha256:abc"}, "digest"),
    ],
)
def test_helm_refuses_bad_values(sets: dict[str, render.SetValue], complaint: str) -> None:
    with pytest.raises(render.RenderError, match=re.escape(complaint)):
        _template("payment_features", "prod", sets)


def test_extra_flink_configuration_is_passed_as_strings() -> None:
    text = _template(
        "payment_features", "dev", {"flinkConfiguration.state\\.backend\\.rocksdb\\.threads": "4"}
    )
    assert _deployment(text)["spec"]["flinkConfiguration"]["state.backend.rocksdb.threads"] == "4"


def _value_keys(node: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(prefix + key)
            # Free-form maps (labels, annotations, extra configuration) have no fixed keys.
            if key not in ("labels", "annotations", "flinkConfiguration"):
                keys |= _value_keys(value, f"{prefix}{key}.")
    return keys


def _model_keys(schema: dict[str, Any], node: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, sub in node.get("properties", {}).items():
        keys.add(prefix + name)
        ref = sub.get("$ref") or next(
            (o["$ref"] for o in sub.get("anyOf", []) if "$ref" in o), None
        )
        if ref:
            keys |= _model_keys(schema, schema["$defs"][ref.split("/")[-1]], f"{prefix}{name}.")
    return keys


def test_values_yaml_has_exactly_the_model_keys() -> None:
    defaults = yaml.safe_load((values.CHART_DIR / "values.yaml").read_text())
    schema = values.json_schema()
    assert _value_keys(defaults) == _model_keys(schema, schema)


def test_every_key_of_values_yaml_has_a_comment_above_it() -> None:
    lines = (values.CHART_DIR / "values.yaml").read_text().splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][A-Za-z0-9]*:", line):
            above = lines[number - 1].strip() if number else ""
            if not above.startswith("#"):
                undocumented.append(f"{number + 1}: {line.strip()}")
    assert undocumented == []


@pytest.mark.parametrize(("job", "env"), CASES)
def test_the_layered_values_satisfy_the_model(job: str, env: str) -> None:
    layered = render.layered_values(job, env)  # the files merged as Helm merges them
    for key, value in render.golden_sets(env).items():
        part, name = key.split(".")
        layered[part][name] = value
    parsed = values.ChartValues.model_validate(layered)
    assert parsed.job.name == job and parsed.environment == env


def test_no_credentials_in_any_values_file() -> None:
    files = [values.CHART_DIR / "values.yaml", *render.ENV_DIR.glob("*.yaml")]
    files += list(render.JOBS_DIR.glob("*/values.yaml"))
    for path in files:
        data = json.dumps(yaml.safe_load(path.read_text())).lower()
        # A key naming where a Secret keeps a password (passwordKey) is fine; a password is not.
        assert not re.search(r'"(password|secret|token|jaas)(?![a-z]*key")[a-z]*": "[^"]', data)


def test_vendored_operator_crds_are_the_released_ones() -> None:
    directory = crd_schema.CRD_DIRS[0]
    for name, digest in CRD_CHECKSUMS.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest


def test_the_image_pins_the_locked_connector_jars() -> None:
    text = DOCKERFILE.read_text()
    for item in artifacts.read_lock()["flink"]:
        assert f"{item.group}:{item.artifact}:{item.version}" in text
        assert f"{item.sha256} /jars/{item.file_name}" in text
    assert re.search(r"^FROM flink:\$\{FLINK_VERSION\}-", text, re.M)
    assert "ARG FLINK_VERSION=2.2.1" in text
    chart = (values.CHART_DIR / "templates" / "flinkdeployment.yaml").read_text()
    assert "flink-python-2.2.1.jar" in chart


def test_notes_print_the_releases_savepoint_restore_and_status_commands(tmp_path: Path) -> None:
    # helm renders NOTES.txt only on install (which needs a cluster); render the same named
    # template through a test-only manifest in a copy of the chart.
    chart = tmp_path / "chart"
    shutil.copytree(values.CHART_DIR, chart)
    (chart / "templates" / "notes-test.yaml").write_text(
        'notes: {{ include "featurestream.notes" . | toJson }}\n'
    )
    command = [
        str(render.helm()),
        "template",
        "featurestream-trade-features",
        str(chart),
        "--namespace",
        "fs-prod",
        "--kube-version",
        render.KUBE_VERSION,
        *render.values_args("trade_features", "prod", render.golden_sets("prod")),
        "--show-only",
        "templates/notes-test.yaml",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    notes = yaml.safe_load(result.stdout)["notes"]
    assert "kubectl -n fs-prod get flinkdeployment featurestream-trade-features" in notes
    assert (
        "featurestream savepoint trade_features --target k8s --env prod --namespace fs-prod"
        in notes
    )
    assert "featurestream savepoints trade_features --target k8s --namespace fs-prod" in notes
    assert (
        "featurestream restore trade_features --target k8s --env prod --namespace fs-prod "
        "--savepoint <path>" in notes
    )
    assert (values.CHART_DIR / "templates" / "NOTES.txt").read_text().strip() == (
        '{{ include "featurestream.notes" . }}'
    )


def test_every_flink_key_the_chart_sets_is_a_flink_2_2_option(
    rendered: dict[tuple[str, str], str],
) -> None:
    # A misspelt key is silently ignored by Flink: look each one up among the option keys
    # compiled into the bundled Flink 2.2.1 (configuration classes, RocksDB's options and the
    # Python options).
    home = parts.pyflink_home()
    constants = b""
    for jar in [*home.glob("lib/flink-dist*.jar"), *home.glob("opt/flink-python-*.jar")]:
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.startswith(
                    ("org/apache/flink/configuration/", "org/apache/flink/state/rocksdb/")
                ) or name.endswith("PythonOptions.class"):
                    constants += archive.read(name)
    keys = {
        key
        for text in rendered.values()
        for key in _deployment(text)["spec"]["flinkConfiguration"]
        # Operator settings and the reporter's own namespace are not Flink core options.
        if not key.startswith(("kubernetes.operator.", "metrics.reporter.prom."))
    }
    assert len(keys) > 15
    assert sorted(k for k in keys if k.encode() not in constants) == []


@pytest.mark.parametrize(
    ("kafka", "complaint"),
    [
        ({"securityProtocol": "SASL_SSL"}, "go together"),
        ({"saslMechanism": "PLAIN"}, "go together"),
        ({"securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN"}, "credentialsSecret.name"),
        ({"bootstrapServers": "user:pw@kafka:9093"}, "bootstrapServers"),
    ],
)
def test_the_model_refuses_what_the_templates_refuse(kafka: dict[str, str], complaint: str) -> None:
    layer: dict[str, Any] = {"bootstrapServers": "kafka:9093", **kafka}
    with pytest.raises(ValueError, match=re.escape(complaint)):
        values.Kafka.model_validate(layer)
    with pytest.raises(ValueError, match=r"kubernetes\.namespace"):
        values.ChartValues.model_validate({"flinkConfiguration": {"kubernetes.namespace": "x"}})


def _interval(text: str) -> tuple[str, str]:
    spec = _deployment(text)["spec"]
    args = spec["job"]["args"]
    return (
        spec["flinkConfiguration"]["execution.checkpointing.interval"],
        args[args.index("--checkpoint-interval") + 1],
    )


def test_a_jobs_own_setting_wins_over_the_environments_default(
    rendered: dict[tuple[str, str], str],
) -> None:
    # dev.yaml sets 10 s for every job; inference_requests asks for 1 s (latency) and keeps it.
    assert "checkpointInterval: 10 s" in (render.ENV_DIR / "dev.yaml").read_text()
    assert _interval(rendered["inference_requests", "dev"]) == ("1 s", "1 s")
    assert _interval(rendered["model_scoring", "dev"]) == ("1 s", "1 s")
    assert _interval(rendered["payment_features", "dev"]) == ("10 s", "10 s")
    assert _interval(rendered["payment_features", "prod"]) == ("30 s", "30 s")


def _copy_envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    envs = tmp_path / "env"
    shutil.copytree(render.ENV_DIR, envs)
    monkeypatch.setattr(render, "ENV_DIR", envs)
    return envs


def test_an_environment_forces_a_value_over_the_jobs_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = _copy_envs(tmp_path, monkeypatch)
    (envs / "dev.force.yaml").write_text("job:\n  checkpointInterval: 5 s\n")
    assert render.environments() == ENVS  # a force file is not an environment
    assert render.value_files("inference_requests", "dev") == [
        envs / "dev.yaml",
        render.JOBS_DIR / "inference_requests" / "values.yaml",
        envs / "dev.force.yaml",
    ]
    assert _interval(_template("inference_requests", "dev")) == ("5 s", "5 s")
    # --set still wins over everything.
    forced = _template("inference_requests", "dev", {"job.checkpointInterval": "2 s"})
    assert _interval(forced) == ("2 s", "2 s")


def test_a_job_file_may_not_set_what_an_environment_owns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = tmp_path / "jobs"
    shutil.copytree(render.JOBS_DIR / "trade_features", jobs / "trade_features")
    with (jobs / "trade_features" / "values.yaml").open("a") as f:
        f.write("kafka:\n  bootstrapServers: elsewhere:9092\nonlineStore:\n  url: redis://x:1/0\n")
    monkeypatch.setattr(render, "JOBS_DIR", jobs)
    with pytest.raises(
        render.RenderError,
        match=re.escape("sets kafka, kafka.bootstrapServers, onlineStore.url: an environment"),
    ):
        render.template("trade_features", "dev")


def test_dev_images_are_tagged_by_commit_and_a_set_tag_wins() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
        cwd=render.REPO_ROOT,
    ).stdout.strip()
    image = _deployment(render.template("trade_features", "dev"))["spec"]["image"]
    assert image == f"registry.featurestream.invalid/featurestream/job:sha-{head}"
    tagged = render.template("trade_features", "dev", {"image.tag": "hotfix-1"})
    assert _deployment(tagged)["spec"]["image"].endswith(":hotfix-1")


def test_prod_is_pulled_by_digest_and_refused_without_one() -> None:
    digest = "sha256:" + "ab" * 32
    image = _deployment(render.template("trade_features", "prod", {"image.digest": digest}))
    assert image["spec"]["image"].endswith(f":0.1.0@{digest}")
    with pytest.raises(render.RenderError, match=re.escape("image.requireDigest")):
        render.template("trade_features", "prod")


def test_checkpointing_and_its_health_check_are_visible_to_the_operator(
    rendered: dict[tuple[str, str], str],
) -> None:
    for text in rendered.values():
        conf = _deployment(text)["spec"]["flinkConfiguration"]
        assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
        assert (
            conf["execution.checkpointing.externalized-checkpoint-retention"]
            == "RETAIN_ON_CANCELLATION"
        )
        assert conf["kubernetes.operator.cluster.health-check.enabled"] == "true"
        assert conf["kubernetes.operator.cluster.health-check.checkpoint-progress.enabled"] == (
            "true"
        )


def test_the_jobmanager_keeps_memory_for_the_python_driver() -> None:
    def overhead(text: str) -> tuple[str, str]:
        conf = _deployment(text)["spec"]["flinkConfiguration"]
        return conf["jobmanager.memory.jvm-overhead.min"], conf[
            "jobmanager.memory.jvm-overhead.max"
        ]

    assert overhead(_template("payment_features", "dev")) == ("448m", "448m")
    assert overhead(_template("model_scoring", "dev")) == ("704m", "704m")
    bigger = _template("payment_features", "dev", {"jobManager.driverMemoryMb": 1024})
    assert overhead(bigger) == ("1216m", "1216m")


def test_high_availability_can_be_turned_off_for_a_throwaway_cluster() -> None:
    text = _template(
        "payment_features",
        "dev",
        {"highAvailability.enabled": False, "job.upgradeMode": "savepoint"},
    )
    conf = _deployment(text)["spec"]["flinkConfiguration"]
    assert "high-availability.type" not in conf
    assert checks.problems(_resources(text)) == []
