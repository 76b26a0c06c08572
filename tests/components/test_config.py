from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, RegionalStackConfig, load_deployment
from tests.conftest import edit_yaml

KEY = "mlplat:platform"


def test_the_repo_config_is_valid(project_root: Path) -> None:
    deployment = load_deployment(project_root)
    assert set(deployment.stacks) == {"us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1", "global"}
    eu = deployment.stack("eu-west-1")
    assert isinstance(eu, RegionalStackConfig)
    assert eu.availability_zones() == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    tags = deployment.tags_for("eu-west-1")
    assert {"owner", "cost-center", "jurisdiction", "stack"} <= tags.keys()
    assert tags["jurisdiction"] == "eu"


def _problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_deployment(root)
    return [str(p) for p in error.value.problems]


def _stack(root: Path, name: str) -> Path:
    return root / "stacks" / f"Pulumi.{name}.yaml"


def test_overlapping_cidrs_name_the_file_and_field(project_copy: Path) -> None:
    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: d["config"][KEY]["network"].update(cidr="10.10.128.0/17"))
    problems = _problems(project_copy)
    assert any(
        p.startswith("stacks/Pulumi.us-east-1.yaml: mlplat:platform.network.cidr:") and "overlaps" in p
        for p in problems
    ), problems


def test_region_outside_its_jurisdiction(project_copy: Path) -> None:
    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: d["config"][KEY].update(jurisdiction="us"))
    assert any(
        "stacks/Pulumi.eu-west-1.yaml: mlplat:platform.region:" in p and "belongs to 'eu'" in p
        for p in _problems(project_copy)
    )


def test_unknown_field_is_an_error(project_copy: Path) -> None:
    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: d["config"][KEY]["network"].update(nat_gateway=1))
    assert "stacks/Pulumi.eu-west-1.yaml: mlplat:platform.network.nat_gateway: unknown field" in _problems(project_copy)


def test_wrong_type_names_the_field(project_copy: Path) -> None:
    edit_yaml(_stack(project_copy, "ap-southeast-1"), lambda d: d["config"][KEY]["network"].update(az_count="three"))
    problems = _problems(project_copy)
    assert any(p.startswith("stacks/Pulumi.ap-southeast-1.yaml: mlplat:platform.network.az_count:") for p in problems)


@pytest.mark.parametrize("count", [1, 7])
def test_az_count_is_two_to_six(project_copy: Path, count: int) -> None:
    edit_yaml(_stack(project_copy, "us-east-1"), lambda d: d["config"][KEY]["network"].update(az_count=count))
    assert any("mlplat:platform.network.az_count" in p for p in _problems(project_copy))


def test_required_tags(project_copy: Path) -> None:
    edit_yaml(project_copy / "stacks" / "platform.yaml", lambda d: d["tags"].pop("cost-center"))
    assert "stacks/platform.yaml: tags: missing required tags: cost-center" in _problems(project_copy)


def test_tenant_homed_outside_its_jurisdiction(project_copy: Path) -> None:
    edit_yaml(
        project_copy / "stacks" / "platform.yaml", lambda d: d["tenants"]["acme-eu"].update(home_region="us-east-1")
    )
    assert any(
        p.startswith("stacks/platform.yaml: tenants.acme-eu.home_region: us-east-1 is outside")
        for p in _problems(project_copy)
    )


def test_failover_outside_the_jurisdiction(project_copy: Path) -> None:
    edit_yaml(
        project_copy / "stacks" / "platform.yaml",
        lambda d: d["tenants"]["acme-eu"].update(failover_regions=["eu-central-1", "us-east-1"]),
    )
    assert any("tenants.acme-eu.failover_regions[1]" in p for p in _problems(project_copy))


def test_home_region_needs_a_stack(project_copy: Path) -> None:
    edit_yaml(
        project_copy / "stacks" / "platform.yaml", lambda d: d["tenants"]["globex-us"].update(home_region="us-west-2")
    )
    assert "stacks/platform.yaml: tenants.globex-us.home_region: us-west-2 has no regional stack" in _problems(
        project_copy
    )


