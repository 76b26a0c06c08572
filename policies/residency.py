"""Data residency over the whole multi-stack graph: where each tenant's data lives, every cross-region path, and
which paths break residency. Pure functions over graphs and the shared `ResidencyMap`.

Data classes come from the `mlplat/data-class` tag: `features` never leave their jurisdiction (and feature
buckets never replicate at all); `models` and `images` are global by design and may go anywhere.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.residency import ResidencyMap

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


def _inputs(resource: Mapping[str, Any]) -> dict[str, Any]:
    return dict(resource.get("inputs") or {})


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    tags = _inputs(resource).get("tags")
    return dict(tags) if isinstance(tags, Mapping) else {}


def data_class(resource: Mapping[str, Any]) -> str:
    return _tags(resource).get(DATA_CLASS_TAG, "platform")


def _ref(graph: Mapping[str, Any], resource: Mapping[str, Any]) -> ResourceRef:
    return ResourceRef(str(graph["stack"]), str(resource["type"]), str(resource["name"]), str(resource.get("region")))


@dataclass(frozen=True)
class _Indexed:
    graph: Mapping[str, Any]
    resource: Mapping[str, Any]

    @property
    def ref(self) -> ResourceRef:
        return _ref(self.graph, self.resource)


class _Index:
    """Lookups across every stack: buckets by name and id; feature resources as (service, region, resource)."""

    def __init__(self, graphs: Sequence[Mapping[str, Any]]) -> None:
        self.graphs = graphs
        self.items = [_Indexed(g, r) for g in graphs for r in g["resources"]]
        self.buckets: dict[str, _Indexed] = {}
        self.feature_arns: list[tuple[str, str, str, _Indexed]] = []
        for item in self.items:
            inputs = _inputs(item.resource)
            type_token = item.resource["type"]
            if type_token == "aws:s3/bucket:Bucket":
                bucket = str(inputs.get("bucket") or item.resource["name"])
                self.buckets[bucket] = item
                self.buckets[str(item.resource.get("id", ""))] = item
            if data_class(item.resource) != "features":
                continue
            region = str(item.resource.get("region"))
            name = str(item.resource["name"])
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
            }.get(type_token)
            if arn_parts is not None:
                self.feature_arns.append((*arn_parts, item))

    def bucket(self, reference: str) -> _Indexed | None:
        name = reference.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return self.buckets.get(name) or self.buckets.get(reference)

    def features_matching(self, pattern: str) -> Iterator[_Indexed]:
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


def answering_regions(graphs: Sequence[Mapping[str, Any]], residency: ResidencyMap) -> dict[str, list[str]]:
    """Jurisdiction -> the regions its DNS name (`{jurisdiction}.{domain}`) can answer from, as the records say."""
    from policies.rules.traffic import host_region

    found: dict[str, set[str]] = {}
    for graph in graphs:
        for resource in graph.get("resources", []):
            if resource.get("type") != RECORD_TYPE:
                continue
            inputs = _inputs(resource)
            label = str(inputs.get("name") or "").split(".", 1)[0]
            if label not in residency.jurisdictions:
                continue
            regions = found.setdefault(label, set())
            regions.update(str(p.get("region")) for p in inputs.get("latencyRoutingPolicies") or [] if p.get("region"))
            for alias in inputs.get("aliases") or []:
                region = host_region(alias.get("name"))
                regions.add(region or "unknown")
    return {name: sorted(regions) for name, regions in sorted(found.items())}


def _answering_regions(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """Per tenant: the regions that can answer its requests (its jurisdiction's DNS name) beside those holding its
    data. Answering outside the allowed regions is a breach; answering where its features are not stored is not
    (the serving guard answers 451 there: a degraded answer, never data from elsewhere)."""
    answering = answering_regions(index.graphs, residency)
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
        for tenant in _tags(item.resource).get(TENANTS_TAG, "").split():
            stored.setdefault(tenant, set()).add(str(item.resource.get("region")))
    for tenant, regions in sorted(stored.items()):
        home = residency.tenants.get(tenant)
        report.tenants[tenant] = {
            "jurisdiction": home.jurisdiction if home else None,
            "home_region": home.home_region if home else None,
            "failover_regions": list(home.failover_regions) if home else [],
            "stored_in": sorted(regions),
            "allowed_regions": sorted(residency.jurisdictions.get(home.jurisdiction, ())) if home else [],
        }


def _stores(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """Feature resources sit in their stack's jurisdiction and hold only that jurisdiction's tenants."""
    for item in index.items:
        if data_class(item.resource) != "features":
            continue
        region = str(item.resource.get("region"))
        jurisdiction = residency.jurisdiction_of(region)
        if jurisdiction != item.graph["jurisdiction"]:
            report.breaches.append(
                Breach(
                    "mlplat-residency-store-in-jurisdiction",
                    item.ref,
                    f"feature data in {region} ({jurisdiction}) belongs to a {item.graph['jurisdiction']} stack",
                )
            )
        for tenant in _tags(item.resource).get(TENANTS_TAG, "").split():
            home = residency.tenants.get(tenant)
            if home is None or home.jurisdiction != jurisdiction:
                owner = home.jurisdiction if home else "unknown"
                report.breaches.append(
                    Breach(
                        "mlplat-residency-tenant-in-jurisdiction",
                        item.ref,
                        f"holds tenant {tenant} ({owner}) in {region} ({jurisdiction})",
                    )
                )


def _path(
    report: ResidencyReport,
    residency: ResidencyMap,
    kind: str,
    source: _Indexed,
    target_region: str | None,
    klass: str,
    rule: str,
) -> None:
    """Records a cross-region path and decides it: global classes anywhere, others only inside the jurisdiction."""
    source_region = str(source.resource.get("region"))
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
    report.paths.append(CrossRegionPath(kind, source.ref, target_region, klass, allowed, reason))
    if not allowed:
        report.breaches.append(Breach(rule, source.ref, f"{kind} to {target_region or 'an unknown region'}: {reason}"))


def _replication(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = _inputs(item.resource)
        if item.resource["type"] == "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
            source = index.bucket(str(inputs.get("bucket", "")))
            rules = inputs.get("rules") or []
        elif item.resource["type"] == "aws:s3/bucket:Bucket" and inputs.get("replicationConfiguration"):
            source = item
            rules = (inputs["replicationConfiguration"] or {}).get("rules") or []
        else:
            continue
        klass = data_class(source.resource) if source is not None else "unknown"
        for rule in rules:
            destination = str((rule.get("destination") or {}).get("bucket", ""))
            target = index.bucket(destination)
            target_region = str(target.resource.get("region")) if target is not None else None
            _path(report, residency, "replication", item, target_region, klass, "mlplat-residency-no-replication")


def _image_replication(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        if item.resource["type"] != "aws:ecr/replicationConfiguration:ReplicationConfiguration":
            continue
        configuration = _inputs(item.resource).get("replicationConfiguration") or {}
        for rule in configuration.get("rules") or []:
            for destination in rule.get("destinations") or []:
                _path(report, residency, "replication", item, str(destination.get("region")), "images",
                      "mlplat-residency-no-replication")  # fmt: skip


def _global_datastores(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    groups = {
        str(_inputs(i.resource).get("replicationGroupId", i.resource["name"])): i
        for i in index.items
        if i.resource["type"] == "aws:elasticache/replicationGroup:ReplicationGroup"
    }
    for item in index.items:
        inputs = _inputs(item.resource)
        if item.resource["type"] == "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup":
            primary = groups.get(str(inputs.get("primaryReplicationGroupId", "")))
            klass = data_class(primary.resource) if primary is not None else data_class(item.resource)
            _path(report, residency, "global-datastore", item, None, klass, "mlplat-residency-no-global-datastore")
        elif item.resource["type"] == "aws:elasticache/replicationGroup:ReplicationGroup" and inputs.get(
            "globalReplicationGroupId"
        ):
            _path(
                report,
                residency,
                "global-datastore",
                item,
                None,
                data_class(item.resource),
                "mlplat-residency-no-global-datastore",
            )


def _global_tables(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = _inputs(item.resource)
        if item.resource["type"] == "aws:dynamodb/table:Table":
            for replica in inputs.get("replicas") or []:
                _path(
                    report,
                    residency,
                    "global-table",
                    item,
                    str(replica.get("regionName")),
                    data_class(item.resource),
                    "mlplat-residency-no-global-table",
                )


def _multi_region_keys(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        type_token = item.resource["type"]
        inputs = _inputs(item.resource)
        if type_token == "aws:kms/replicaKey:ReplicaKey":
            primary_arn = str(inputs.get("primaryKeyArn", ""))
            primary = next(iter(index.features_matching(primary_arn)), None) if primary_arn else None
            klass = data_class(primary.resource) if primary is not None else data_class(item.resource)
            source = primary or item
            _path(
                report,
                residency,
                "multi-region-key",
                source,
                str(item.resource.get("region")),
                klass,
                "mlplat-residency-no-multi-region-key",
            )
        elif (
            type_token == "aws:kms/key:Key"
            and inputs.get("multiRegion") is True
            and data_class(item.resource) == "features"
        ):
            report.breaches.append(
                Breach(
                    "mlplat-residency-no-multi-region-key",
                    item.ref,
                    "a multi-region key encrypts feature data; its replicas could decrypt it outside the jurisdiction",
                )
            )


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError:
            return
    if not isinstance(policy, Mapping):
        return
    statements = policy.get("Statement", [])
    for statement in [statements] if isinstance(statements, Mapping) else statements:
        if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
            yield dict(statement)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])


def _iam_grants(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    """An identity policy in one stack granting data access to another jurisdiction's feature resources."""
    policy_types = {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy"}
    for item in index.items:
        if item.resource["type"] not in policy_types:
            continue
        own = item.graph["jurisdiction"]
        reported: set[tuple[str, str]] = set()
        for statement in _statements(_inputs(item.resource).get("policy")):
            actions = [a.lower() for a in _as_list(statement.get("Action"))]
            for pattern in _as_list(statement.get("Resource")):
                for target in index.features_matching(pattern):
                    service = target.resource["type"].split(":")[1].split("/")[0]
                    relevant = DATA_ACTION_PREFIXES.get(service, ())
                    if not any(a == "*" or a.startswith(relevant) for a in actions):
                        continue
                    target_region = str(target.resource.get("region"))
                    if residency.jurisdiction_of(target_region) == own:
                        continue
                    key = (target.resource["type"], target.resource["name"])
                    if key in reported:
                        continue
                    reported.add(key)
                    _path(
                        report,
                        residency,
                        "iam-grant",
                        item,
                        target_region,
                        "features",
                        "mlplat-residency-no-foreign-grant",
                    )


def _endpoints(index: _Index, residency: ResidencyMap, report: ResidencyReport) -> None:
    for item in index.items:
        inputs = _inputs(item.resource)
        if item.resource["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("serviceRegion"):
            target = str(inputs["serviceRegion"])
            if target != item.resource.get("region"):
                _path(
                    report, residency, "endpoint", item, target, data_class(item.resource), "mlplat-residency-endpoint"
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
