"""Who may do what, from a graph alone: the IAM statements attached to each role, and a small evaluator of IAM's
matching rules (actions and resources as case-insensitive globs, the string/ARN/bool condition operators, the
`IfExists` suffix and how a key missing from the request is treated). Enough to answer the questions the
deployability rules ask; not a full IAM simulator (no SCPs, boundaries or session policies). No pulumi import.

Reference: IAM JSON policy elements, "Condition operators" (AWS IAM User Guide).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlplat.graph import GraphIndex, Resource, as_list, policy_document, statements

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KMS_KEY = "aws:kms/key:Key"
_ACCOUNT = re.compile(r"arn:[a-z-]+:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):")


def glob_match(pattern: str, value: str) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character; case-insensitive for actions."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _case_sensitive_glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


_STRING_TESTS = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": _case_sensitive_glob,
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": _case_sensitive_glob,
}
_NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def condition_holds(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    """Whether every operator block of a statement's Condition is satisfied by the request `context`.

    A key absent from the context: a positive operator fails, a negated one (`StringNotEquals`...) holds, and
    `...IfExists` holds. An operator this evaluator does not know fails (the safe answer for an Allow)."""
    for operator, tests in (condition or {}).items():
        if not isinstance(tests, Mapping):
            return False
        base = operator.removesuffix("IfExists")
        for key, wanted in tests.items():
            present = _lookup(context, key)
            if present is None:
                if operator.endswith("IfExists") or base in _NEGATIONS:
                    continue
                return False
            if not _operator_holds(base, [str(v) for v in as_list(wanted)], [_text(v) for v in as_list(present)]):
                return False
    return True


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _operator_holds(operator: str, wanted: list[str], got: list[str]) -> bool:
    if operator == "Bool":
        return any(w.lower() == g.lower() for w in wanted for g in got)
    if operator in _STRING_TESTS:
        return any(_STRING_TESTS[operator](w, g) for w in wanted for g in got)
    if operator in _NEGATIONS:
        return not any(_STRING_TESTS[_NEGATIONS[operator]](w, g) for w in wanted for g in got)
    return False  # an operator this evaluator does not know


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    for name, value in context.items():  # condition keys are case-insensitive
        if name.lower() == key.lower():
            return value
    return None


def statement_matches(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """Whether one statement (of either effect) applies to `action` on `resource` in `context`."""
    if "NotAction" in statement:
        if any(glob_match(str(a), action) for a in as_list(statement["NotAction"])):
            return False
    elif not any(glob_match(str(a), action) for a in as_list(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_case_sensitive_glob(str(r), resource) for r in as_list(statement["NotResource"])):
            return False
    elif not any(_case_sensitive_glob(str(r), resource) for r in as_list(statement.get("Resource", "*"))):
        return False
    return condition_holds(statement.get("Condition"), context)


def allows(statement_list: list[dict[str, Any]], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """Identity-policy evaluation: some Allow applies and no Deny does."""
    allowed = False
    for statement in statement_list:
        if statement_matches(statement, action, resource, context):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def principal_matches(principal: Any, arn: str) -> bool:
    """A resource policy's Principal names `arn` (or everyone)."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(str(p) == "*" or _case_sensitive_glob(str(p), arn) for p in as_list(principal.get("AWS")))
    return False


class RoleAccess:
    """Every role in a graph with the statements of its inline, role and in-graph managed policies."""

    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        self._statements: dict[int, list[dict[str, Any]]] = {}
        for role in index.of_type(ROLE):
            inline = [
                s
                for p in as_list((role.get("inputs") or {}).get("inlinePolicies"))
                if isinstance(p, Mapping)
                for s in statements(policy_document(p.get("policy")))
            ]
            self._statements[id(role)] = inline
        for attached in index.of_type(ROLE_POLICY):
            owner = self.role(attached.get("inputs", {}).get("role"))
            if owner is not None:
                document = policy_document(attached.get("inputs", {}).get("policy"))
                self._statements[id(owner)].extend(statements(document))
        for attachment in index.of_type(ATTACHMENT):
            inputs = attachment.get("inputs") or {}
            attached_to = self.role(inputs.get("role"))
            managed = index.resolve(inputs.get("policyArn"), (MANAGED_POLICY,))
            if attached_to is not None and managed is not None:
                self._statements[id(attached_to)].extend(
                    statements(policy_document((managed.get("inputs") or {}).get("policy")))
                )

    def role(self, reference: Any) -> Resource | None:
        """A role by id, name or ARN (`arn:aws:iam::1:role/path/name` too)."""
        found = self.index.resolve(reference, (ROLE,))
        if found is None and isinstance(reference, str) and ":role/" in reference:
            found = self.index.resolve(reference.rsplit("/", 1)[-1], (ROLE,))
        return found

    def roles(self) -> Iterator[Resource]:
        return self.index.of_type(ROLE)

    def statements_of(self, role: Resource) -> list[dict[str, Any]]:
        return self._statements.get(id(role), [])

    def allows(self, role: Resource, action: str, resource: str, context: Mapping[str, Any] | None = None) -> bool:
        return allows(self.statements_of(role), action, resource, dict(context or {}))

    def role_arn(self, role: Resource) -> str:
        inputs = role.get("inputs") or {}
        name = inputs.get("name") or role["name"]
        return f"arn:aws:iam::{account_of(self.index)}:role/{name}"


def account_of(index: GraphIndex) -> str:
    """The stack's account id, read from the ARNs its resources carry (mocks: 123456789012)."""
    for resource in index.resources:
        match = _ACCOUNT.search(str(resource.get("inputs")))
        if match:
            return match.group(1)
    return "*"


def key_allows(
    key_arn: str, key: Resource | None, access: RoleAccess, role: Resource, action: str, context: Mapping[str, Any]
) -> bool:
    """Whether `role` may use the key `key_arn` (the in-graph `key`, when there is one) for `action`: through the
    key policy naming the role, or through IAM when the key policy delegates to the account (`...:root`). A key
    outside the graph is assumed to delegate to IAM, as a key with the default key policy does."""
    role_arn = access.role_arn(role)
    key_statements = statements(policy_document((key.get("inputs") or {}).get("policy"))) if key is not None else []
    if key_statements:
        direct = [s for s in key_statements if not _names_root_only(s.get("Principal"))]
        direct = [s for s in direct if principal_matches(s.get("Principal"), role_arn)]
        if allows(direct, action, key_arn, {**context, "aws:PrincipalArn": role_arn}):
            return True
        delegates = any(
            s.get("Effect") == "Allow" and _names_root_only(s.get("Principal")) and glob_match(str(a), action)
            for s in key_statements
            for a in as_list(s.get("Action"))
        )
        if not delegates:
            return False
    return access.allows(role, action, key_arn, context)


def key_arn_of(index: GraphIndex, reference: Any) -> tuple[str, Resource | None]:
    """A key reference (ARN, id or alias of an in-graph key) as an ARN, with the key when it is in the graph."""
    key = index.resolve(reference, (KMS_KEY,))
    if isinstance(reference, str) and reference.startswith("arn:"):
        return reference, key
    name = str(key.get("name") if key is not None else reference)
    region = str((key.get("region") if key is not None else None) or "*")
    return f"arn:aws:kms:{region}:{account_of(index)}:key/{name}", key


def _names_root_only(principal: Any) -> bool:
    if not isinstance(principal, Mapping) or not principal.get("AWS"):
        return False
    return all(str(p).endswith(":root") for p in as_list(principal.get("AWS")))
