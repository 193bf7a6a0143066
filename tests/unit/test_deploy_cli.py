"""``featurestream deploy / savepoint / savepoints / restore / upgrade --target k8s --dry-run``.

No cluster here: ``k8s.cluster_problem`` is patched to say so, or to pretend one is there with a
live release, so each dry run shows what it would do in both cases.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from click.testing import CliRunner, Result

from common.cli import main
from common.deploy import k8s, render

NO_CLUSTER = "no cluster in unit tests"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s, "cluster_problem", lambda target: NO_CLUSTER)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A reachable cluster where payment_features (dev) was restored with nonce 4."""
    text = render.template(
        "payment_features",
        "dev",
        {"job.initialSavepointPath": "s3://b/sp-old", "job.savepointRedeployNonce": 4},
    )
    deployment = copy.deepcopy(render.find(render.documents(text), "FlinkDeployment"))
    monkeypatch.setattr(k8s, "cluster_problem", lambda target: None)
    monkeypatch.setattr(k8s, "live_deployment", lambda target, release: deployment)
    monkeypatch.setattr(k8s, "live_manifest", lambda target, release: text)
    return deployment


def _resources(output: str) -> list[dict[str, Any]]:
    start = output.index("---\n# Source:")
    end = (
        output.index("\n# no cluster")
        if "\n# no cluster" in output
        else output.index("\n# ", start)
    )
    return render.documents(output[start:end])


@pytest.mark.usefixtures("no_cluster")
def test_deploy_dry_run_prints_valid_resources_and_diffs_against_the_golden() -> None:
    digest = f"image.digest={render.GOLDEN_DIGEST}"
    result = _run("deploy", "trade_features", "--env", "prod", "--dry-run", "--set", digest)
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "$ helm upgrade --install featurestream-trade-features deploy/helm/featurestream-job" in out
    )
    assert "-f deploy/helm/env/prod.yaml -f jobs/trade_features/values.yaml" in out
    assert f"--set-string {digest}" in out
    kinds = [r["kind"] for r in _resources(out)]
    assert kinds == ["ConfigMap", "FlinkDeployment", "PodMonitor", "PrometheusRule"]
    assert f"no cluster reachable ({NO_CLUSTER})" in out
    assert "deploy/helm/golden/trade_features.prod.yaml" in out
    assert "# no changes" in out


@pytest.mark.usefixtures("no_cluster")
def test_deploy_dry_run_with_a_set_shows_the_change_and_what_the_operator_does() -> None:
    out = _run(
        "deploy", "payment_features", "--env", "dev", "--dry-run", "--set", "job.parallelism=3"
    ).output
    assert "--set job.parallelism=3" in out
    assert "-    parallelism: 2\n+    parallelism: 3" in out
    assert "the operator upgrades the job (savepoint: stop with a savepoint" in out


@pytest.mark.usefixtures("no_cluster")
def test_deploy_to_prod_without_a_digest_says_how_to_pin_one() -> None:
    result = CliRunner().invoke(main, ["deploy", "trade_features", "--env", "prod", "--dry-run"])
    assert result.exit_code == 1
    assert "pass --set image.digest=sha256:<64 hex>" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("no_cluster")
def test_deploy_refuses_values_helm_refuses() -> None:
    result = CliRunner().invoke(
        main,
        ["deploy", "payment_features", "--env", "dev", "--dry-run", "--set", "job.paralelism=3"],
    )
    assert result.exit_code == 1 and "paralelism" in result.output


def test_deploy_dry_run_against_a_live_release_keeps_its_restore_settings(
    live: dict[str, Any],
) -> None:
    out = _run("deploy", "payment_features", "--env", "dev", "--dry-run").output
    assert "--set-string job.initialSavepointPath=s3://b/sp-old" in out
    assert "--set job.savepointRedeployNonce=4" in out
    assert "deployed:featurestream-payment-features" in out
    assert "# no changes" in out


@pytest.mark.usefixtures("no_cluster")
def test_restore_dry_run_sets_the_path_and_a_nonce() -> None:
    out = _run(
        "restore",
        "payment_features",
        "--target",
        "k8s",
        "--env",
        "prod",
        "--savepoint",
        "s3://featurestream-prod-flink/featurestream-payment-features/savepoints/savepoint-1",
        "--allow-non-restored-state",
        "--nonce",
        "7",
        "--set",
        f"image.digest={render.GOLDEN_DIGEST}",
        "--dry-run",
    ).output
    job = render.find(_resources(out), "FlinkDeployment")["spec"]["job"]
    assert job["initialSavepointPath"].endswith("/savepoints/savepoint-1")
    assert job["savepointRedeployNonce"] == 7
    assert job["allowNonRestoredState"] is True
    assert "savepointRedeployNonce changes: the operator stops the job without a savepoint" in out


