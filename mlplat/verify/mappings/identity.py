"""IAM (roles, policies, attachments, instance profiles, the OIDC provider) and KMS keys and aliases."""

from __future__ import annotations

from mlplat.verify.mappings.base import (
    ON_DELETE,
    Outputs,
    document,
    emulation,
    tag_list,
)
from mlplat.verify.policy_documents import check_resource_policy
from mlplat.verify.step import Step


def _role_name(step: Step, key: str = "role") -> str:
    value = str(step.get(key))
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _read_role(step: Step, out: Outputs) -> None:
    role = step.call("iam", "GetRole", RoleName=out["name"])["Role"]
    step.expect("assumeRolePolicy", document(step.inputs.get("assumeRolePolicy")), role["AssumeRolePolicyDocument"])
    if step.inputs.get("description"):
        step.expect("description", step.inputs["description"], role.get("Description"))
    if step.inputs.get("maxSessionDuration"):
        step.expect("maxSessionDuration", step.inputs["maxSessionDuration"], role.get("MaxSessionDuration"))
    step.expect_tags(role.get("Tags"))


@emulation("aws:iam/role:Role", _read_role, forceDetachPolicies=ON_DELETE)
def _role(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "iam",
        "CreateRole",
        ["assumeRolePolicy", "description", "maxSessionDuration", "path", "permissionsBoundary"],
        renames={"assumeRolePolicy": "AssumeRolePolicyDocument"},
    )
    role = step.call("iam", "CreateRole", RoleName=name, Tags=tag_list(step), **params)["Role"]
    return {"id": name, "name": name, "arn": role["Arn"]}


def _read_role_policy(step: Step, out: Outputs) -> None:
    policy = step.call("iam", "GetRolePolicy", RoleName=out["role"], PolicyName=out["name"])
    step.expect("policy", document(step.inputs.get("policy")), policy["PolicyDocument"])


@emulation("aws:iam/rolePolicy:RolePolicy", _read_role_policy)
def _role_policy(step: Step) -> Outputs:
    role, name = _role_name(step), step.get("name") or step.name
    step.call("iam", "PutRolePolicy", RoleName=role, PolicyName=name, PolicyDocument=step.get("policy"))
    return {"id": f"{role}:{name}", "role": role, "name": name}


def _read_attachment(step: Step, out: Outputs) -> None:
    attached = step.call("iam", "ListAttachedRolePolicies", RoleName=out["role"])["AttachedPolicies"]
    step.expect("policyArn", step.inputs.get("policyArn"), [p["PolicyArn"] for p in attached])


@emulation("aws:iam/rolePolicyAttachment:RolePolicyAttachment", _read_attachment)
def _attachment(step: Step) -> Outputs:
    role = _role_name(step)
    step.call("iam", "AttachRolePolicy", RoleName=role, PolicyArn=step.get("policyArn"))
    return {"id": f"{role}-{step.inputs['policyArn']}", "role": role}


def _read_profile(step: Step, out: Outputs) -> None:
    profile = step.call("iam", "GetInstanceProfile", InstanceProfileName=out["name"])["InstanceProfile"]
    step.expect("role", step.inputs.get("role"), [r["RoleName"] for r in profile.get("Roles", [])])
    step.expect_tags(profile.get("Tags"))


