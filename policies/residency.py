"""Data residency over the whole multi-stack graph: where each tenant's data lives, every cross-region path, and
which paths break residency. Pure functions over graphs and the shared `ResidencyMap`.

Data classes come from the `mlplat/data-class` tag: `features` never leave their jurisdiction (and feature
buckets never replicate at all); `models` and `images` are global by design and may go anywhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlplat.graph import Graph, GraphIndex, Resource, as_list, policy_document, statements
from runtime.residency import ResidencyMap

BUCKET = "aws:s3/bucket:Bucket"
DATA_CLASS_TAG = "mlplat/data-class"
TENANTS_TAG = "mlplat/tenants"
GLOBAL_CLASSES = {"models": "models are global: artifacts replicate to every region", "images": "images are global"}
DATA_ACTION_PREFIXES = {
    "s3": ("s3:get", "s3:list", "s3:put", "s3:delete", "s3:restore", "s3:*", "s3:replicate"),
    "kms": ("kms:decrypt", "kms:encrypt", "kms:generatedatakey", "kms:reencrypt", "kms:*", "kms:creategrant"),
    "secretsmanager": ("secretsmanager:getsecretvalue", "secretsmanager:*"),
    "glue": ("glue:get", "glue:*", "glue:batchget"),
    "elasticache": ("elasticache:connect", "elasticache:*"),
}


@dataclass(frozen=True)
class ResourceRef:
    stack: str
    type: str
    name: str
    region: str

    def as_json(self) -> dict[str, str]:
        return {"stack": self.stack, "type": self.type, "name": self.name, "region": self.region}


@dataclass(frozen=True)
class CrossRegionPath:
    kind: str  # replication | global-datastore | global-table | multi-region-key | iam-grant | endpoint
    source: ResourceRef
    target_region: str | None
    data_class: str
    allowed: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source.as_json(),
            "target_region": self.target_region,
            "data_class": self.data_class,
            "allowed": self.allowed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Breach:
    rule: str
    resource: ResourceRef
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "resource": self.resource.as_json(), "message": self.message}


@dataclass
class ResidencyReport:
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: list[CrossRegionPath] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)


def data_class(resource: Resource) -> str:
    return resource.tags.get(DATA_CLASS_TAG, "platform")


class _Index:
    """The shared `GraphIndex` over every stack, plus feature resources as (service, region, ARN resource part) so
    that an IAM `Resource` pattern can be matched against them."""

    def __init__(self, graphs: Sequence[Graph | Mapping[str, Any]]) -> None:
        self.graphs = GraphIndex(graphs)
        self.items = self.graphs.resources
        self.feature_arns: list[tuple[str, str, str, Resource]] = []
        for item in self.items:
            if data_class(item) != "features":
                continue
            inputs, name, region = item.inputs, item.name, str(item.region)
            arn_parts = {
                "aws:s3/bucket:Bucket": ("s3", "", str(inputs.get("bucket") or name)),
                "aws:kms/key:Key": ("kms", region, f"key/{name}"),
                "aws:secretsmanager/secret:Secret": ("secretsmanager", region, f"secret:{inputs.get('name', name)}"),
                "aws:glue/catalogDatabase:CatalogDatabase": ("glue", region, f"database/{inputs.get('name', name)}"),
                "aws:elasticache/replicationGroup:ReplicationGroup": (
                    "elasticache",
                    region,
                    f"replicationgroup:{inputs.get('replicationGroupId', name)}",
                ),
            }.get(item.type)
            if arn_parts is not None:
                self.feature_arns.append((*arn_parts, item))

    def ref(self, resource: Resource) -> ResourceRef:
        return ResourceRef(self.graphs.graph_of(resource).stack, resource.type, resource.name, str(resource.region))

    def jurisdiction(self, resource: Resource) -> str:
        """The jurisdiction of the stack that declares the resource."""
        return self.graphs.graph_of(resource).jurisdiction

    def bucket(self, reference: str) -> Resource | None:
        name = reference.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return self.graphs.resolve(name, (BUCKET,)) or self.graphs.resolve(reference, (BUCKET,))

    def features_matching(self, pattern: str) -> Iterator[Resource]:
        """Feature resources an IAM `Resource` pattern covers (the account part is ignored)."""
        if pattern == "*":
            yield from (item for *_, item in self.feature_arns)
            return
        parts = pattern.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return
        service, region, resource = parts[2], parts[3], parts[5]
        for f_service, f_region, f_resource, item in self.feature_arns:
            if not fnmatch.fnmatchcase(f_service, service):
                continue
            if f_region and region and not fnmatch.fnmatchcase(f_region, region):
                continue
            object_pattern = resource.split("/", 1)[0] if f_service == "s3" else resource
            if fnmatch.fnmatchcase(f_resource, object_pattern) or fnmatch.fnmatchcase(f_resource, resource):
                yield item


def analyse(graphs: Sequence[Mapping[str, Any]], residency: ResidencyMap) -> ResidencyReport:
    index = _Index(graphs)
    report = ResidencyReport()
    _tenant_table(index, residency, report)
    for check in (
        _stores,
        _replication,
        _image_replication,
        _global_datastores,
        _global_tables,
        _multi_region_keys,
        _iam_grants,
        _endpoints,
        _answering_regions,
    ):
        check(index, residency, report)
    return report


RECORD_TYPE = "aws:route53/record:Record"


def answering_regions(resources: Iterable[Resource], residency: ResidencyMap) -> dict[str, list[str]]:
    """Jurisdiction -> the regions its DNS name (`{jurisdiction}.{domain}`) can answer from, as the records say."""
    from policies.rules.traffic import host_region

    found: dict[str, set[str]] = {}
    for resource in resources:
        if resource.type != RECORD_TYPE:
            continue
        inputs = resource.inputs
        label = str(inputs.get("name") or "").split(".", 1)[0]
        if label not in residency.jurisdictions:
            continue
        regions = found.setdefault(label, set())
        regions.update(str(p.get("region")) for p in inputs.get("latencyRoutingPolicies") or [] if p.get("region"))
        for alias in inputs.get("aliases") or []:
            regions.add(host_region(alias.get("name")) or "unknown")
    return {name: sorted(regions) for name, regions in sorted(found.items())}


def _answering_regions(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """Per tenant: the regions that can answer its requests (its jurisdiction's DNS name) beside those holding its
    data. Answering outside the allowed regions is a breach; answering where its features are not stored is not
    (the serving guard answers 451 there: a degraded answer, never data from elsewhere)."""
    answering = answering_regions(index.items, residency)
    for tenant, row in report.tenants.items():
        home = residency.tenants.get(tenant)
        if home is None:
            continue
        regions = answering.get(home.jurisdiction, [])
        row["answered_from"] = regions
        row["dns_failover"] = len(regions) > 1
        outside = [r for r in regions if r not in row["allowed_regions"]]
        if outside:
            ref = ResourceRef("dns", RECORD_TYPE, f"{home.jurisdiction} name", ",".join(outside))
            report.breaches.append(
                Breach(
                    "mlplat-traffic-dns-within-jurisdiction",
                    ref,
                    f"tenant {tenant} ({home.jurisdiction}) can be answered from {', '.join(outside)}, "
                    f"outside its allowed regions {', '.join(row['allowed_regions'])}",
                )
            )


def _tenant_table(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    stored: dict[str, set[str]] = {t: set() for t in residency.tenants}
    for item in index.items:
        for tenant in item.tags.get(TENANTS_TAG, "").split():
            stored.setdefault(tenant, set()).add(str(item.region))
    for tenant, regions in sorted(stored.items()):
        home = residency.tenants.get(tenant)
        report.tenants[tenant] = {
            "jurisdiction": home.jurisdiction if home else None,
            "home_region": home.home_region if home else None,
            "failover_regions": list(home.failover_regions) if home else [],
            "stored_in": sorted(regions),
            "allowed_regions": sorted(residency.regions_holding(tenant)),
        }


def _stores(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """Feature resources sit in their stack's jurisdiction and hold only tenants whose data may live in their region
    (`ResidencyMap.may_hold`: the tenant's home or failover region, inside its jurisdiction)."""
    for item in index.items:
        if data_class(item) != "features":
            continue
        region = str(item.region)
        jurisdiction = residency.jurisdiction_of(region)
        if jurisdiction != index.jurisdiction(item):
            report.breaches.append(
                Breach(
                    "mlplat-residency-store-in-jurisdiction",
                    index.ref(item),
                    f"feature data in {region} ({jurisdiction}) belongs to a {index.jurisdiction(item)} stack",
                )
            )
        for tenant in item.tags.get(TENANTS_TAG, "").split():
            if not residency.may_hold(tenant, region):
                home = residency.tenants.get(tenant)
                owner = home.jurisdiction if home else "unknown"
                allowed = ", ".join(residency.regions_holding(tenant)) or "none"
                report.breaches.append(
                    Breach(
                        "mlplat-residency-tenant-in-jurisdiction",
                        index.ref(item),
                        f"holds tenant {tenant} ({owner}; may live in {allowed}) in {region} ({jurisdiction})",
                    )
                )


def _path(
    report: ResidencyReport,
    residency: ResidencyMap,
    kind: str,
    source: ResourceRef,
    target_region: str | None,
    klass: str,
    rule: str,
) -> None:
    """Records a cross-region path and decides it: global classes anywhere, others only inside the jurisdiction."""
    source_region = source.region
    if klass in GLOBAL_CLASSES:
        allowed, reason = True, GLOBAL_CLASSES[klass]
    elif klass == "features" and kind == "replication":
        allowed, reason = False, "feature buckets never replicate"
    elif target_region is None:
        allowed, reason = False, "the target's region is unknown, so residency cannot be proven"
    elif residency.same_jurisdiction(source_region, target_region):
        allowed, reason = True, f"stays in {residency.jurisdiction_of(source_region)}"
    else:
        allowed = False
        source_jurisdiction = residency.jurisdiction_of(source_region)
        reason = f"{klass} cross from {source_jurisdiction} to {residency.jurisdiction_of(target_region)}"
    report.paths.append(CrossRegionPath(kind, source, target_region, klass, allowed, reason))
    if not allowed:
        report.breaches.append(Breach(rule, source, f"{kind} to {target_region or 'an unknown region'}: {reason}"))


def _replication(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = item.inputs
        if item.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
            source = index.bucket(str(inputs.get("bucket", "")))
            rules = inputs.get("rules") or []
        elif item.type == "aws:s3/bucket:Bucket" and inputs.get("replicationConfiguration"):
            source = item
            rules = (inputs["replicationConfiguration"] or {}).get("rules") or []
        else:
            continue
        klass = data_class(source) if source is not None else "unknown"
        for rule in rules:
            destination = str((rule.get("destination") or {}).get("bucket", ""))
            target = index.bucket(destination)
            target_region = str(target.region) if target is not None else None
            _path(
                report,
                residency,
                "replication",
                index.ref(item),
                target_region,
                klass,
                "mlplat-residency-no-replication",
            )


def _image_replication(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        if item.type != "aws:ecr/replicationConfiguration:ReplicationConfiguration":
            continue
        configuration = item.inputs.get("replicationConfiguration") or {}
        for rule in configuration.get("rules") or []:
            for destination in rule.get("destinations") or []:
                _path(report, residency, "replication", index.ref(item), str(destination.get("region")), "images",
                      "mlplat-residency-no-replication")  # fmt: skip


def _global_datastores(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    group_type = "aws:elasticache/replicationGroup:ReplicationGroup"
    for item in index.items:
        if item.type == "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup":
            primary = index.graphs.resolve(item.inputs.get("primaryReplicationGroupId"), (group_type,))
            klass = data_class(primary or item)
        elif item.type == group_type and item.inputs.get("globalReplicationGroupId"):
            klass = data_class(item)
        else:
            continue
        _path(
            report, residency, "global-datastore", index.ref(item), None, klass, "mlplat-residency-no-global-datastore"
        )


def _global_tables(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = item.inputs
        if item.type == "aws:dynamodb/table:Table":
            for replica in inputs.get("replicas") or []:
                _path(
                    report,
                    residency,
                    "global-table",
                    index.ref(item),
                    str(replica.get("regionName")),
                    data_class(item),
                    "mlplat-residency-no-global-table",
                )


def _multi_region_keys(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        type_token = item.type
        inputs = item.inputs
        if type_token == "aws:kms/replicaKey:ReplicaKey":
            primary_arn = str(inputs.get("primaryKeyArn", ""))
            primary = next(iter(index.features_matching(primary_arn)), None) if primary_arn else None
            klass = data_class(primary) if primary is not None else data_class(item)
            source = primary or item
            _path(
                report,
                residency,
                "multi-region-key",
                index.ref(source),
                str(item.region),
                klass,
                "mlplat-residency-no-multi-region-key",
            )
        elif type_token == "aws:kms/key:Key" and inputs.get("multiRegion") is True and data_class(item) == "features":
            report.breaches.append(
                Breach(
                    "mlplat-residency-no-multi-region-key",
                    index.ref(item),
                    "a multi-region key encrypts feature data; its replicas could decrypt it outside the jurisdiction",
                )
            )


def _iam_grants(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """An identity policy in one stack granting data access to another jurisdiction's feature resources."""
    policy_types = {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy"}
    for item in index.items:
        if item.type not in policy_types:
            continue
        own = index.jurisdiction(item)
        reported: set[tuple[str, str]] = set()
        allowed = (st for st in statements(policy_document(item.inputs.get("policy"))) if st.get("Effect") == "Allow")
        for statement in allowed:
            actions = [str(a).lower() for a in as_list(statement.get("Action"))]
            for pattern in map(str, as_list(statement.get("Resource"))):
                for target in index.features_matching(pattern):
                    service = target.type.split(":")[1].split("/")[0]
                    relevant = DATA_ACTION_PREFIXES.get(service, ())
                    if not any(a == "*" or a.startswith(relevant) for a in actions):
                        continue
                    target_region = str(target.region)
                    if residency.jurisdiction_of(target_region) == own:
                        continue
                    key = (target.type, target.name)
                    if key in reported:
                        continue
                    reported.add(key)
                    _path(
                        report,
                        residency,
                        "iam-grant",
                        index.ref(item),
                        target_region,
                        "features",
                        "mlplat-residency-no-foreign-grant",
                    )


def _endpoints(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = item.inputs
        if item.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("serviceRegion"):
            target = str(inputs["serviceRegion"])
            if target != item.region:
                _path(
                    report,
                    residency,
                    "endpoint",
                    index.ref(item),
                    target,
                    data_class(item),
                    "mlplat-residency-endpoint",
                )


def breaches_by_stack(report: ResidencyReport) -> Mapping[str, list[Breach]]:
    grouped: dict[str, list[Breach]] = {}
    for breach in report.breaches:
        grouped.setdefault(breach.resource.stack, []).append(breach)
    return grouped


def tenants_outside(report: ResidencyReport) -> Iterable[tuple[str, list[str]]]:
    """Tenants whose data is stored outside their jurisdiction's regions (for the summary)."""
    for tenant, row in report.tenants.items():
        outside = [r for r in row["stored_in"] if r not in row["allowed_regions"]]
        if outside:
            yield tenant, outside
