"""`mlplat audit`: a live account (or an emulator) inspected with read-only calls and judged by the residency model
`mlplat residency` uses (policies/residency.py over the same ResidencyMap): what replicates where, multi-region
keys, global tables and datastores, cross-region database copies, ECR replication, IAM grants across
jurisdictions, public buckets, and what the account holds that no graph declares (and the reverse)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from mlplat.verify.emulator import Clients
from policies.residency import analyse
from runtime.residency import ResidencyMap

AUDIT_SCHEMA = "mlplat.audit/v1"
READ_ONLY_PREFIXES = ("List", "Get", "Describe", "Head")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


@dataclass(frozen=True)
class Finding:
    rule: str
    region: str
    resource: str  # type and name as observed, e.g. `s3 bucket mlplat-euw1-x`
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "region": self.region, "resource": self.resource, "message": self.message}


@dataclass
class AuditReport:
    regions: list[str]
    observed: dict[str, list[str]] = field(default_factory=dict)  # region -> one line per inventoried resource
    findings: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": AUDIT_SCHEMA,
            "regions": self.regions,
            "observed": self.observed,
            "findings": [f.as_json() for f in self.findings],
            "summary": {"findings": len(self.findings)},
        }

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        if fmt == "sarif":
            return json.dumps(self.sarif(), indent=2)
        lines = []
        for region in self.regions:
            lines.append(f"== {region}")
            lines.extend(f"   {line}" for line in self.observed.get(region, []) or ["(nothing observed)"])
        lines.extend(f"FINDING {f.rule} [{f.region}] {f.resource}: {f.message}" for f in self.findings)
        verdict = "FINDINGS" if self.findings else "clean"
        lines.append(f"audit: {len(self.regions)} region(s), {len(self.findings)} finding(s) - {verdict}")
        return "\n".join(lines)

    def sarif(self) -> dict[str, Any]:
        rules = sorted({f.rule for f in self.findings})
        results = [
            {
                "ruleId": f.rule,
                "ruleIndex": rules.index(f.rule),
                "level": "error",
                "message": {"text": f"{f.resource}: {f.message}"},
                "locations": [
                    {
                        "logicalLocations": [
                            {"name": f.resource, "fullyQualifiedName": f"{f.region}::{f.resource}", "kind": "resource"}
                        ]
                    }
                ],
                "properties": {"region": f.region},
            }
            for f in self.findings
        ]
        driver = {"name": "mlplat-audit", "rules": [{"id": r, "name": r} for r in rules]}
        return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def _read(clients: Clients, service: str, region: str, operation: str, **params: Any) -> dict[str, Any] | None:
    """One read-only call; `None` when the resource has no such configuration (AWS answers an error for that)."""
    assert operation.startswith(READ_ONLY_PREFIXES), operation
    client = clients.client(service, region)
    try:
        answer: dict[str, Any] = getattr(client, _snake(operation))(**params)
    except ClientError:
        return None
    return answer


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def _tags(pairs: Any) -> dict[str, str]:
    from mlplat.verify.step import tag_map

    return tag_map(pairs)


@dataclass
class _Observed:
    """What the account holds, as `mlplat.graph/v1` resources per region, so the graph rules judge it unchanged."""

    regions: Sequence[str]
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    public: list[tuple[str, str, str]] = field(default_factory=list)  # region, bucket, why

    def add(self, region: str, type_token: str, name: str, inputs: dict[str, Any], line: str | None = None) -> None:
        resource = {"type": type_token, "name": name, "id": name, "custom": True, "region": region, "inputs": inputs}
        self.resources.setdefault(region, []).append(resource)
        if line:
            self.lines.setdefault(region, []).append(line)


def _buckets(clients: Clients, seen: _Observed, home: str) -> None:
    for bucket in (_read(clients, "s3", home, "ListBuckets") or {}).get("Buckets", []):
        name = bucket["Name"]
        location = (_read(clients, "s3", home, "GetBucketLocation", Bucket=name) or {}).get("LocationConstraint")
        region = location or "us-east-1"
        if region not in seen.regions:
            continue
        tags = _tags((_read(clients, "s3", region, "GetBucketTagging", Bucket=name) or {}).get("TagSet"))
        replication = (_read(clients, "s3", region, "GetBucketReplication", Bucket=name) or {}).get(
            "ReplicationConfiguration"
        )
        targets = [
            str((r.get("Destination") or {}).get("Bucket", "")).removeprefix("arn:aws:s3:::")
            for r in (replication or {}).get("Rules", [])
        ]
        seen.add(
            region,
            "aws:s3/bucket:Bucket",
            name,
            {"bucket": name, "tags": tags},
            f"s3 bucket {name}" + (f" replicates to {', '.join(targets)}" if targets else ""),
        )
        if replication:
            rules = [
                {"destination": {"bucket": (r.get("Destination") or {}).get("Bucket", "")}}
                for r in replication.get("Rules", [])
            ]
            seen.add(
                region,
                "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                f"{name}-replication",
                {"bucket": name, "rules": rules},
            )
        why = _public(clients, region, name)
        if why:
            seen.public.append((region, name, why))


def _public(clients: Clients, region: str, bucket: str) -> str | None:
    status = (_read(clients, "s3", region, "GetBucketPolicyStatus", Bucket=bucket) or {}).get("PolicyStatus", {})
    if status.get("IsPublic"):
        return "its bucket policy is public (S3 GetBucketPolicyStatus)"
    grants = (_read(clients, "s3", region, "GetBucketAcl", Bucket=bucket) or {}).get("Grants", [])
    if any(str((g.get("Grantee") or {}).get("URI", "")).endswith(("/AllUsers", "/AuthenticatedUsers")) for g in grants):
        return "its ACL grants AllUsers or AuthenticatedUsers"
    block = (_read(clients, "s3", region, "GetPublicAccessBlock", Bucket=bucket) or {}).get(
        "PublicAccessBlockConfiguration", {}
    )
    if not all(
        block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    ):
        return "public access is not blocked (no complete PublicAccessBlock)"
    return None


def _keys(clients: Clients, seen: _Observed, region: str) -> None:
    for entry in _pages(clients, "kms", region, "ListKeys", "Keys"):
        key = (_read(clients, "kms", region, "DescribeKey", KeyId=entry["KeyId"]) or {}).get("KeyMetadata", {})
        if key.get("KeyManager") == "AWS" or key.get("KeyState") == "PendingDeletion":
            continue
        tags = _tags((_read(clients, "kms", region, "ListResourceTags", KeyId=key["KeyId"]) or {}).get("Tags"))
        aliases = [
            a["AliasName"]
            for a in (_read(clients, "kms", region, "ListAliases", KeyId=key["KeyId"]) or {}).get("Aliases", [])
        ]
        config = key.get("MultiRegionConfiguration") or {}
        # Named by key id, as ARNs in IAM policies name it (`key/<id>`); the alias is what a reader recognises.
        name, label = key["KeyId"], aliases[0] if aliases else key["KeyId"]
        if config.get("MultiRegionKeyType") == "REPLICA":
            primary = (config.get("PrimaryKey") or {}).get("Arn", "")
            seen.add(
                region,
                "aws:kms/replicaKey:ReplicaKey",
                name,
                {"primaryKeyArn": primary, "tags": tags},
                f"kms replica key {label} of {primary}",
            )
        else:
            multi = bool(key.get("MultiRegion"))
            replicas = [r.get("Region") for r in config.get("ReplicaKeys", [])]
            line = f"kms key {label}" + (
                f" MULTI-REGION (replicas: {', '.join(replicas) or 'none yet'})" if multi else ""
            )
            seen.add(region, "aws:kms/key:Key", name, {"multiRegion": multi, "tags": tags, "aliases": aliases}, line)


def _pages(
    clients: Clients, service: str, region: str, operation: str, member: str, **params: Any
) -> Iterator[dict[str, Any]]:
    client = clients.client(service, region)
    if not client.can_paginate(_snake(operation)):
        yield from (_read(clients, service, region, operation, **params) or {}).get(member, [])
        return
    try:
        for page in client.get_paginator(_snake(operation)).paginate(**params):
            yield from page.get(member, [])
    except ClientError:
        return


def _datastores(clients: Clients, seen: _Observed, region: str) -> None:
    for group in _pages(clients, "elasticache", region, "DescribeReplicationGroups", "ReplicationGroups"):
        info = group.get("GlobalReplicationGroupInfo") or {}
        inputs: dict[str, Any] = {
            "replicationGroupId": group["ReplicationGroupId"],
            "tags": _arn_tags(clients, "elasticache", region, group.get("ARN")),
        }
        if info.get("GlobalReplicationGroupId"):
            inputs["globalReplicationGroupId"] = info["GlobalReplicationGroupId"]
        line = f"elasticache {group['ReplicationGroupId']}" + (
            f" in global datastore {info['GlobalReplicationGroupId']}" if info.get("GlobalReplicationGroupId") else ""
        )
        seen.add(region, "aws:elasticache/replicationGroup:ReplicationGroup", group["ReplicationGroupId"], inputs, line)
    for listed in _pages(clients, "dynamodb", region, "ListTables", "TableNames"):
        table = str(listed)  # ListTables answers names, not structures
        described = (_read(clients, "dynamodb", region, "DescribeTable", TableName=table) or {}).get("Table", {})
        replicas = [{"regionName": r.get("RegionName")} for r in described.get("Replicas", [])]
        seen.add(
            region,
            "aws:dynamodb/table:Table",
            table,
            {"name": table, "replicas": replicas},
            f"dynamodb {table}"
            + (f" global table: {', '.join(r['regionName'] for r in replicas)}" if replicas else ""),
        )
    for db in _pages(clients, "rds", region, "DescribeDBInstances", "DBInstances"):
        identifier = db["DBInstanceIdentifier"]
        copies = [r for r in db.get("ReadReplicaDBInstanceIdentifiers", []) if r.startswith("arn:")]
        source = db.get("ReadReplicaSourceDBInstanceIdentifier") or ""
        seen.add(
            region,
            "aws:rds/instance:Instance",
            identifier,
            {"identifier": identifier, "tags": _tags(db.get("TagList"))},
            f"rds {identifier}"
            + (f" cross-region replicas: {', '.join(copies)}" if copies else "")
            + (f" replica of {source}" if source else ""),
        )
    for backup in _pages(clients, "rds", region, "DescribeDBInstanceAutomatedBackups", "DBInstanceAutomatedBackups"):
        for copy in backup.get("DBInstanceAutomatedBackupsReplications", []):
            seen.lines.setdefault(region, []).append(
                f"rds backups of {backup.get('DBInstanceIdentifier')} replicate: "
                f"{copy.get('DBInstanceAutomatedBackupsArn')}"
            )


def _arn_tags(clients: Clients, service: str, region: str, arn: str | None) -> dict[str, str]:
    if not arn:
        return {}
    return _tags((_read(clients, service, region, "ListTagsForResource", ResourceName=arn) or {}).get("TagList"))


def _registry(clients: Clients, seen: _Observed, region: str) -> None:
    registry = _read(clients, "ecr", region, "DescribeRegistry") or {}
    rules = (registry.get("replicationConfiguration") or {}).get("rules", [])
    if rules:
        destinations = [{"region": d.get("region")} for r in rules for d in r.get("destinations", [])]
        seen.add(
            region,
            "aws:ecr/replicationConfiguration:ReplicationConfiguration",
            f"ecr-replication-{region}",
            {"replicationConfiguration": {"rules": [{"destinations": destinations}]}},
            f"ecr registry replicates to {', '.join(str(d['region']) for d in destinations)}",
        )
    for repository in _pages(clients, "ecr", region, "DescribeRepositories", "repositories"):
        seen.add(
            region,
            "aws:ecr/repository:Repository",
            repository["repositoryName"],
            {"name": repository["repositoryName"]},
        )


def _roles(clients: Clients, seen: _Observed, home: str, residency: ResidencyMap) -> dict[str, str]:
    """Inline role policies, placed in the jurisdiction their role is tagged with (IAM itself is global)."""
    roles: dict[str, str] = {}
    for role in _pages(clients, "iam", home, "ListRoles", "Roles"):
        if str(role.get("Path", "")).startswith("/aws-service-role/"):
            continue
        name = role["RoleName"]
        tags = _tags((_read(clients, "iam", home, "ListRoleTags", RoleName=name) or {}).get("Tags"))
        jurisdiction = tags.get("jurisdiction", "global")
        roles[name] = jurisdiction
        region = next((r for r in seen.regions if residency.jurisdiction_of(r) == jurisdiction), "global")
        for policy in _pages(clients, "iam", home, "ListRolePolicies", "PolicyNames", RoleName=name):
            document = (_read(clients, "iam", home, "GetRolePolicy", RoleName=name, PolicyName=policy) or {}).get(
                "PolicyDocument"
            )
            seen.add(
                region,
                "aws:iam/rolePolicy:RolePolicy",
                f"{name}/{policy}",
                {"role": name, "policy": document, "jurisdiction": jurisdiction},
            )
    return roles


def audit(
    regions: Sequence[str], clients: Clients, graphs: Sequence[Mapping[str, Any]], residency: ResidencyMap
) -> AuditReport:
    """Reads `regions` of the account behind `clients` and judges it."""
    seen = _Observed(list(regions))
    home = regions[0]
    _buckets(clients, seen, home)
    for region in regions:
        _keys(clients, seen, region)
        _datastores(clients, seen, region)
        _registry(clients, seen, region)
    roles = _roles(clients, seen, home, residency)
    report = AuditReport(list(regions), {r: sorted(seen.lines.get(r, [])) for r in regions})
    report.findings.extend(_residency(seen, residency))
    report.findings.extend(
        Finding("mlplat-audit-public-bucket", region, f"s3 bucket {name}", why) for region, name, why in seen.public
    )
    report.findings.extend(_inventory(seen, roles, graphs))
    return report


def _observed_graphs(seen: _Observed, residency: ResidencyMap) -> list[dict[str, Any]]:
    graphs = []
    for region, resources in seen.resources.items():
        by_jurisdiction: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            jurisdiction = resource["inputs"].pop("jurisdiction", None) or residency.jurisdiction_of(region) or "global"
            by_jurisdiction.setdefault(jurisdiction, []).append(resource)
        for jurisdiction, items in by_jurisdiction.items():
            graphs.append(
                {
                    "schema": "mlplat.graph/v1",
                    "stack": f"observed:{region}",
                    "region": region,
                    "jurisdiction": jurisdiction,
                    "kind": "observed",
                    "resources": items,
                }
            )
    return graphs


def _residency(seen: _Observed, residency: ResidencyMap) -> list[Finding]:
    """The residency analysis of `mlplat residency`, over the observed account instead of the graphs."""
    report = analyse(_observed_graphs(seen, residency), residency)
    findings = []
    for breach in report.breaches:
        what = f"{_short_type(breach.resource.type)} {breach.resource.name}"
        findings.append(Finding(breach.rule, breach.resource.region, what, breach.message))
    for region, resources in seen.resources.items():
        for resource in resources:
            if resource["type"] == "aws:kms/key:Key" and resource["inputs"].get("multiRegion"):
                already = any(
                    f.resource.endswith(f" {resource['name']}") and f.rule == "mlplat-residency-no-multi-region-key"
                    for f in findings
                )
                if not already:
                    findings.append(
                        Finding(
                            "mlplat-audit-multi-region-key",
                            region,
                            f"kms key {resource['name']}",
                            "a multi-region key: its replicas can decrypt its data in other regions; "
                            "the stacks declare none",
                        )
                    )
    return findings


def _short_type(type_token: str) -> str:
    parts = type_token.split(":")
    return parts[1] if len(parts) == 3 else type_token


IDENTITY: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "aws:s3/bucket:Bucket": ("s3 bucket", lambda r: str((r.get("inputs") or {}).get("bucket") or r["name"])),
    "aws:ecr/repository:Repository": (
        "ecr repository",
        lambda r: str((r.get("inputs") or {}).get("name") or r["name"]),
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "elasticache",
        lambda r: str((r.get("inputs") or {}).get("replicationGroupId") or r["name"]),
    ),
    "aws:rds/instance:Instance": ("rds", lambda r: str((r.get("inputs") or {}).get("identifier") or r["name"])),
    "aws:dynamodb/table:Table": ("dynamodb", lambda r: str((r.get("inputs") or {}).get("name") or r["name"])),
}


def _inventory(seen: _Observed, roles: Mapping[str, str], graphs: Sequence[Mapping[str, Any]]) -> list[Finding]:  # noqa: PLR0912
    """Unmanaged (observed, in no graph) and missing (declared in an audited region, not observed) resources."""
    declared: dict[tuple[str, str], str] = {}
    aliases: set[str] = set()
    declared_roles: dict[str, str] = {}  # role name -> region of the stack that declares it
    for graph in graphs:
        for resource in graph["resources"]:
            region = str(resource.get("region") or graph.get("region"))
            if resource["type"] in IDENTITY:
                declared[(resource["type"], IDENTITY[resource["type"]][1](resource))] = region
            elif resource["type"] == "aws:kms/alias:Alias":
                aliases.add(str((resource.get("inputs") or {}).get("name")))
            elif resource["type"] == "aws:iam/role:Role":
                declared_roles[str((resource.get("inputs") or {}).get("name") or resource["name"])] = region
    findings = []
    observed: set[tuple[str, str]] = set()
    for region, resources in seen.resources.items():
        for resource in resources:
            if resource["type"] in IDENTITY:
                key = (resource["type"], IDENTITY[resource["type"]][1](resource))
                observed.add(key)
                if key not in declared:
                    findings.append(
                        Finding(
                            "mlplat-audit-unmanaged",
                            region,
                            f"{IDENTITY[key[0]][0]} {key[1]}",
                            "exists in the account but in no stack's graph",
                        )
                    )
            elif resource["type"] == "aws:kms/key:Key" and not set(resource["inputs"].get("aliases", [])) & aliases:
                findings.append(
                    Finding(
                        "mlplat-audit-unmanaged",
                        region,
                        f"kms key {resource['name']}",
                        "no alias of it is declared in any stack's graph",
                    )
                )
    for role, jurisdiction in sorted(roles.items()):
        if role not in declared_roles:
            findings.append(
                Finding(
                    "mlplat-audit-unmanaged",
                    "global",
                    f"iam role {role}",
                    f"exists in the account (jurisdiction tag {jurisdiction}) but in no stack's graph",
                )
            )
    for (type_token, name), region in sorted(declared.items()):
        if region in seen.regions and (type_token, name) not in observed:
            findings.append(
                Finding(
                    "mlplat-audit-missing",
                    region,
                    f"{IDENTITY[type_token][0]} {name}",
                    "declared in a stack's graph but absent from the account",
                )
            )
    for role in sorted(r for r, region in declared_roles.items() if region in seen.regions and r not in roles):
        findings.append(
            Finding(
                "mlplat-audit-missing",
                "global",
                f"iam role {role}",
                "declared in a stack's graph but absent from the account",
            )
        )
    return findings
