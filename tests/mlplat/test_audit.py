"""`mlplat audit`: read-only, finds residency breaches, multi-region keys and unmanaged public buckets in an
emulated account, and nothing in an account that `mlplat verify` built from the stacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config import load_deployment
from mlplat.audit import READ_ONLY_PREFIXES, AuditReport, audit
from mlplat.cli import main
from mlplat.verify.emulator import Clients, moto_endpoint
from tests.mlplat.conftest import VerifiedAccount, read_only_clients

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirty_account() -> Iterator[str]:
    """An EU bucket replicating to us-east-1, a multi-region key in the EU, an unmanaged public bucket. One per
    test: moto keeps its state per process, so no two emulators overlap."""
    with moto_endpoint() as url:
        setup = Clients(url)
        s3_eu, s3_us = setup.client("s3", "eu-west-1"), setup.client("s3", "us-east-1")
        s3_eu.create_bucket(Bucket="mlplat-euw1-rogue", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3_eu.put_bucket_tagging(
            Bucket="mlplat-euw1-rogue", Tagging={"TagSet": [{"Key": "mlplat/data-class", "Value": "features"}]}
        )
        s3_us.create_bucket(Bucket="mlplat-use1-rogue-copy")
        for bucket, client in (("mlplat-euw1-rogue", s3_eu), ("mlplat-use1-rogue-copy", s3_us)):
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3_eu.put_bucket_replication(
            Bucket="mlplat-euw1-rogue",
            ReplicationConfiguration={
                "Role": "arn:aws:iam::123456789012:role/console-added",
                "Rules": [{"ID": "to-us", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                           "DeleteMarkerReplication": {"Status": "Disabled"},
                           "Destination": {"Bucket": "arn:aws:s3:::mlplat-use1-rogue-copy"}}],
            },
        )  # fmt: skip
        setup.client("kms", "eu-west-1").create_key(Description="console-made", MultiRegion=True)
        iam = setup.client("iam", "us-east-1")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam.create_role(
            RoleName="us-analytics",
            AssumeRolePolicyDocument=json.dumps(trust),
            Tags=[{"Key": "jurisdiction", "Value": "us"}],
        )
        grant = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::mlplat-euw1-rogue/*"}
            ],
        }
        iam.put_role_policy(RoleName="us-analytics", PolicyName="read-eu-features", PolicyDocument=json.dumps(grant))
        s3_eu.create_bucket(Bucket="someone-public", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3_eu.put_bucket_policy(
            Bucket="someone-public",
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-public/*"}]}),
        )  # fmt: skip
        yield url


def _audit(url: str, regions: list[str], graphs: list[dict[str, Any]], calls: list[str]) -> AuditReport:
    return audit(regions, read_only_clients(url, calls), graphs, load_deployment(ROOT).residency())


def test_audit_finds_replication_out_of_the_eu_a_multi_region_key_and_an_unmanaged_public_bucket(
    dirty_account: str,
) -> None:
    calls: list[str] = []
    report = _audit(dirty_account, ["eu-west-1", "us-east-1"], [], calls)
    by_rule = {(f.rule, f.resource) for f in report.findings}
    assert ("mlplat-residency-no-replication", "s3/bucket mlplat-euw1-rogue") in by_rule or any(
        f.rule == "mlplat-residency-no-replication" and "mlplat-euw1-rogue" in f.resource for f in report.findings
    ), report.render("text")
    assert any(f.rule == "mlplat-audit-multi-region-key" and f.region == "eu-west-1" for f in report.findings)
    assert any(f.rule == "mlplat-residency-no-foreign-grant" and "us-analytics" in f.resource for f in report.findings)
    assert ("mlplat-audit-unmanaged", "iam role us-analytics") in by_rule
    assert ("mlplat-audit-public-bucket", "s3 bucket someone-public") in by_rule
    assert ("mlplat-audit-unmanaged", "s3 bucket someone-public") in by_rule
    assert calls and all(c.startswith(READ_ONLY_PREFIXES) for c in calls)


def test_audit_cli_exits_1_with_sarif(dirty_account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "empty.graph.json"
    graph.write_text(
        json.dumps(
            {"schema": "mlplat.graph/v1", "stack": "x", "region": "eu-west-1", "jurisdiction": "eu", "resources": []}
        )
    )
    args = [
        "--project",
        str(ROOT),
        "audit",
        "--region",
        "eu-west-1",
        "--endpoint-url",
        dirty_account,
        "--graph",
        str(graph),
        "--format",
        "sarif",
    ]
    assert main(args) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {
        "mlplat-audit-public-bucket",
        "mlplat-audit-unmanaged",
    }
    assert main(["--project", str(ROOT), "audit", "--region", "mars-north-1", "--graph", str(graph)]) == 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole platform replayed and audited; minutes on a loaded machine
def test_audit_finds_nothing_in_the_account_verify_built(verified_account: VerifiedAccount) -> None:
    assert verified_account.verify.ok
    report = verified_account.audit
    assert report.findings == [], report.render("text")
    assert any(line.startswith("s3 bucket mlplat-models") for lines in report.observed.values() for line in lines)
    calls = verified_account.audit_calls
    assert calls and all(c.startswith(READ_ONLY_PREFIXES) for c in calls)
