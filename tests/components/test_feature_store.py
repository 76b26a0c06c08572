"""The regional feature store as synthesized from the real stack program."""

import json
from typing import Any

import yaml

from components.feature_store import feast_repo_config, feature_access_policy


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _one(graph: dict[str, Any], type_token: str, suffix: str) -> dict[str, Any]:
    (found,) = [r for r in _of(graph, type_token) if r["name"].endswith(suffix)]
    return found


def test_each_region_holds_only_its_jurisdictions_tenants(regional_graphs: dict[str, dict[str, Any]]) -> None:
    expected = {
        "eu-west-1": "acme-eu bosch-de",
        "eu-central-1": "acme-eu bosch-de",
        "us-east-1": "globex-us",
        "ap-southeast-1": "initech-sg",
    }
    for name, graph in regional_graphs.items():
        redis = _one(graph, "aws:elasticache/replicationGroup:ReplicationGroup", "-features")
        assert redis["inputs"]["tags"]["mlplat/tenants"] == expected[name]
        assert redis["inputs"]["tags"]["mlplat/data-class"] == "features"


def test_redis_is_encrypted_private_and_highly_available(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        redis = _one(graph, "aws:elasticache/replicationGroup:ReplicationGroup", "-features")["inputs"]
        assert redis["engine"] == "redis" and redis["engineVersion"].startswith("7.")
        assert redis["transitEncryptionEnabled"] is True and redis["transitEncryptionMode"] == "required"
        assert redis["atRestEncryptionEnabled"] is True
        key = next(
            k for k in _of(graph, "aws:kms/key:Key") if k["inputs"]["tags"].get("mlplat/data-class") == "features"
        )
        assert redis["kmsKeyId"].endswith(f":key/{key['name']}")
        assert f":{graph['region']}:" in redis["kmsKeyId"]
        assert redis["automaticFailoverEnabled"] is True and redis["multiAzEnabled"] is True
        assert redis["numCacheClusters"] >= 2
        assert redis["snapshotRetentionLimit"] >= 1 and redis["finalSnapshotIdentifier"]
        assert redis["authToken"] and redis["authTokenUpdateStrategy"] == "ROTATE"
        subnet_group = _one(graph, "aws:elasticache/subnetGroup:SubnetGroup", "-features")
        intra_ids = {f"{s['name']}-id" for s in _of(graph, "aws:ec2/subnet:Subnet") if "-intra-" in s["name"]}
        assert set(subnet_group["inputs"]["subnetIds"]) == intra_ids
        (redis_sg,) = [s for s in _of(graph, "aws:ec2/securityGroup:SecurityGroup") if s["name"].endswith("-redis")]
        (rule,) = redis_sg["inputs"]["ingress"]
        assert (rule["fromPort"], rule["toPort"]) == (6379, 6379)
        assert not rule.get("cidrBlocks") and rule["securityGroups"]


def test_auth_token_lives_in_secrets_manager_under_the_regional_key(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        secret = _one(graph, "aws:secretsmanager/secret:Secret", "-redis-auth")["inputs"]
        assert secret["kmsKeyId"].endswith("-key")
        (version,) = _of(graph, "aws:secretsmanager/secretVersion:SecretVersion")
        assert version["inputs"]["secretId"].endswith("-redis-auth-id")


def test_offline_bucket_is_locked_to_the_region(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        prefix = next(r["name"] for r in graph["resources"] if r["type"] == "mlplat:index:RegionalNetwork")
        bucket = f"mlplat-{prefix}-features-offline"
        sse = _one(
            graph,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "features-offline-sse",
        )["inputs"]["rules"][0]
        assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert sse["bucketKeyEnabled"] is True
        pab = _one(graph, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "features-offline-public-access")
        assert all(
            pab["inputs"][k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        policy = json.loads(
            _one(graph, "aws:s3/bucketPolicy:BucketPolicy", "features-offline-policy")["inputs"]["policy"]
        )
        statements = {s["Sid"]: s for s in policy["Statement"]}
        assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        objects = statements["DenyObjectAccessOutsideThisRegionsVpcEndpoint"]
        listing = statements["DenyListingOutsideThisRegionsVpcEndpoint"]
        s3_endpoint = next(e for e in _of(graph, "aws:ec2/vpcEndpoint:VpcEndpoint") if e["name"].endswith("-s3"))
        for deny in (objects, listing):
            assert deny["Condition"]["StringNotEquals"] == {"aws:SourceVpce": s3_endpoint["id"]}
        # objects: only the break-glass role from outside; listing (HeadBucket): the stack's deploy role too
        assert objects["Condition"]["ArnNotLike"]["aws:PrincipalArn"].endswith(":role/mlplat-break-glass")
        assert objects["Resource"] == f"arn:aws:s3:::{bucket}/*"
        excepted = listing["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert [arn.rsplit("/", 1)[-1] for arn in excepted] == ["mlplat-break-glass", f"mlplat-deploy-{graph['stack']}"]
        assert listing["Resource"] == f"arn:aws:s3:::{bucket}"
        logging = _one(graph, "aws:s3/bucketLogging:BucketLogging", "features-offline-logging")["inputs"]
        assert logging["targetBucket"] == f"mlplat-{prefix}-access-logs"
        lifecycle = _one(
            graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "features-offline-lifecycle"
        )["inputs"]["rules"][0]
        assert [t["storageClass"] for t in lifecycle["transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
        assert lifecycle["expiration"]["days"] == 730
        assert not _of(graph, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")


def test_glue_catalog_is_encrypted_with_the_regional_key(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (database,) = _of(graph, "aws:glue/catalogDatabase:CatalogDatabase")
        assert database["inputs"]["locationUri"].endswith("-features-offline/tables/")
        (settings,) = _of(graph, "aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings")
        at_rest = settings["inputs"]["dataCatalogEncryptionSettings"]["encryptionAtRest"]
        assert at_rest["catalogEncryptionMode"] == "SSE-KMS"
        assert f":{graph['region']}:" in at_rest["sseAwsKmsKeyId"]


def test_reader_policy_is_scoped_to_one_region_and_read_only() -> None:
    policy = json.loads(
        feature_access_policy(
            "eu-west-1",
            "aws",
            "123456789012",
            "arn:aws:s3:::b",
            "arn:aws:kms:eu-west-1:1:key/k",
            "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            "db",
            write=False,
        )
    )
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {a for a in actions if a.startswith(("s3:Put", "s3:Delete", "glue:Create", "glue:Update"))}
    assert all(s["Resource"] != "*" and "*" not in str(s["Action"]) for s in policy["Statement"])
    glue = next(s for s in policy["Statement"] if s["Sid"] == "OfflineCatalog")
    assert all(":eu-west-1:" in r for r in glue["Resource"])


def test_feast_config_points_at_the_regional_store() -> None:
    text = feast_repo_config("mlplat", "eu-west-1", "master.euw1.cache.amazonaws.com", "mlplat-euw1-features-offline")
    config = yaml.safe_load(text)
    assert config["online_store"]["type"] == "redis"
    assert config["online_store"]["connection_string"].startswith("master.euw1.cache.amazonaws.com:6379,ssl=true")
    assert config["registry"] == "s3://mlplat-euw1-features-offline/feast/registry.db"
