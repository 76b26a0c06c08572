"""Data residency over the graph: stores stay in their jurisdiction, no replication or grant carries regional data
across a border (DESIGN.md section 3: models are global, features are regional)."""

from __future__ import annotations

from collections.abc import Iterator

from mlplat.graph import GraphIndex, as_list, policy_document, statements
from policies.engine import Graph, Resource, StackContext
from policies.rules.encryption import BUCKET_TYPES, RDS_CLUSTER, RDS_INSTANCE, REPLICATION_GROUP
from policies.rules.registry import RULES, first, inputs_of

STORE_TYPES = (
    *BUCKET_TYPES,
    RDS_INSTANCE,
    RDS_CLUSTER,
    REPLICATION_GROUP,
    "aws:elasticache/serverlessCache:ServerlessCache",
    "aws:dynamodb/table:Table",
    "aws:ebs/volume:Volume",
)
REGIONAL_CLASSES = frozenset({"features", "personal", "predictions", "tenant"})
GLOBAL_CLASSES = frozenset({"models", "artifacts", "images", "metadata"})
DATA_CLASS_TAGS = ("mlplat/data-class", "data-class")
FAMILY = "residency"


def data_class(resource: Resource) -> str | None:
    tags = resource.tags
    return next((tags[k].lower() for k in DATA_CLASS_TAGS if k in tags), None)


def holds_regional_data(resource: Resource, context: StackContext) -> bool:
    """Feature and tenant data is regional. Untagged stores in a regional stack are presumed regional; in the global
    stack, only those tagged so or named after features."""
    kind = data_class(resource)
    if kind in REGIONAL_CLASSES:
        return True
    if kind in GLOBAL_CLASSES:
        return False
    return context.kind == "regional" or "feature" in str(resource["name"]).lower()


def _jurisdiction(region: str | None, context: StackContext) -> str | None:
    if not region:
        return None
    known = context.settings.jurisdiction_of(region)
    if known is None and region == context.region:
        return context.jurisdiction
    return known


@RULES.graph_rule(
    "mlplat-regional-stack-one-region",
    "mandatory",
    "A regional stack deploys only into its own region; cross-region resources belong to the global stack.",
    FAMILY,
)
def regional_stack_one_region(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    if graph.get("kind", "regional") != "regional":
        return
    parents = {f"{r['type']}::{r['name']}": r.get("parent") for r in graph["resources"]}
    for resource in graph["resources"]:
        if not str(resource["type"]).startswith("aws:") or resource.get("region") == graph["region"]:
            continue
        where = f"resource is in {resource.get('region')}, outside the stack's region {graph['region']}"
        if _recovery_copy(resource, parents):
            if _jurisdiction(resource.get("region"), context) == context.jurisdiction:
                continue  # a disaster-recovery copy in a second region of the same jurisdiction
            where += f" and outside its jurisdiction {context.jurisdiction}"
        yield resource, where


RECOVERY_COMPONENTS = frozenset({"mlplat:index:RegistryBackups"})


def _recovery_copy(resource: Resource, parents: dict[str, str | None]) -> bool:
    """True for resources declared by a disaster-recovery component (directly or through a child component)."""
    parent = resource.get("parent")
    for _ in range(16):
        if not parent:
            return False
        if str(parent).split("::", 1)[0] in RECOVERY_COMPONENTS:
            return True
        parent = parents.get(str(parent))
    return False


@RULES.graph_rule(
    "mlplat-residency-store-jurisdiction",
    "mandatory",
    "A store of regional data lives in a region of its stack's jurisdiction, and never in the global stack.",
    FAMILY,
)
def store_in_jurisdiction(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    for store in GraphIndex.of(graph).of_type(*STORE_TYPES):
        if not holds_regional_data(store, context):
            continue
        if context.kind != "regional":
            yield store, "regional (feature/tenant) data declared in the global stack; it belongs in a regional stack"
            continue
        where = _jurisdiction(store.get("region"), context)
        if where != context.jurisdiction:
            yield (
                store,
                (
                    f"store is in {store.get('region')} (jurisdiction {where or 'unknown'}), "
                    f"outside the stack's jurisdiction {context.jurisdiction}"
                ),
            )


@RULES.graph_rule(
    "mlplat-residency-no-cross-jurisdiction-replication",
    "mandatory",
    "Regional data is never replicated to a region of another jurisdiction (S3 replication, table replicas, global "
    "datastores, cross-region database replicas).",
    FAMILY,
)
def no_cross_jurisdiction_replication(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    yield from _bucket_replication(index, context)
    for table in index.of_type("aws:dynamodb/table:Table"):
        if not holds_regional_data(table, context):
            continue
        for replica in as_list(inputs_of(table).get("replicas")):
            region = first(replica).get("regionName")
            if _jurisdiction(region, context) != context.jurisdiction:
                yield table, f"table replica in {region} is outside the jurisdiction {context.jurisdiction}"
    for database in index.of_type(RDS_INSTANCE, RDS_CLUSTER):
        inputs = inputs_of(database)
        origin = str(inputs.get("replicateSourceDb") or inputs.get("replicationSourceIdentifier") or "")
        region = origin.split(":")[3] if origin.startswith("arn:") and origin.count(":") >= 4 else None
        if region and _jurisdiction(region, context) != _jurisdiction(database.get("region"), context):
            yield database, f"database replicates from {region}, another jurisdiction"
    if context.kind == "regional":
        for global_store in index.of_type("aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"):
            yield global_store, "a global datastore replicates the online store to other regions"


def _bucket_replication(index: GraphIndex, context: StackContext) -> Iterator[tuple[Resource, str]]:
    for replication in index.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        source = index.resolve(inputs_of(replication).get("bucket"), BUCKET_TYPES)
        if source is None or not holds_regional_data(source, context):
            continue
        home = _jurisdiction(source.get("region"), context)
        for rule in as_list(inputs_of(replication).get("rules")):
            target_ref = first(first(rule).get("destination")).get("bucket")
            target = index.resolve(target_ref, BUCKET_TYPES)
            if target is None:
                yield replication, f"replicates regional data of {source['name']} to {target_ref}, outside this stack"
            elif _jurisdiction(target.get("region"), context) != home:
                where = target.get("region")
                yield replication, f"replicates regional data of {source['name']} to {target['name']} in {where}"


@RULES.graph_rule(
    "mlplat-residency-no-cross-jurisdiction-grants",
    "mandatory",
    "No bucket policy opens regional data to everyone or to a resource in another jurisdiction.",
    FAMILY,
)
def no_cross_jurisdiction_grants(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    for bucket_policy in index.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        bucket = index.resolve(inputs_of(bucket_policy).get("bucket"), BUCKET_TYPES)
        if bucket is None or not holds_regional_data(bucket, context):
            continue
        home = _jurisdiction(bucket.get("region"), context)
        for statement in statements(policy_document(inputs_of(bucket_policy).get("policy"))):
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            principals = as_list(principal.get("AWS") if isinstance(principal, dict) else principal)
            if "*" in principals and not statement.get("Condition"):
                yield bucket_policy, f"grants {bucket['name']} to every principal without a condition"
            for grantee in (index.resolve(p) for p in principals):
                if grantee is not None and grantee.is_cloud:
                    elsewhere = _jurisdiction(grantee.get("region"), context)
                    if elsewhere and elsewhere != home:
                        yield bucket_policy, f"grants {bucket['name']} to {grantee['name']} in jurisdiction {elsewhere}"
