"""Least privilege across every IAM document the stacks create, and the IRSA trust shape."""

import json
from typing import Any

SCOPE_FREE_PREFIXES = ("Describe", "Get", "List")  # read-only APIs AWS does not let you scope to a resource


def _statements(document: str) -> list[dict[str, Any]]:
    statements = json.loads(document)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_no_policy_allows_everything_and_wildcard_resources_are_read_only_or_conditioned(
    graphs: dict[str, Any],
) -> None:
    checked = 0
    for graph in graphs.values():
        for resource in graph["resources"]:
            if resource["type"] not in {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"}:
                continue
            for statement in _statements(resource["inputs"]["policy"]):
                checked += 1
                actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
                assert "*" not in actions, resource["name"]
                if "*" in resources and "Condition" not in statement:
                    verbs = [a.split(":", 1)[1] for a in actions]
                    assert all(v.startswith(SCOPE_FREE_PREFIXES) for v in verbs), (resource["name"], actions)
    assert checked >= 20


def test_every_web_identity_trust_names_one_service_account_and_sts(graphs: dict[str, Any]) -> None:
    accounts: dict[str, set[str]] = {}
    for graph in graphs.values():
        for resource in graph["resources"]:
            if resource["type"] != "aws:iam/role:Role":
                continue
            for statement in _statements(resource["inputs"]["assumeRolePolicy"]):
                if statement["Action"] != "sts:AssumeRoleWithWebIdentity":
                    continue
                (condition,) = statement["Condition"].items()
                operator, values = condition
                assert operator == "StringEquals"  # never StringLike with a wildcard
                subs = [v for k, v in values.items() if k.endswith(":sub")]
                auds = [v for k, v in values.items() if k.endswith(":aud")]
                assert len(subs) == 1 and subs[0].startswith("system:serviceaccount:") and "*" not in subs[0]
                assert auds == ["sts.amazonaws.com"]
                accounts.setdefault(graph["stack"], set()).add(subs[0].rsplit(":", 1)[1])
    expected = {"aws-node", "ebs-csi-controller-sa", "aws-node-termination-handler", "cluster-autoscaler"}
    regional = [g["stack"] for g in graphs.values() if g["kind"] == "regional"]
    assert all(expected <= accounts.get(stack, set()) for stack in regional), accounts
