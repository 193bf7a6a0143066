"""SLOs compiled by the chart: every job's PrometheusRule passes ``promtool check rules`` and the
rule unit tests in ``tests/unit/promtool/`` (alerts that must fire and must not), each alert links
to its README entry, and the Grafana dashboard is valid and queries only documented metrics.

Needs the pinned helm and promtool; they are built on first use (``make setup`` does it too).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.config import load_stack_config
from common.deploy import render
from common.local import tools

JOBS = render.deployable_jobs()
ENVS = render.environments()
CASES = [(job, env) for job in JOBS for env in ENVS]
PROMTOOL_TESTS = Path(__file__).parent / "promtool"
README = render.REPO_ROOT / "README.md"
# Alerts every job has; freshness and dead letters where its values keep them on.
ALWAYS = {
    "FeaturestreamCheckpointsFailing",
    "FeaturestreamCheckpointSlow",
    "FeaturestreamRestarting",
}
FRESHNESS = {"FeaturestreamFreshnessSLO"}
DEAD_LETTERS = {"FeaturestreamDeadLetterBudgetFastBurn", "FeaturestreamDeadLetterBudgetSlowBurn"}
DRIFT = {"FeaturestreamFeatureDrift", "FeaturestreamFeatureNulls"}
# A metric name in PromQL: followed by a selector, or a bare recorded name.
METRIC = re.compile(r"\b((?:flink|featurestream)_[A-Za-z0-9_:]*)(?=\{)")


@pytest.fixture(scope="module")
def promtool() -> Path:
    return tools.ensure(load_stack_config().cache_dir, "promtool")


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {
        (job, env): render.documents(render.template(job, env, render.golden_sets(env)))
        for job, env in CASES
    }


def _rules(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule's spec: what Prometheus reads as a rule file."""
    spec: dict[str, Any] = render.find(resources, "PrometheusRule")["spec"]
    return spec


def _alerts(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for g in _rules(resources)["groups"] for r in g["rules"] if "alert" in r]


