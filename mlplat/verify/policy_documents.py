"""Resource policies (bucket, queue, repository and key policies) refused the way their service refuses them.

moto stores these documents without reading them, while AWS parses each one: the IAM policy grammar (checked
here by moto's own IAM validator, the one its PutRolePolicy uses), a principal in every statement of a resource
policy, and for S3 every resource inside the bucket ("Policy has invalid resource")."""

from __future__ import annotations

import json
from typing import Any

from mlplat.verify.step import Refused


def statements(policy: Any) -> list[dict[str, Any]]:
    found = policy.get("Statement", []) if isinstance(policy, dict) else []
    return [found] if isinstance(found, dict) else [s for s in found if isinstance(s, dict)]


def check_resource_policy(operation: str, error_code: str, document: str, bucket: str | None = None) -> None:
    """Raises `Refused(operation, "<error_code>: ...")` for a document the service would not accept."""
    from moto.iam.exceptions import MalformedPolicyDocument
    from moto.iam.policy_validation import BaseIAMPolicyValidator

    try:
        BaseIAMPolicyValidator(document).validate()
    except MalformedPolicyDocument as error:
        raise Refused(operation, f"{error_code}: {error.message}") from None
    for statement in statements(json.loads(document)):
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise Refused(operation, f"{error_code}: Missing required field Principal")
        if bucket is None:
            continue
        resources = statement.get("Resource", [])
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource != f"arn:aws:s3:::{bucket}" and not str(resource).startswith(f"arn:aws:s3:::{bucket}/"):
                raise Refused(operation, f"{error_code}: Policy has invalid resource {resource}")
