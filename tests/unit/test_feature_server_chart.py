"""The feature server's chart (deploy/helm/feature-server): Kubernetes' own schemas (kubeconform
-strict, the schemas of ``kubernetes-validate``), goldens, refusals, and agreement with the CLI.

Needs the pinned helm and kubeconform (built on first use; ``make setup`` does it too).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.config import load_stack_config
from common.deploy import crd_schema, render
from common.local import tools

ENVS = render.environments()
PROMTOOL_TESTS = Path(__file__).parent / "promtool"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {env: render.server_template(env, render.golden_sets(env)) for env in ENVS}


def _kind(text: str, kind: str) -> dict[str, Any]:
    return render.find(render.documents(text), kind)


BUILTIN_KINDS = (
    "deployment-apps-v1",
    "service-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "poddisruptionbudget-policy-v1",
)


def _kubernetes_schemas(directory: Path) -> str:
    """Kubernetes' own strict schemas of the chart's built-in kinds (from ``kubernetes-validate``,
    generated from Kubernetes' OpenAPI) made standalone for kubeconform: their references into
    the shared definitions file become local ``$defs``."""
    source = (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{render.KUBE_VERSION}-local-strict"
    )
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    directory.mkdir(parents=True, exist_ok=True)
    for name in BUILTIN_KINDS:
        text = (source / f"{name}.json").read_text().replace('"/api/_definitions.json#/', '"#/')
        schema = json.loads(text)
        schema["$defs"] = json.loads(
            json.dumps(definitions).replace('"/api/_definitions.json#/', '"#/')
        )
        kind, _, rest = name.partition("-")
        group_version = rest if "-" in rest else f"{rest}-{rest}"  # core kinds: group = version
        (directory / f"{kind}-{group_version}.json").write_text(json.dumps(schema))
    return str(directory / "{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json")


def _kubeconform(files: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    kubeconform = tools.ensure(load_stack_config().cache_dir, "kubeconform")
    crds = crd_schema.write_kubeconform_schemas(crd_schema.load_schemas(), tmp_path / "crds")
    builtin = _kubernetes_schemas(tmp_path / "kubernetes")
    command = [str(kubeconform), "-strict", "-summary", "-schema-location", builtin]
    command += ["-schema-location", crds]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True)


def test_kubeconform_strict_accepts_every_render_and_rejects_an_unknown_field(
    rendered: dict[str, str], tmp_path: Path
) -> None:
    files = []
    for env, text in rendered.items():
        files.append(tmp_path / f"{env}.yaml")
        files[-1].write_text(text)
    result = _kubeconform(files, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, PodMonitor and
    # PrometheusRule per env.
    assert f"Valid: {6 * len(ENVS)}, Invalid: 0" in result.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered["prod"].replace("  minAvailable: 1\n", "  minAvailabel: 1\n"))
    result = _kubeconform([broken], tmp_path)
    assert result.returncode == 1
    assert "minAvailabel" in result.stdout


def test_the_server_runs_featurestream_serve_on_the_environments_store(
    rendered: dict[str, str],
) -> None:
    for env, text in rendered.items():
        values = render._layered([render.ENV_DIR / f"{env}.yaml"])
        pod = _kind(text, "Deployment")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"][-1] == "serve"
        assert f"--redis-url={values['onlineStore']['url']}" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        # SIGKILL only after the drain and the grace period.
        assert pod["terminationGracePeriodSeconds"] >= 5 + 10
        assert _kind(text, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
        hpa = _kind(text, "HorizontalPodAutoscaler")["spec"]
        assert hpa["scaleTargetRef"]["name"] == render.SERVER_RELEASE
        assert "replicas" not in _kind(text, "Deployment")["spec"]  # the HPA owns it


def test_every_rendered_argument_is_an_option_of_serve(rendered: dict[str, str]) -> None:
    help_text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    container = _kind(rendered["prod"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for arg in container["args"]:
        assert arg.split("=", 1)[0] in help_text, arg


def test_prod_pulls_by_digest_and_dev_by_commit_tag(rendered: dict[str, str]) -> None:
    image = _kind(rendered["prod"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert image["image"].endswith("@" + render.GOLDEN_DIGEST)
    dev = _kind(rendered["dev"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert dev["image"].endswith(":" + render.GOLDEN_TAG)


@pytest.mark.parametrize(
    ("env", "sets", "complaint"),
    [
        ("prod", {}, "image.requireDigest"),
        ("dev", {"autoscaling.minReplicas": 5, "autoscaling.maxReplicas": 2}, "above"),
        ("dev", {"onlineStore.url": ""}, "onlineStore.url is empty"),
    ],
)
def test_helm_refuses_bad_values(
    env: str, sets: dict[str, render.SetValue], complaint: str
) -> None:
    with pytest.raises(render.RenderError, match=complaint):
        render.server_template(env, {"image.tag": "t", **sets})


def test_without_autoscaling_the_deployment_sets_its_replicas() -> None:
    text = render.server_template("dev", {"image.tag": "t", "autoscaling.enabled": False})
    assert _kind(text, "Deployment")["spec"]["replicas"] == 2
    assert not [r for r in render.documents(text) if r["kind"] == "HorizontalPodAutoscaler"]


def test_goldens_are_committed_and_current() -> None:
    for env in ENVS:
        assert render.committed_golden(render.SERVER, env) is not None
    assert not [p for p in render.stale_generated_files() if render.SERVER in p.name]


@pytest.mark.parametrize("env", ENVS)
def test_the_alerts_pass_promtool_and_fire_when_they_should(
    rendered: dict[str, str], env: str, tmp_path: Path
) -> None:
    promtool = tools.ensure(load_stack_config().cache_dir, "promtool")
    spec = _kind(rendered[env], "PrometheusRule")["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(PROMTOOL_TESTS / "feature-server.test.yaml", tmp_path)
    checked = subprocess.run(
        [str(promtool), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [str(promtool), "test", "rules", "feature-server.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # A broken objective (the p99 compared with 0.5 s) must fail the rule tests.
    broken = _kind(
        render.server_template(env, {**render.golden_sets(env), "slo.latencyP99Seconds": "0.5"}),
        "PrometheusRule",
    )["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(broken))
    retested = subprocess.run(
        [str(promtool), "test", "rules", "feature-server.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert retested.returncode != 0


def test_every_alert_has_a_runbook_entry_in_the_readme(rendered: dict[str, str]) -> None:
    readme = (render.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for group in _kind(rendered["prod"], "PrometheusRule")["spec"]["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
                assert f'<a id="{anchor}"></a>' in readme, anchor