@pytest.mark.usefixtures("no_cluster")
def test_restore_dry_run_without_a_nonce_uses_1() -> None:
    out = _run(
        "restore",
        "trade_features",
        "--target",
        "k8s",
        "--env",
        "dev",
        "--savepoint",
        "s3://b/sp",
        "--dry-run",
    ).output
    assert (
        render.find(_resources(out), "FlinkDeployment")["spec"]["job"]["savepointRedeployNonce"]
        == 1
    )


def test_restore_keeps_the_live_image(live: dict[str, Any]) -> None:
    live["spec"]["image"] = "registry.example/fs/job:sha-0123456789ab@sha256:" + "cd" * 32
    out = _run(
        "restore",
        "payment_features",
        "--target",
        "k8s",
        "--env",
        "dev",
        "--savepoint",
        "s3://b/sp-new",
        "--dry-run",
    ).output
    assert "--set-string image.tag=sha-0123456789ab" in out
    assert (
        "  image: registry.featurestream.invalid/featurestream/job:sha-0123456789ab@sha256:"
        + "cd" * 32
    ) in out


def test_restore_on_a_live_release_bumps_its_nonce(live: dict[str, Any]) -> None:
    out = _run(
        "restore",
        "payment_features",
        "--target",
        "k8s",
        "--env",
        "dev",
        "--savepoint",
        "s3://b/sp-new",
        "--dry-run",
    ).output
    assert "(savepointRedeployNonce 5)" in out
    assert '-    initialSavepointPath: "s3://b/sp-old"\n-    savepointRedeployNonce: 4' in out
    assert "+    savepointRedeployNonce: 5" in out


@pytest.mark.usefixtures("no_cluster")
def test_savepoint_dry_run_prints_the_snapshot_and_the_kubectl_commands() -> None:
    out = _run(
        "savepoint",
        "payment_features",
        "--target",
        "k8s",
        "--env",
        "prod",
        "-n",
        "fs-prod",
        "--dry-run",
    ).output
    assert "$ kubectl --namespace fs-prod apply -f -" in out
    assert "get flinkstatesnapshot featurestream-payment-features-" in out
    (snapshot,) = render.documents(out[out.index("---\n# Source:") :])
    assert snapshot["kind"] == "FlinkStateSnapshot"
    assert snapshot["spec"]["jobReference"]["name"] == "featurestream-payment-features"
    annotations = snapshot["metadata"]["annotations"]
    assert annotations["featurestream.dev/views"] == "payment_card.v1 payment_merchant.v1"
    assert annotations["featurestream.dev/code-version"].startswith("0.1.0")


@pytest.mark.usefixtures("no_cluster")
def test_savepoints_dry_run_says_what_it_would_list() -> None:
    out = _run(
        "savepoints", "trade_features", "--target", "k8s", "--dry-run", "--context", "prod-eu"
    ).output
    assert (
        "$ kubectl --context prod-eu --namespace featurestream get flinkstatesnapshots -o json"
        in out
    )
    assert f"no cluster reachable ({NO_CLUSTER})" in out


def test_snapshot_rows_pick_the_jobs_snapshots_oldest_first() -> None:
    def item(name: str, job: str, when: str, state: str = "COMPLETED") -> dict[str, Any]:
        return {
            "metadata": {
                "name": name,
                "annotations": {"featurestream.dev/code-version": "0.1.0+g0123456789ab"},
            },
            "spec": {"jobReference": {"kind": "FlinkDeployment", "name": job}},
            "status": {"state": state, "path": f"s3://b/{name}", "resultTimestamp": when},
        }

    rows = k8s.snapshot_rows(
        "payment_features",
        [
            item("b", "featurestream-payment-features", "2026-12-01T10:00:00Z"),
            item("x", "featurestream-trade-features", "2026-12-01T09:00:00Z"),
            item("a", "featurestream-payment-features", "2026-12-01T08:00:00Z", "FAILED"),
        ],
    )
    assert [(r.name, r.state, r.version) for r in rows] == [
        ("a", "FAILED", "0.1.0+g0123456789ab"),
        ("b", "COMPLETED", "0.1.0+g0123456789ab"),
    ]