def _dashboard(resources: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = render.find(resources, "ConfigMap")
    (text,) = config_map["data"].values()
    dashboard: dict[str, Any] = json.loads(text)
    return dashboard


def _operating_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Operating a job\n")
    return text[start : text.index("\n## ", start + 1)]


def _documented_metrics() -> set[str]:
    """Full names in the README's metrics table (``…name`` is an operator metric)."""
    section = _operating_section()
    names = set(re.findall(r"`((?:flink|featurestream)_[A-Za-z0-9_:<>]+)`", section))
    names |= {
        "flink_taskmanager_job_task_operator_" + short
        for short in re.findall(r"`…([A-Za-z0-9_]+)`", section)
    }
    recorded = {n for n in names if "<w>" in n}
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    return (names - recorded) | {n.replace("<w>", w) for n in recorded for w in windows}


def _write_rules(directory: Path, resources: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(_rules(resources), sort_keys=False), encoding="utf-8")
    return path


def _test_rules(
    promtool: Path, directory: Path, test_file: Path
) -> subprocess.CompletedProcess[str]:
    shutil.copy(test_file, directory / test_file.name)
    return subprocess.run(
        [str(promtool), "test", "rules", test_file.name],
        capture_output=True,
        text=True,
        cwd=directory,
    )


def test_promtool_check_rules_accepts_every_render(
    tmp_path: Path, promtool: Path, rendered: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    files = [str(_write_rules(tmp_path / f"{job}.{env}", rendered[job, env])) for job, env in CASES]
    result = subprocess.run(
        [str(promtool), "check", "rules", *files], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(CASES)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("job", ["payment_features", "model_scoring"])
def test_rule_unit_tests_pass(
    tmp_path: Path,
    promtool: Path,
    rendered: dict[tuple[str, str], list[dict[str, Any]]],
    job: str,
    env: str,
) -> None:
    _write_rules(tmp_path, rendered[job, env])
    result = _test_rules(promtool, tmp_path, PROMTOOL_TESTS / f"{job}.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("broken", "by"),
    [
        ("> (14.4 * 0.001)", "> (144 * 0.001)"),  # the fast burn's factor
        ('quantile="0.99"', 'quantile="0.5"'),  # freshness on the median
        ("deserializer_recordsRead", "deserializer_recordsread"),  # a misspelt denominator
        ("round(sum by", "(sum by"),  # no rounding: one failed checkpoint reads 1.02
    ],
)
def test_a_broken_rule_fails_the_rule_unit_tests(
    tmp_path: Path,
    promtool: Path,
    rendered: dict[tuple[str, str], list[dict[str, Any]]],
    broken: str,
    by: str,
) -> None:
    path = _write_rules(tmp_path, rendered["payment_features", "prod"])
    text = path.read_text(encoding="utf-8")
    assert broken in text
    path.write_text(text.replace(broken, by), encoding="utf-8")
    result = _test_rules(promtool, tmp_path, PROMTOOL_TESTS / "payment_features.test.yaml")
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize(("job", "env"), CASES)
def test_each_job_has_the_alerts_its_objectives_ask_for(
    rendered: dict[tuple[str, str], list[dict[str, Any]]], job: str, env: str
) -> None:
    slo = render.layered_values(job, env)["slo"]
    expected = set(ALWAYS)
    if slo["freshness"]["enabled"]:
        expected |= FRESHNESS
    if slo["deadLetters"]["enabled"]:
        expected |= DEAD_LETTERS
    if slo["drift"]["enabled"]:
        expected |= DRIFT
    alerts = _alerts(rendered[job, env])
    assert {a["alert"] for a in alerts} == expected
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning")
        assert f'featurestream_dev_job="{job}"' in alert["expr"]
    assert (job == "model_scoring") == (not slo["freshness"]["enabled"])
    assert (job == "model_scoring") == slo["drift"]["enabled"]  # the job that sees the inputs


def test_every_alert_links_to_its_entry_in_operating_a_job(
    rendered: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    section = _operating_section()
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>`(\w+)`', section))
    seen = set()
    for resources in rendered.values():
        for alert in _alerts(resources):
            notes = alert["annotations"]
            assert notes["summary"] and notes["description"]
            url, _, anchor = notes["runbook_url"].partition("#")
            assert url.endswith("/README.md")
            assert (anchor, alert["alert"]) in anchors, alert["alert"]
            seen.add(alert["alert"])
    assert seen == ALWAYS | FRESHNESS | DEAD_LETTERS | DRIFT
    assert {name for _, name in anchors} == seen, "an entry for an alert that no longer exists"


@pytest.mark.parametrize(("job", "env"), CASES)
def test_the_dashboard_is_valid_and_queries_documented_metrics(
    rendered: dict[tuple[str, str], list[dict[str, Any]]], job: str, env: str
) -> None:
    resources = rendered[job, env]
    config_map = render.find(resources, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["name"] == f"{render.release_name(job)}-dashboard"
    dashboard = _dashboard(resources)
    assert len(dashboard["uid"]) <= 40  # Grafana's limit
    (variable,) = dashboard["templating"]["list"]
    assert variable == {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
    }
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}) == len(panels)
    known = _documented_metrics()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            names = METRIC.findall(target["expr"])
            assert names, target["expr"]
            assert set(names) <= known, f"{panel['title']}: {set(names) - known} undocumented"
            assert f'featurestream_dev_job="{job}"' in target["expr"]

    slo = render.layered_values(job, env)["slo"]
    titles = {p["title"]: p for p in panels}
    assert {"Throughput", "Dead letters by reason", "Consumer lag", "Watermark lag"} <= set(titles)
    thresholds = {
        "Checkpoints failed per hour": slo["checkpoints"]["maxFailedPerHour"],
        "Last checkpoint duration": slo["checkpoints"]["maxDurationSeconds"],
        "Restarts per hour": slo["restarts"]["maxPerHour"],
    }
    if slo["freshness"]["enabled"]:
        thresholds["Freshness: p99 emit lag"] = slo["freshness"]["p99Seconds"]
    if slo["deadLetters"]["enabled"]:
        thresholds["Dead-letter ratio"] = slo["deadLetters"]["maxPercent"] / 100
    for title, value in thresholds.items():
        steps = titles[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1]["value"] == pytest.approx(value), title
    assert ("Freshness: p99 emit lag" in titles) == slo["freshness"]["enabled"]


def test_the_rule_and_the_dashboard_query_only_documented_metrics(
    rendered: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    known = _documented_metrics()
    for resources in rendered.values():
        for group in _rules(resources)["groups"]:
            for rule in group["rules"]:
                assert set(METRIC.findall(rule["expr"])) <= known, rule.get(
                    "alert", rule.get("record")
                )
                if "record" in rule:
                    assert rule["record"] in known


def test_an_objective_set_at_deploy_time_moves_the_alert_and_the_dashboard_together() -> None:
    sets: dict[str, render.SetValue] = {
        **render.golden_sets("prod"),
        "slo.freshness.p99Seconds": 42,
    }
    resources = render.documents(render.template("trade_features", "prod", sets))
    (freshness,) = [a for a in _alerts(resources) if a["alert"] == "FeaturestreamFreshnessSLO"]
    assert freshness["expr"].rstrip().endswith("> 42")
    panel = next(p for p in _dashboard(resources)["panels"] if p["title"].startswith("Freshness"))
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 42


def test_slo_off_renders_neither_rule_nor_dashboard() -> None:
    for sets, kinds in [
        ({"slo.enabled": False}, {"FlinkDeployment", "PodMonitor"}),
        ({"slo.dashboard.enabled": False}, {"FlinkDeployment", "PodMonitor", "PrometheusRule"}),
    ]:
        resources = render.documents(
            render.template("payment_features", "dev", {**render.golden_sets("dev"), **sets})
        )
        assert {r["kind"] for r in resources} == kinds