def test_single_nat_only_outside_production(project_copy: Path) -> None:
    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: d["config"][KEY]["network"].update(nat="single"))
    assert any("mlplat:platform.network.nat" in p for p in _problems(project_copy))
    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: d["config"][KEY].update(environment="staging"))
    load_deployment(project_copy)


def test_public_cidr_and_bad_retention_are_refused(project_copy: Path) -> None:
    def edit(d: dict) -> None:
        d["config"][KEY]["network"].update(cidr="8.8.0.0/16", flow_logs_retention_days=0)

    edit_yaml(_stack(project_copy, "eu-west-1"), edit)
    problems = _problems(project_copy)
    assert any("network.cidr" in p and "private" in p for p in problems)
    assert any("network.flow_logs_retention_days" in p for p in problems)


def test_broken_yaml_names_the_file(project_copy: Path) -> None:
    _stack(project_copy, "eu-west-1").write_text("config: [unclosed\n")
    assert any(p.startswith("stacks/Pulumi.eu-west-1.yaml: not valid YAML") for p in _problems(project_copy))


def test_missing_platform_key(project_copy: Path) -> None:
    _stack(project_copy, "global").write_text("config:\n  aws:region: us-east-1\n")
    assert "stacks/Pulumi.global.yaml: mlplat:platform: missing" in _problems(project_copy)


# -- EKS cluster and GPU pools (issue 3) --------------------------------------------------------------------------


def _pool(d: dict, index: int = 0) -> dict:
    return d["config"][KEY]["gpu_pools"][index]


def test_every_regional_stack_has_an_inference_and_a_training_pool(project_root: Path) -> None:
    for name, stack in load_deployment(project_root).regional().items():
        purposes = {pool.purpose: pool for pool in stack.gpu_pools}
        assert set(purposes) == {"inference", "training"}, name
        assert purposes["inference"].mix().on_demand_base >= 1
        assert stack.cluster.endpoint_public_access is False


def test_mix_defaults_follow_the_purpose(project_copy: Path) -> None:
    def drop_mix(d: dict) -> None:
        for pool in d["config"][KEY]["gpu_pools"]:
            pool.pop("on_demand_base")
            pool.pop("on_demand_percentage_above_base")

    edit_yaml(_stack(project_copy, "eu-west-1"), drop_mix)
    stack = load_deployment(project_copy).regional()["eu-west-1"]
    mixes = {p.purpose: (p.mix().on_demand_base, p.mix().on_demand_percentage_above_base) for p in stack.gpu_pools}
    assert mixes == {"inference": (1, 30), "training": (0, 20)}