@pytest.mark.usefixtures("no_cluster")
def test_upgrade_on_k8s_is_a_deploy() -> None:
    out = _run(
        "upgrade", "trade_features", "--target", "k8s", "--env", "dev", "--dry-run", "-p", "6"
    ).output
    assert "--set job.parallelism=6" in out and "+    parallelism: 6" in out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["savepoint", "payment_features", "--dry-run"], "--dry-run is for --target k8s"),
        (["restore", "payment_features", "--savepoint", "x", "--target", "k8s"], "needs --env"),
        (["deploy", "payment_features"], "Missing option '--env'"),
        (["deploy", "payment_features", "--env", "staging"], "'staging' is not one of"),
    ],
)
def test_usage_errors(args: list[str], complaint: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and complaint in result.output


@pytest.mark.usefixtures("no_cluster")
def test_a_job_without_a_values_file_cannot_be_deployed() -> None:
    result = CliRunner().invoke(main, ["deploy", "no_such_job", "--env", "dev", "--dry-run"])
    assert result.exit_code == 1 and "jobs/no_such_job/values.yaml" in result.output


def test_check_upgrade_compares_with_the_deployed_release_and_its_snapshots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    import subprocess

    text = render.template("payment_features", "dev")
    deployment = copy.deepcopy(render.find(render.documents(text), "FlinkDeployment"))
    annotation = deployment["metadata"]["annotations"][k8s.STATE_LOCK_ANNOTATION]
    lock = json.loads(annotation)
    assert lock["job"] == "payment_features"  # deploy annotates what it deploys
    monkeypatch.setattr(k8s, "cluster_problem", lambda target: None)
    monkeypatch.setattr(k8s, "live_deployment", lambda target, release: deployment)
    same = _run("check-upgrade", "payment_features", "--target", "k8s", "--running")
    assert same.exit_code == 0 and "(no stateful change)" in same.output, same.output

    # A release deployed when the job had another view: the checkout would drop its state.
    older = copy.deepcopy(lock)
    retired = copy.deepcopy(older["operators"][2])
    retired.update(uid="payment_card_v0", name="payment_card.v0")
    older["operators"].append(retired)
    deployment["metadata"]["annotations"][k8s.STATE_LOCK_ANNOTATION] = json.dumps(older)
    runner = CliRunner()
    refused = runner.invoke(
        main, ["check-upgrade", "payment_features", "--target", "k8s", "--running"]
    )
    assert refused.exit_code == 1 and "BREAKING  payment_card_v0" in refused.output

    # A snapshot taken now records that running lock, and check-upgrade reads it back.
    out = _run(
        "savepoint", "payment_features", "--target", "k8s", "--env", "dev", "--dry-run"
    ).output
    (snapshot,) = render.documents(out[out.index("---\n# Source:") :])
    recorded = snapshot["metadata"]["annotations"][k8s.STATE_LOCK_ANNOTATION]
    assert json.loads(recorded) == older
    monkeypatch.setattr(
        k8s,
        "_run",
        lambda command: subprocess.CompletedProcess(command, 0, json.dumps(snapshot), ""),
    )
    from_snapshot = runner.invoke(
        main,
        ["check-upgrade", "payment_features", "--target", "k8s", "--savepoint", "sp-1"],
    )
    assert from_snapshot.exit_code == 1 and "BREAKING  payment_card_v0" in from_snapshot.output
    unused = runner.invoke(main, ["check-upgrade", "payment_features", "--target", "k8s"])
    assert unused.exit_code == 2 and "--running or --savepoint" in unused.output


@pytest.mark.usefixtures("no_cluster")
def test_deploy_the_feature_server_dry_run_diffs_against_its_golden() -> None:
    digest = f"image.digest={render.GOLDEN_DIGEST}"
    out = _run("deploy", "feature-server", "--env", "prod", "--dry-run", "--set", digest).output
    assert "$ helm upgrade --install featurestream-feature-server deploy/helm/feature-server" in out
    assert "-f deploy/helm/env/prod.yaml" in out and f"--set-string {digest}" in out
    kinds = sorted(r["kind"] for r in _resources(out))
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "PodMonitor",
        "PrometheusRule",
        "Service",
    ]
    assert "deploy/helm/golden/feature-server.prod.yaml" in out
    assert "# no changes" in out
    changed = _run(
        "deploy",
        "feature-server",
        "--env",
        "prod",
        "--dry-run",
        "--set",
        digest,
        "--set",
        "server.redisPool=64",
    ).output
    assert "-            - --redis-pool=32\n+            - --redis-pool=64" in changed
