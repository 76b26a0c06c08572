"""Least privilege: no `*` on `*`, no administrator policies, web-identity trust pinned to one subject."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlplat.graph import as_list, policy_document, statements
from policies.engine import Resource, StackContext
from policies.rules.registry import RULES, first, inputs_of

ROLE = "aws:iam/role:Role"
POLICY_TYPES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
ADMIN_POLICIES = ("/AdministratorAccess", "/PowerUserAccess", "/IAMFullAccess")
FAMILY = "iam"


def _wildcard_statements(document: Any) -> Iterator[str]:
    for statement in statements(policy_document(document)):
        if statement.get("Effect") != "Allow":
            continue
        resources = {str(r) for r in as_list(statement.get("Resource"))}
        if "*" not in resources:
            continue
        actions = {str(a) for a in as_list(statement.get("Action"))}
        if actions & {"*", "*:*"}:
            yield f"statement {statement.get('Sid', '(no Sid)')} allows every action on every resource"
        elif statement.get("NotAction"):
            yield f"statement {statement.get('Sid', '(no Sid)')} allows everything but a few actions on every resource"


@RULES.resource_rule(
    "aws-iam-no-wildcard-admin",
    "mandatory",
    "No identity may do everything: no Allow of `*` actions on `*` resources and no administrator managed policies.",
    [ROLE, *POLICY_TYPES, *ATTACHMENT_TYPES],
    FAMILY,
)
def no_wildcard_admin(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if resource["type"] in POLICY_TYPES:
        yield from _wildcard_statements(inputs.get("policy"))
    elif resource["type"] == ROLE:
        for inline in as_list(inputs.get("inlinePolicies")):
            yield from (
                f"inline policy {first(inline).get('name', '?')}: {m}"
                for m in _wildcard_statements(first(inline).get("policy"))
            )
        arns = [str(a) for a in as_list(inputs.get("managedPolicyArns"))]
        yield from (f"administrator policy attached: {a}" for a in arns if a.endswith(ADMIN_POLICIES))
    else:
        arn = str(inputs.get("policyArn", ""))
        if arn.endswith(ADMIN_POLICIES):
            yield f"administrator policy attached: {arn}"


@RULES.resource_rule(
    "aws-iam-role-irsa-pinned",
    "mandatory",
    "A web-identity trust (IRSA, CI OIDC) names its subject exactly: an EKS role trusts one service account.",
    [ROLE],
    FAMILY,
)
def irsa_pinned(resource: Resource, _: StackContext) -> Iterator[str]:
    for statement in statements(policy_document(inputs_of(resource).get("assumeRolePolicy"))):
        actions = {str(a) for a in as_list(statement.get("Action"))}
        if statement.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in actions:
            continue
        condition = statement.get("Condition") or {}
        equals = {k: as_list(v) for k, v in (condition.get("StringEquals") or {}).items() if k.endswith(":sub")}
        like = [
            k
            for k in {**(condition.get("StringLike") or {}), **(condition.get("ForAnyValue:StringLike") or {})}
            if k.endswith(":sub")
        ]
        if like:
            yield f"trust matches the subject with StringLike ({', '.join(like)}); use StringEquals on exact subjects"
            continue
        if not equals:
            yield "web-identity trust has no StringEquals on the token's sub: any subject of the issuer may assume it"
            continue
        for key, subjects in equals.items():
            if any("*" in str(s) for s in subjects):
                yield f"{key} contains a wildcard"
            service_accounts = [s for s in subjects if str(s).startswith("system:serviceaccount:")]
            if service_accounts and len(subjects) != 1:
                yield f"{key} names {len(subjects)} service accounts; an IRSA role trusts exactly one"