@emulation("aws:iam/instanceProfile:InstanceProfile", _read_profile)
def _profile(step: Step) -> Outputs:
    name = step.get("name") or step.name
    profile = step.call(
        "iam",
        "CreateInstanceProfile",
        InstanceProfileName=name,
        Tags=tag_list(step),
        **step.params("iam", "CreateInstanceProfile", ["path"]),
    )
    if step.inputs.get("role"):
        step.call("iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=_role_name(step))
    return {"id": name, "name": name, "arn": profile["InstanceProfile"]["Arn"]}


def _read_oidc(step: Step, out: Outputs) -> None:
    provider = step.call("iam", "GetOpenIDConnectProvider", OpenIDConnectProviderArn=out["arn"])
    step.expect(
        "url",
        str(step.inputs.get("url", "")).removeprefix("https://"),
        provider.get("Url", "").removeprefix("https://"),
    )
    step.expect("clientIdLists", step.inputs.get("clientIdLists"), provider.get("ClientIDList"))
    step.expect_tags(provider.get("Tags"))


@emulation("aws:iam/openIdConnectProvider:OpenIdConnectProvider", _read_oidc)
def _oidc(step: Step) -> Outputs:
    params = step.params(
        "iam",
        "CreateOpenIDConnectProvider",
        ["url", "clientIdLists", "thumbprintLists"],
        renames={"clientIdLists": "ClientIDList", "thumbprintLists": "ThumbprintList"},
    )
    arn = step.call("iam", "CreateOpenIDConnectProvider", Tags=tag_list(step), **params)["OpenIDConnectProviderArn"]
    return {"id": arn, "arn": arn}


def _read_key(step: Step, out: Outputs) -> None:
    key = step.call("kms", "DescribeKey", KeyId=out["keyId"])["KeyMetadata"]
    step.expect("multiRegion", bool(step.inputs.get("multiRegion", False)), key.get("MultiRegion", False))
    if step.inputs.get("description"):
        step.expect("description", step.inputs["description"], key.get("Description"))
    rotation = step.call("kms", "GetKeyRotationStatus", KeyId=out["keyId"])
    step.expect("enableKeyRotation", bool(step.inputs.get("enableKeyRotation", False)), rotation["KeyRotationEnabled"])
    if step.inputs.get("rotationPeriodInDays") and "RotationPeriodInDays" in rotation:
        step.expect("rotationPeriodInDays", step.inputs["rotationPeriodInDays"], rotation["RotationPeriodInDays"])
    if step.inputs.get("policy"):
        policy = step.call("kms", "GetKeyPolicy", KeyId=out["keyId"], PolicyName="default")["Policy"]
        step.expect("policy", document(step.inputs["policy"]), policy)
    tags = step.call("kms", "ListResourceTags", KeyId=out["keyId"]).get("Tags", [])
    step.expect_tags(tags)


@emulation(
    "aws:kms/key:Key",
    _read_key,
    deletionWindowInDays="a ScheduleKeyDeletion parameter, used when the key is destroyed",
    bypassPolicyLockoutSafetyCheck="a safety switch of the provider's PutKeyPolicy",
)
def _key(step: Step) -> Outputs:
    step.get("deletionWindowInDays")
    params = step.params(
        "kms",
        "CreateKey",
        ["description", "policy", "multiRegion", "keyUsage", "customerMasterKeySpec", "customMasterKeySpec"],
        renames={"customerMasterKeySpec": "KeySpec", "customMasterKeySpec": "KeySpec"},
    )
    if "Policy" in params:
        check_resource_policy("kms:CreateKey", "MalformedPolicyDocumentException", str(params["Policy"]))
    key = step.call("kms", "CreateKey", Tags=tag_list(step, "TagKey", "TagValue"), **params)["KeyMetadata"]
    if step.get("enableKeyRotation"):
        rotation = (
            {"RotationPeriodInDays": int(step.get("rotationPeriodInDays"))}
            if step.inputs.get("rotationPeriodInDays")
            else {}
        )
        step.call("kms", "EnableKeyRotation", KeyId=key["KeyId"], **rotation)
    return {"id": key["KeyId"], "keyId": key["KeyId"], "arn": key["Arn"]}


def _read_alias(step: Step, out: Outputs) -> None:
    aliases = step.call("kms", "ListAliases", KeyId=step.inputs["targetKeyId"])["Aliases"]
    step.expect("name", step.inputs.get("name"), [a["AliasName"] for a in aliases])


@emulation("aws:kms/alias:Alias", _read_alias)
def _alias(step: Step) -> Outputs:
    name = step.get("name") or f"alias/{step.name}"
    step.call("kms", "CreateAlias", AliasName=name, TargetKeyId=step.get("targetKeyId"))
    return {"id": name, "name": name, "arn": f"arn:aws:kms:{step.region}:123456789012:{name}"}
