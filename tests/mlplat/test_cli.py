"""The `mlplat` command as users and CI call it: exit codes, messages, files written."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlplat.cli import main
from tests.conftest import ROOT, edit_yaml

# -P: the working directory (e.g. tests/, which has packages of its own) never shadows the checkout.
MLPLAT = [sys.executable, "-P", "-m", "mlplat.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The code under test is this checkout's, wherever the command runs (not whatever the venv has installed).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([*MLPLAT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120)


def test_stacks_are_found_from_a_subdirectory(project_root: Path) -> None:
    result = run(["stacks", "--json"], cwd=project_root / "tests")
    assert result.returncode == 0, result.stderr
    stacks = {s["name"]: s for s in json.loads(result.stdout)}
    assert next(s["name"] for s in json.loads(result.stdout)) == "global"
    assert stacks["eu-central-1"] == {
        "name": "eu-central-1",
        "kind": "regional",
        "region": "eu-central-1",
        "jurisdiction": "eu",
    }
    assert stacks["ap-southeast-1"]["jurisdiction"] == "apac"


def test_outside_a_project_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["stacks"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml" in result.stderr


@pytest.mark.parametrize(
    ("stack", "edit", "field"),
    [
        ("eu-west-1", lambda c: c["network"].update(cidr="10.10.0.0/16"), "mlplat:platform.network.cidr"),
        ("eu-west-1", lambda c: c.update(region="us-east-2"), "mlplat:platform.region"),
        ("eu-central-1", lambda c: c.update(colour="blue"), "mlplat:platform.colour"),
        ("us-east-1", lambda c: c["network"].update(az_count=[3]), "mlplat:platform.network.az_count"),
        (
            "eu-west-1",
            lambda c: c["gpu_pools"][0].update(on_demand_base=0),
            "mlplat:platform.gpu_pools[0].on_demand_base",
        ),
        (
            "ap-southeast-1",
            lambda c: c["cluster"].update(endpoint_public_access=True),
            "mlplat:platform.cluster.public_access_cidrs",
        ),
    ],
)
def test_bad_config_exits_2_naming_file_and_field(project_copy: Path, stack: str, edit: Any, field: str) -> None:
    edit_yaml(project_copy / "stacks" / f"Pulumi.{stack}.yaml", lambda d: edit(d["config"]["mlplat:platform"]))
    for command in (["stacks"], ["synth", "--all", "--out", "graphs"], ["plan", "--all"]):
        result = run(command, cwd=project_copy)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert any(
            line.startswith("stacks/Pulumi.") and f": {field}:" in line for line in result.stderr.splitlines()
        ), result.stderr
    assert not (project_copy / "graphs").exists()


def test_synth_writes_one_graph_per_stack(project_root: Path, tmp_path: Path) -> None:
    result = run(["synth", "--all", "--out", str(tmp_path)], cwd=project_root)
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in tmp_path.glob("*.graph.json"))
    assert files == [
        f"{s}.graph.json" for s in sorted(["ap-southeast-1", "eu-central-1", "eu-west-1", "global", "us-east-1"])
    ]
    graph = json.loads((tmp_path / "eu-west-1.graph.json").read_text())
    assert graph["schema"] == "mlplat.graph/v1"
    assert (graph["project"], graph["stack"], graph["region"], graph["jurisdiction"]) == (
        "mlplat",
        "eu-west-1",
        "eu-west-1",
        "eu",
    )
    assert all(
        {"type", "name", "custom", "region", "provider", "parent", "inputs"} <= r.keys() for r in graph["resources"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "nowhere-1"], "unknown stack"),
        (["synth", "eu-west-1", "--all"], "not both"),
        (["policy"], "at least one stack"),
    ],
)
def test_usage_errors_exit_2(
    project_root: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--project", str(project_root), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_resource_on_the_default_provider_fails_synthesis(project_copy: Path) -> None:
    program = project_copy / "stacks" / "__main__.py"
    program.write_text("import pulumi_aws as aws\naws.s3.Bucket('stray-bucket')\n")
    result = run(["synth", "us-east-1", "--out", "graphs"], cwd=project_copy)
    assert result.returncode == 2
    assert "aws:s3/bucket:Bucket 'stray-bucket' uses the default AWS provider" in result.stderr


def _write(tmp_path: Path, graph: dict[str, Any]) -> Path:
    path = tmp_path / f"{graph['stack']}.graph.json"
    path.write_text(json.dumps(graph))
    return path


def test_policy_on_clean_graphs_passes(graphs: dict[str, dict[str, Any]], tmp_path: Path, project_root: Path) -> None:
    paths = [str(_write(tmp_path, g)) for g in graphs.values()]
    result = run(["policy", "--graph", *paths, "--format", "json"], cwd=project_root)
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["schema"] == "mlplat.policy/v1"
    assert report["summary"]["mandatory"] == 0


def test_policy_on_an_edited_graph_names_the_resource(
    graphs: dict[str, dict[str, Any]], tmp_path: Path, project_root: Path
) -> None:
    graph = copy.deepcopy(graphs["eu-west-1"])
    sg = next(r for r in graph["resources"] if r["name"] == "euw1-endpoints-sg")
    sg["inputs"]["ingress"][0]["cidrBlocks"] = ["0.0.0.0/0"]
    out = tmp_path / "report.json"
    result = run(
        ["policy", "--graph", str(_write(tmp_path, graph)), "--format", "json", "--out", str(out)], project_root
    )
    assert result.returncode == 1
    (violation,) = [v for v in json.loads(out.read_text())["violations"] if v["level"] == "mandatory"]
    assert violation["rule"] == "aws-ec2-securitygroup-no-public-ingress"
    assert violation["resource"] == {"type": "aws:ec2/securityGroup:SecurityGroup", "name": "euw1-endpoints-sg"}
    assert violation["stack"] == "eu-west-1" and violation["level"] == "mandatory"


def test_policy_rejects_a_file_that_is_not_a_graph(tmp_path: Path, project_root: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/v9"}')
    result = run(["policy", "--graph", str(bad)], cwd=project_root)
    assert result.returncode == 2
    assert "not a mlplat.graph/v1 graph" in result.stderr


def test_plan_summarizes_every_stack(project_root: Path) -> None:
    result = run(["plan", "--all"], cwd=project_root)
    assert result.returncode == 0, result.stderr
    for stack, jurisdiction in [
        ("global", "us"),
        ("us-east-1", "us"),
        ("eu-west-1", "eu"),
        ("eu-central-1", "eu"),
        ("ap-southeast-1", "apac"),
    ]:
        assert f"== stack {stack} " in result.stdout
        assert f"jurisdiction {jurisdiction}," in result.stdout
    assert "9 ec2/subnet" in result.stdout
    assert "policy passed (0 mandatory" in result.stdout


def test_an_invoke_on_the_default_provider_fails_synthesis(project_copy: Path) -> None:
    program = project_copy / "stacks" / "__main__.py"
    program.write_text("import pulumi_aws as aws\naws.get_caller_identity_output()\n")
    result = run(["synth", "us-east-1", "--out", "graphs"], cwd=project_copy)
    assert result.returncode == 2
    assert "invoke aws:index/getCallerIdentity:getCallerIdentity uses the default AWS provider" in result.stderr


def _verdicts(report: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    def key(v: dict[str, Any]) -> tuple[str, ...]:
        return (v["rule"], v["level"], v["stack"], v["resource"]["type"], v["resource"]["name"], v["message"])

    return {
        "violations": {key(v) for v in report["violations"]},
        "waivers": {(*key(w), w["reason"]) for w in report["waivers"]},
    }


def test_plan_verdicts_equal_policy_without_checkov(
    graphs: dict[str, dict[str, Any]], tmp_path: Path, project_root: Path
) -> None:
    """plan runs `policy --no-checkov`'s report: the same settings (the project's jurisdictions) and waivers."""
    edited = copy.deepcopy(graphs["eu-west-1"])
    sg = next(r for r in edited["resources"] if r["name"] == "euw1-endpoints-sg")
    sg["inputs"]["ingress"][0]["cidrBlocks"] = ["0.0.0.0/0"]
    # A feature bucket in another region of the same jurisdiction: only the project's jurisdictions tell that
    # eu-central-1 is in `eu`, so settings without them would add a residency verdict that policy does not give.
    bucket = next(r for r in edited["resources"] if r["type"] == "aws:s3/bucket:Bucket" and "features" in r["name"])
    bucket["region"] = "eu-central-1"
    paths = [str(_write(tmp_path, g)) for g in (*(g for n, g in graphs.items() if n != "eu-west-1"), edited)]

    policy = run(["policy", "--no-checkov", "--graph", *paths, "--format", "json"], cwd=project_root)
    plan = run(["plan", "--graph", *paths, "--format", "json"], cwd=project_root)
    assert policy.returncode == plan.returncode == 1, (policy.stderr, plan.stderr)
    plan_report = json.loads(plan.stdout)
    assert _verdicts(plan_report["policy"]) == _verdicts(json.loads(policy.stdout))
    rules = {v[0] for v in _verdicts(plan_report["policy"])["violations"]}
    assert {"aws-ec2-securitygroup-no-public-ingress", "mlplat-regional-stack-one-region"} <= rules
    assert "mlplat-residency-store-jurisdiction" not in rules
    assert plan_report["checkov"].startswith("not run")


def test_plan_says_checkov_is_not_run(graphs: dict[str, dict[str, Any]], tmp_path: Path, project_root: Path) -> None:
    result = run(["plan", "--graph", str(_write(tmp_path, graphs["us-east-1"]))], cwd=project_root)
    assert result.returncode == 0, result.stderr
    assert "checkov: not run by `mlplat plan`" in result.stdout
