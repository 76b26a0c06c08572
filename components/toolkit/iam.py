"""IAM Roles for Service Accounts: the one place that writes a workload identity's trust, session and tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import pulumi
import pulumi_aws as aws

from components.iam_documents import irsa_trust
from components.toolkit.env import RegionEnv

ROLE_TAG = "mlplat-role"  # components/container_registry.py lets `node` and `workload` pull the platform's images
SESSION_SECONDS = 3600
RoleKind = Literal["workload", "controller"]


class OidcIdentity(Protocol):
    """Anything that names a cluster's OIDC provider: `ClusterRef`, `ClusterIdentity`."""

    @property
    def oidc_provider_arn(self) -> pulumi.Input[str]: ...

    @property
    def oidc_issuer_url(self) -> pulumi.Input[str]: ...


@dataclass(frozen=True, kw_only=True)
class ClusterIdentity:
    """The EKS cluster's OIDC provider, for IRSA roles pinned to one service account each."""

    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]


def irsa_role(
    name: str,
    *,
    cluster: OidcIdentity,
    namespace: str,
    service_account: str,
    env: RegionEnv,
    purpose: str,
    policy: pulumi.Input[str] | None = None,
    managed_policy_arns: Sequence[pulumi.Input[str]] = (),
    kind: RoleKind = "workload",
    role_name: str | None = None,
    former_policy_name: str | None = None,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role exactly one Kubernetes service account may assume, with its inline `policy` (JSON, resource `name`)
    and any managed policies (`name-policy`, `name-policy-1`, ...).

    `kind="workload"` is a platform workload (it may pull the platform's images, see container_registry);
    `"controller"` is a cluster add-on, which pulls only public images. `role_name` fixes the physical name
    (None lets Pulumi name it); `former_policy_name` is the inline policy's logical name before this toolkit, kept
    as an alias so the policy is not replaced.
    """
    if policy is None and not managed_policy_arns:
        raise ValueError(f"{name}: an IRSA role needs an inline policy or a managed policy")
    role = aws.iam.Role(
        name,
        name=role_name,
        description=f"IRSA: {namespace}/{service_account}: {purpose}",
        assume_role_policy=pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_url).apply(
            lambda v: irsa_trust(v[0], v[1], namespace, service_account)
        ),
        max_session_duration=SESSION_SECONDS,
        tags=env.tagged(**{ROLE_TAG: kind, "Name": name}),
        opts=opts,
    )
    if policy is not None:
        aliases = [pulumi.Alias(name=former_policy_name)] if former_policy_name else None
        aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=policy,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases)),
        )
    for index, policy_arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(
            f"{name}-policy" + (f"-{index}" if index else ""), role=role.name, policy_arn=policy_arn, opts=opts
        )
    return role
