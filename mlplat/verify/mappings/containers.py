"""ECR: repositories, their policies, registry replication and scanning."""

from __future__ import annotations

from mlplat.verify.mappings.base import (
    MAPPINGS,
    ON_DELETE,
    Create,
    Emulation,
    Outputs,
    Read,
    document,
    emulation,
    first,
    tag_list,
)
from mlplat.verify.policy_documents import check_resource_policy
from mlplat.verify.step import Step


def _read_repository(step: Step, out: Outputs) -> None:
    repository = first(
        step.call("ecr", "DescribeRepositories", repositoryNames=[out["name"]])["repositories"],
        "ecr:DescribeRepositories",
    )
    step.expect("repository", out["params"], repository)
    step.expect_tags(step.call("ecr", "ListTagsForResource", resourceArn=repository["repositoryArn"]).get("tags"))


@emulation("aws:ecr/repository:Repository", _read_repository, forceDelete=ON_DELETE)
def _repository(step: Step) -> Outputs:
    step.get("forceDelete")
    name = step.get("name") or step.name
    params = step.params(
        "ecr",
        "CreateRepository",
        ["imageTagMutability", "imageScanningConfiguration", "encryptionConfigurations"],
        renames={"encryptionConfigurations": "encryptionConfiguration"},
    )
    repository = step.call("ecr", "CreateRepository", repositoryName=name, tags=tag_list(step), **params)["repository"]
    return {"id": name, "name": name, "arn": repository["repositoryArn"], "params": params}


def _read_repository_document(get: str, member: str) -> Read:
    def read(step: Step, out: Outputs) -> None:
        step.expect(
            "policy", document(step.inputs.get("policy")), step.call("ecr", get, repositoryName=out["name"])[member]
        )

    return read


def _repository_document(put: str, member: str) -> Create:
    def create(step: Step) -> Outputs:
        name = step.get("repository")
        if put == "SetRepositoryPolicy":
            check_resource_policy(
                "ecr:SetRepositoryPolicy", "InvalidParameterException", str(step.inputs.get("policy"))
            )
        step.call("ecr", put, repositoryName=name, **{member: step.get("policy")})
        return {"id": name, "name": name}

    return create


MAPPINGS["aws:ecr/lifecyclePolicy:LifecyclePolicy"] = Emulation(
    _repository_document("PutLifecyclePolicy", "lifecyclePolicyText"),
    _read_repository_document("GetLifecyclePolicy", "lifecyclePolicyText"),
)
MAPPINGS["aws:ecr/repositoryPolicy:RepositoryPolicy"] = Emulation(
    _repository_document("SetRepositoryPolicy", "policyText"),
    _read_repository_document("GetRepositoryPolicy", "policyText"),
)


def _read_replication(step: Step, out: Outputs) -> None:
    registry = step.call("ecr", "DescribeRegistry")
    step.expect("replicationConfiguration", out["params"], registry.get("replicationConfiguration"))


@emulation("aws:ecr/replicationConfiguration:ReplicationConfiguration", _read_replication)
def _ecr_replication(step: Step) -> Outputs:
    params = step.params("ecr", "PutReplicationConfiguration", ["replicationConfiguration"])
    step.call("ecr", "PutReplicationConfiguration", **params)
    return {"id": "123456789012", "params": params["replicationConfiguration"]}


def _read_scanning(step: Step, out: Outputs) -> None:
    answer = step.call("ecr", "GetRegistryScanningConfiguration")
    step.expect("scanningConfiguration", out["params"], answer.get("scanningConfiguration"))


@emulation("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", _read_scanning)
def _ecr_scanning(step: Step) -> Outputs:
    params = step.params("ecr", "PutRegistryScanningConfiguration", ["scanType", "rules"])
    step.call("ecr", "PutRegistryScanningConfiguration", **params)
    return {"id": "123456789012", "params": params}