def test_stack_without_cluster_settings_still_validates(project_copy: Path) -> None:
    def strip(d: dict) -> None:
        d["config"][KEY].pop("cluster")
        d["config"][KEY].pop("gpu_pools")

    edit_yaml(_stack(project_copy, "us-east-1"), strip)
    stack = load_deployment(project_copy).regional()["us-east-1"]
    assert stack.cluster.endpoint_public_access is False and stack.gpu_pools == []


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (lambda d: _pool(d).update(on_demand_base=0), "gpu_pools[0].on_demand_base", "at least 1 on-demand"),
        (lambda d: _pool(d).update(on_demand_percentage_above_base=130), "gpu_pools[0].on_demand_percentage_above_base",
         "less than or equal to 100"),
        (lambda d: _pool(d, 1).update(min_size=3, desired_size=1), "gpu_pools[1].desired_size", "outside"),
        (lambda d: _pool(d, 1).update(min_size=5, max_size=4), "gpu_pools[1].min_size", "above max_size"),
        (lambda d: _pool(d).update(min_size=0, desired_size=0), "gpu_pools[0].min_size", "below on_demand_base"),
        (lambda d: _pool(d).update(instance_types=["g5.xlarge", "g5.2xlarge", "g5.4xlarge"]),
         "gpu_pools[0].instance_types", "2 GPU families"),
        (lambda d: _pool(d).update(instance_types=["g5.xlarge", "g6.xlarge"]), "gpu_pools[0].instance_types",
         "at least 3 instance types"),
        (lambda d: _pool(d).update(instance_types=["g5.xlarge", "g6.xlarge", "g7.mega"]),
         "gpu_pools[0].instance_types[2]", "not in the instance catalogue"),
        (lambda d: _pool(d).update(instance_types=["g5.xlarge", "g6.xlarge", "m6i.large"]),
         "gpu_pools[0].instance_types[2]", "has no GPU"),
        (lambda d: _pool(d).update(instance_types=["g5.xlarge", "g6.xlarge", "g6e.12xlarge"]),
         "gpu_pools[0].instance_types", "mixes GPU counts"),
        (lambda d: _pool(d, 1).update(name="inference"), "gpu_pools[1].name", "already gpu_pools[0]"),
        (lambda d: _pool(d).update(purpose="serving"), "gpu_pools[0].purpose", "inference"),
        (lambda d: d["config"][KEY]["cluster"].update(endpoint_public_access=True), "cluster.public_access_cidrs",
         "required when endpoint_public_access is true"),
        (lambda d: d["config"][KEY]["cluster"].update(endpoint_public_access=True, public_access_cidrs=["0.0.0.0/0"]),
         "cluster.public_access_cidrs[0]", "internet"),
        (lambda d: d["config"][KEY]["cluster"].update(kubernetes_version="1.21"), "cluster.kubernetes_version",
         "no pinned add-on versions"),
        (lambda d: d["config"][KEY]["cluster"].update(log_retention_days=0), "cluster.log_retention_days",
         "not a CloudWatch retention period"),
        (lambda d: d["config"][KEY]["cluster"]["system_pool"].update(instance_types=["m9.tiny"]),
         "cluster.system_pool.instance_types[0]", "not in the catalogue"),
    ],
)  # fmt: skip
def test_cluster_and_pool_errors_name_the_field(project_copy: Path, edit: Any, field: str, words: str) -> None:
    edit_yaml(_stack(project_copy, "eu-west-1"), edit)
    problems = _problems(project_copy)
    prefix = f"stacks/Pulumi.eu-west-1.yaml: mlplat:platform.{field}: "
    assert any(p.startswith(prefix) and words in p for p in problems), problems


def test_a_public_endpoint_with_an_allowlist_is_accepted(project_copy: Path) -> None:
    edit_yaml(
        _stack(project_copy, "eu-west-1"),
        lambda d: d["config"][KEY]["cluster"].update(
            endpoint_public_access=True, public_access_cidrs=["203.0.113.0/24"]
        ),
    )
    assert load_deployment(project_copy).regional()["eu-west-1"].cluster.public_access_cidrs


def test_an_inference_pools_on_demand_share_is_bounded_by_the_gpu_minimums(project_copy: Path) -> None:
    from components.capacity import GPU_MINIMUMS

    edit_yaml(_stack(project_copy, "eu-west-1"), lambda d: _pool(d).update(on_demand_percentage_above_base=60))
    bounds = f"{GPU_MINIMUMS.on_demand_percentage_min}..{GPU_MINIMUMS.on_demand_percentage_max}"
    assert any(
        p.startswith("stacks/Pulumi.eu-west-1.yaml: mlplat:platform.gpu_pools[0].on_demand_percentage_above_base:")
        and bounds in p
        for p in _problems(project_copy)
    )


def test_policies_use_the_validated_residency_and_the_same_gpu_minimums(project_copy: Path) -> None:
    from components.capacity import GPU_MINIMUMS
    from policies.settings import load_settings

    deployment = load_deployment(project_copy)
    settings = load_settings(project_copy)
    assert settings.residency == deployment.residency()
    assert settings.gpu == GPU_MINIMUMS
    for region in ("eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-1"):
        assert deployment.tenants_stored_in(region) == deployment.residency().tenants_in(region)
    edit_yaml(project_copy / "stacks" / "platform.yaml", lambda d: d["tenants"]["acme-eu"].update(jurisdiction="mars"))
    with pytest.raises(ConfigError, match=r"tenants\.acme-eu\.jurisdiction: unknown jurisdiction 'mars'"):
        load_settings(project_copy)


def _models() -> list[type]:
    from pydantic import BaseModel

    from components.config import models

    return [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, BaseModel)]


def test_every_field_has_a_user_facing_description() -> None:
    missing, internal = [], []
    for model in _models():
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            elif "issue" in field.description.lower():
                internal.append(f"{model.__name__}.{name}")
    assert not missing and not internal, (missing, internal)
