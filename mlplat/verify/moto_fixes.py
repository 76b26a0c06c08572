"""Fixes to moto's own defects that would refuse a call AWS accepts; applied only to the in-process server.

- `PutBucketLogging` reads the target bucket's policy and calls `.get` on every statement's `Principal`, so a
  policy with `"Principal": "*"` (our TLS-only deny) makes moto answer 500. The check is redone here, skipping
  statements whose principal is not a service map, exactly as moto's own loop would if it did not crash.
"""

from __future__ import annotations

import json
from typing import Any


def apply_moto_fixes() -> None:
    from moto.s3 import models

    def log_permissions_enabled_policy(target_bucket: Any, target_prefix: str | None) -> bool:
        if not target_bucket.policy:
            return False
        partition, name = target_bucket.partition, target_bucket.name
        allowed = {
            f"arn:{partition}:s3:::{name}/{target_prefix or ''}*",
            f"arn:{partition}:s3:::{name}/*",
            f"arn:{partition}:s3:::{name}",
        }
        for statement in json.loads(target_bucket.policy.decode())["Statement"]:
            principal = statement.get("Principal")
            if not isinstance(principal, dict) or principal.get("Service") != models.LOGGING_SERVICE_PRINCIPAL:
                continue
            if (
                statement.get("Effect") == "Allow"
                and "s3:PutObject" in statement.get("Action", [])
                and statement.get("Resource") in allowed
            ):
                return True
        return False

    models.FakeBucket._log_permissions_enabled_policy = staticmethod(log_permissions_enabled_policy)  # type: ignore[method-assign]
