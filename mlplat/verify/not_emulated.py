"""What the replay does not send to the emulator, and why: the AWS operations moto lacks, and what is no AWS API
at all (Kubernetes objects and Helm releases, which checkov already reads as YAML)."""

from __future__ import annotations

import importlib
import inspect
from functools import cache

from botocore import xform_name

# Resource type -> (moto service module, the API operation that would create it).
MISSING_OPERATIONS: dict[str, tuple[str, str]] = {
    "aws:eks/addon:Addon": ("eks", "CreateAddon"),
    "aws:eks/accessEntry:AccessEntry": ("eks", "CreateAccessEntry"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ("eks", "AssociateAccessPolicy"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ("eks", "CreatePodIdentityAssociation"),
}
OUT_OF_SCOPE_PREFIXES = {"kubernetes:": "Kubernetes/Helm: no AWS API; its YAML is checked by checkov"}


@cache
def moto_implements(service: str, operation: str) -> bool:
    """Whether moto's response handler for `service` has a method for `operation`."""
    try:
        module = importlib.import_module(f"moto.{service}.responses")
    except ImportError:
        return False
    method = xform_name(operation)
    return any(hasattr(cls, method) for _, cls in inspect.getmembers(module, inspect.isclass))


def reason_not_emulated(type_token: str) -> str | None:
    for prefix, reason in OUT_OF_SCOPE_PREFIXES.items():
        if type_token.startswith(prefix):
            return reason
    if type_token in MISSING_OPERATIONS:
        service, operation = MISSING_OPERATIONS[type_token]
        if not moto_implements(service, operation):
            return f"moto implements no {service}:{operation}"
    return None
