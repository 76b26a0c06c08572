"""The typed configuration of the whole platform: `stacks/platform.yaml` plus one `Pulumi.<stack>.yaml` per stack.

Everything is validated once, here, with pydantic; problems are reported as `ConfigError`s naming the file and
the field, which the CLI turns into exit code 2. This module imports no pulumi.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components import eks_versions, instance_catalogue
from components.capacity import DEFAULT_MIX, CapacityMix, PoolSize
from components.cidr import overlapping_pairs
from components.naming import region_code
from runtime.residency import ResidencyMap, TenantHome

PLATFORM_FILE = "platform.yaml"
STACK_CONFIG_KEY = "mlplat:platform"
REQUIRED_TAGS = ("owner", "cost-center", "jurisdiction")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# CloudWatch Logs accepts only these retention periods (days); 0 (never expire) is deliberately not allowed.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip


def _cloudwatch_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch retention period; use one of {LOG_RETENTION_DAYS}")
    return value


RetentionDays = Annotated[int, AfterValidator(_cloudwatch_retention)]


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo in a stack file must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Region = Annotated[str, Field(pattern=REGION_PATTERN.pattern, description="An AWS region name, e.g. eu-west-1.")]
TagMap = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]]


class Jurisdiction(StrictModel):
    """A legal area whose data must stay within its regions."""

    regions: list[Region] = Field(min_length=1, description="Regions inside this jurisdiction.")
    description: str = ""


class Tenant(StrictModel):
    """A customer whose features live only in its jurisdiction."""

    jurisdiction: str = Field(description="Home jurisdiction; the tenant's data never leaves it.")
    home_region: Region = Field(description="Region whose feature store holds the tenant's data.")
    failover_regions: list[Region] = Field(
        default_factory=list, description="Regions the tenant may fail over to; all in its jurisdiction."
    )


class CostConfig(StrictModel):
    """Assumptions of `mlplat cost` that are the platform's to choose."""

    spot_discount: dict[str, Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: {"g5": 0.65, "g6": 0.6, "g6e": 0.55, "p4d": 0.6, "p5": 0.5},
        description="Spot price as a discount off on-demand, per instance family (0.65 = 65% cheaper).",
    )
    default_spot_discount: float = Field(0.6, ge=0, lt=1, description="For families not listed above.")


class PlatformConfig(StrictModel):
    """`stacks/platform.yaml`: what all stacks share."""

    primary_region: Region = Field(description="Region of the global stack, the MLflow registry and ECR.")
    jurisdictions: dict[str, Jurisdiction] = Field(min_length=1)
    tenants: dict[str, Tenant] = Field(default_factory=dict)
    tags: TagMap = Field(default_factory=dict, description="Tags every taggable resource carries.")
    cost: CostConfig = Field(default_factory=CostConfig)

    def jurisdiction_of(self, region: str) -> str | None:
        for name, jurisdiction in self.jurisdictions.items():
            if region in jurisdiction.regions:
                return name
        return None


# -- EKS cluster and GPU pools (issue 3) -------------------------------------------------------------------------


class SystemPoolConfig(StrictModel):
    """The on-demand managed node group that runs the cluster's own add-ons (CoreDNS, autoscaler, NTH)."""

    instance_types: list[str] = Field(
        default_factory=lambda: ["m6i.large", "m7i.large"], min_length=1, description="From the catalogue."
    )
    min_size: int = Field(2, ge=1, description="Never below 2: add-ons keep a replica per node.")
    desired_size: int = Field(3, ge=1)
    max_size: int = Field(6, ge=1)
    disk_size_gib: int = Field(50, ge=20, le=16384, description="Encrypted gp3 root volume.")

    def size(self) -> PoolSize:
        return PoolSize(min_size=self.min_size, desired_size=self.desired_size, max_size=self.max_size)


class ClusterConfig(StrictModel):
    """The regional EKS cluster: private by default, secrets encrypted, every control-plane log kept."""

    kubernetes_version: str = Field(
        eks_versions.DEFAULT_KUBERNETES_VERSION, description="A version with pinned add-ons."
    )
    endpoint_public_access: bool = Field(False, description="Public API endpoint; needs `public_access_cidrs`.")
    public_access_cidrs: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="Who may reach a public endpoint; required when it is on, never /0."
    )
    log_retention_days: RetentionDays = Field(90, description="Retention of the control-plane log group.")
    admin_principal_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")]] = Field(
        default_factory=list, description="IAM roles/users given cluster-admin through EKS access entries."
    )
    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig)

    @field_validator("kubernetes_version")
    @classmethod
    def _pinned_version(cls, value: str) -> str:
        if value not in eks_versions.RELEASES:
            raise ValueError(f"{value} has no pinned add-on versions; use one of {', '.join(eks_versions.RELEASES)}")
        return value


class GpuPoolConfig(StrictModel):
    """A self-managed GPU Auto Scaling group buying an on-demand base plus a spot share across instance types."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,19}$", description="Short pool name, unique in the stack.")
    purpose: Literal["inference", "training"] = Field(description="Inference keeps an on-demand floor.")
    instance_types: list[str] = Field(min_length=1, description=">= 3 GPU types from >= 2 families, same GPU count.")
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    on_demand_base: int | None = Field(None, ge=0, description="Default: 1 for inference, 0 for training.")
    on_demand_percentage_above_base: int | None = Field(
        None, ge=0, le=100, description="Default: 30 for inference, 20 for training; the rest is spot."
    )
    root_volume_gib: int = Field(200, ge=50, le=16384, description="Encrypted gp3 root (images and models).")

    def mix(self) -> CapacityMix:
        default = DEFAULT_MIX[self.purpose]
        return CapacityMix(
            on_demand_base=default.on_demand_base if self.on_demand_base is None else self.on_demand_base,
            on_demand_percentage_above_base=default.on_demand_percentage_above_base
            if self.on_demand_percentage_above_base is None
            else self.on_demand_percentage_above_base,
        )

    def size(self) -> PoolSize:
        return PoolSize(min_size=self.min_size, desired_size=self.desired_size, max_size=self.max_size)


class NetworkConfig(StrictModel):
    """The regional VPC."""

    cidr: ipaddress.IPv4Network = Field(description="VPC CIDR, /16 to /20; never overlaps another stack's.")
    az_count: int = Field(3, ge=2, le=6, description="Availability zones used (subnets, NAT, nodes).")
    availability_zones: list[str] | None = Field(
        None, description="Explicit AZ names; default: the region's first `az_count` (a, b, c, ...)."
    )
    nat: Literal["per_az", "single"] = Field(
        "per_az", description="`per_az` survives an AZ outage; `single` is cheaper, non-production only."
    )
    flow_logs_retention_days: RetentionDays = Field(365, description="CloudWatch retention of the VPC flow logs.")
    interface_endpoints: list[str] = Field(
        default_factory=lambda: ["ecr.api", "ecr.dkr", "sts", "logs"],
        description="AWS services reached through private interface endpoints.",
    )

    @field_validator("cidr")
    @classmethod
    def _prefix_fits_subnet_plan(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= value.prefixlen <= 20:
            raise ValueError(f"prefix /{value.prefixlen} is outside /16../20 (the subnet plan needs the room)")
        if not value.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        return value


class FeatureStoreConfig(StrictModel):
    """The regional feature store: ElastiCache Redis online, S3 + Glue offline."""

    node_type: str = Field("cache.r7g.large", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("7.1", pattern=r"^7\.\d+$", description="Redis engine 7.x.")
    cache_clusters: int = Field(2, ge=2, le=6, description="Primary plus replicas; >= 2 for multi-AZ failover.")
    snapshot_retention_days: int = Field(7, ge=1, le=35)
    auth_token_generation: int = Field(
        1, ge=1, description="Bump to rotate the Redis auth token; ROTATE keeps the old token valid during rollover."
    )
    slow_log_retention_days: RetentionDays = Field(90)
    offline_infrequent_access_after_days: int = Field(30, ge=30)
    offline_glacier_after_days: int = Field(90, ge=1)
    offline_expire_after_days: int | None = Field(730, ge=1, description="None keeps offline features forever.")
    access_logs_expire_after_days: int = Field(365, ge=1)
    break_glass_role: str = Field(
        "mlplat-break-glass",
        pattern=r"^[\w+=,.@-]{1,64}$",
        description="The one IAM role that may reach the offline bucket from outside this region's VPC endpoint.",
    )

    @model_validator(mode="after")
    def _tiers_in_order(self) -> FeatureStoreConfig:
        steps = [self.offline_infrequent_access_after_days, self.offline_glacier_after_days]
        if self.offline_expire_after_days is not None:
            steps.append(self.offline_expire_after_days)
        if steps != sorted(steps) or len(set(steps)) != len(steps):
            raise ValueError("offline lifecycle days must increase: infrequent access < glacier < expiry")
        return self


# -- MLflow, observability and the runtime workloads (issue 5) ----------------------------------------------------
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$")
MUTABLE_TAGS = frozenset({"latest", "stable", "main", "master", "edge", "nightly"})


def _immutable_tag(value: str) -> str:
    """An image tag that names one release (`1.4.0`, optionally pinned `1.4.0@sha256:<digest>`): the platform's ECR
    repositories are IMMUTABLE, so a tag can never be moved to other content."""
    if not IMAGE_TAG.match(value):
        raise ValueError(f"{value!r} is not a Docker image tag")
    if value.split("@", maxsplit=1)[0].lower() in MUTABLE_TAGS:
        raise ValueError(f"{value!r} is a moving tag; use a release tag (images are immutable)")
    return value


ImageTag = Annotated[str, Field(description="An immutable release tag of an ECR image, optionally `@sha256:...`.")]


class MlflowConfig(StrictModel):
    """The MLflow tracking server and its PostgreSQL backend; enabled only on the primary region's regional stack."""

    enabled: bool = Field(False, description="Only on the regional stack of `primary_region` (one registry).")
    image_tag: ImageTag = Field("2.22.0", description="Tag of `mlplat/mlflow` in ECR.")
    replicas: int = Field(2, ge=2, le=10, description="Tracking-server replicas; >= 2 with a PDB.")
    instance_class: str = Field("db.t4g.medium", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("16.4", pattern=r"^1[4-7]\.\d+$", description="PostgreSQL 14..17.")
    allocated_storage_gib: int = Field(50, ge=20, le=65536)
    max_allocated_storage_gib: int = Field(200, ge=20, le=65536, description="Storage autoscaling ceiling.")
    backup_retention_days: int = Field(14, ge=7, le=35, description="At least 7 days.")
    artifact_prefix: str = Field("mlflow", pattern=r"^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", description="In the bucket.")

    _tag = field_validator("image_tag")(classmethod(lambda cls, v: _immutable_tag(v)))


class ObservabilityConfig(StrictModel):
    """kube-prometheus-stack, Amazon Managed Prometheus remote write, DCGM, alerts, dashboards, log groups."""

    retention_days: int = Field(30, ge=1, le=365, description="Prometheus TSDB retention in the cluster.")
    storage_gib: int = Field(50, ge=10, le=16384, description="Prometheus volume (gp3).")
    log_retention_days: RetentionDays = Field(90, description="CloudWatch retention of the platform's log groups.")
    error_rate_threshold: float = Field(0.05, gt=0, lt=1, description="Alert: 5xx share of serving requests.")
    p99_latency_seconds: float = Field(2.0, gt=0, description="Alert: p99 request latency.")
    psi_threshold: float = Field(0.25, gt=0, description="Alert: data drift PSI of any feature.")
    gpu_utilisation_floor: float = Field(30, gt=0, lt=100, description="Alert: fleet GPU utilisation below (%).")
    spot_interruptions_per_hour: int = Field(3, ge=1, description="Alert: spot interruption notices per hour.")
    accuracy_drop: float = Field(0.05, gt=0, lt=1, description="Alert: accuracy on late labels below the gate's.")
    alert_receivers_secret: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Kubernetes Secret (keys slack-webhook-url, pagerduty-routing-key) for Alertmanager's receivers: "
        "pages to PagerDuty and Slack, tickets to Slack. Unset: alerts stay in Alertmanager.",
    )
    alert_slack_channel: str = Field("#mlplat-alerts", description="Slack channel of the alert receiver.")


class WorkloadsConfig(StrictModel):
    """The serving Deployment and the drift CronJob of a regional cluster (the `MLPLAT_*` env of DESIGN.md 7)."""

    model_name: str = Field("fraud-detector", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Registered model.")
    serving_image_tag: ImageTag = Field("0.1.0", description="Tag of `mlplat/serving` in ECR.")
    drift_image_tag: ImageTag = Field("0.1.0", description="Tag of `mlplat/drift` in ECR.")
    tracking_uri: str | None = Field(
        None,
        pattern=r"^https?://",
        description="MLflow URI; default: the in-cluster service in the primary region, else its internal NLB name.",
    )
    serving_replicas: int = Field(2, ge=2, le=100, description="Minimum replicas (HPA floor); >= 2 with a PDB.")
    serving_max_replicas: int = Field(6, ge=2, le=100, description="HPA ceiling.")
    serving_cpu: str = Field("2", pattern=r"^\d+(\.\d+|m)?$")
    serving_memory: str = Field("8Gi", pattern=r"^\d+(Mi|Gi)$")
    serving_gpus: int = Field(1, ge=0, le=8, description="nvidia.com/gpu per replica.")
    hpa_cpu_utilisation: int = Field(70, ge=10, le=95)
    challenger_alias: str | None = "challenger"
    canary_weight: float = Field(0.0, ge=0, le=1)
    shadow: bool = False
    prediction_log_sample: float = Field(0.1, ge=0, le=1)
    prediction_log_expire_days: int = Field(90, ge=1, description="Prediction logs hold features: kept this long.")
    drift_schedule: str = Field("15 * * * *", pattern=r"^(\S+\s+){4}\S+$", description="Cron schedule (UTC).")
    drift_window_minutes: int = Field(60, ge=5)
    drift_action: Literal["none", "rollback", "retrain"] = "rollback"
    drift_categorical: list[str] = Field(default_factory=list)

    _tags = field_validator("serving_image_tag", "drift_image_tag")(classmethod(lambda cls, v: _immutable_tag(v)))

    @model_validator(mode="after")
    def _replicas_in_order(self) -> WorkloadsConfig:
        if self.serving_max_replicas < self.serving_replicas:
            raise ValueError("serving_max_replicas must be >= serving_replicas")
        return self


class StackBase(StrictModel):
    region: Region
    jurisdiction: str = Field(description="Jurisdiction the region belongs to (checked against platform.yaml).")
    environment: Literal["production", "staging", "development"] = "production"
    tags: TagMap = Field(default_factory=dict, description="Tags added to the platform's shared tags.")
    budget_monthly_usd: float | None = Field(
        None, gt=0, description="`mlplat cost` exits 1 when the stack's monthly estimate exceeds this."
    )


class RegionalStackConfig(StackBase):
    """A regional stack: network, cluster, feature store, workloads."""

    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="The EKS cluster (issue 3).")
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list, description="GPU node pools (issue 3).")
    kind: Literal["regional"]
    network: NetworkConfig
    feature_store: FeatureStoreConfig = Field(default_factory=FeatureStoreConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="Primary region only (issue 5).")
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    workloads: WorkloadsConfig = Field(default_factory=WorkloadsConfig)

    def availability_zones(self) -> list[str]:
        if self.network.availability_zones:
            return list(self.network.availability_zones)
        return [f"{self.region}{chr(ord('a') + i)}" for i in range(self.network.az_count)]


class RegistryConfig(StrictModel):
    """ECR in the global stack."""

    repositories: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]] = Field(
        default_factory=lambda: ["serving", "drift", "mlflow"], min_length=1
    )
    keep_tagged_images: int = Field(30, ge=1, le=1000, description="Newest tagged releases kept per repository.")
    expire_untagged_after_days: int = Field(7, ge=1, le=365)


class GlobalStackConfig(StackBase):
    """The global stack: what needs no VPC (ECR, model artifact buckets); its data is global by nature."""

    kind: Literal["global"]
    jurisdiction: Literal["global"] = Field(
        "global", description="Always `global`: images and models may live in every jurisdiction."
    )
    registry: RegistryConfig = Field(default_factory=RegistryConfig)


StackConfig = Annotated[RegionalStackConfig | GlobalStackConfig, Field(discriminator="kind")]


class StackFile(StrictModel):
    """The part of `Pulumi.<stack>.yaml` that mlplat reads."""

    config: dict[str, Any]


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration files, each naming its file and field."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Deployment:
    """The validated configuration of every stack."""

    root: Path
    platform: PlatformConfig
    stacks: Mapping[str, RegionalStackConfig | GlobalStackConfig]

    def stack(self, name: str) -> RegionalStackConfig | GlobalStackConfig:
        try:
            return self.stacks[name]
        except KeyError:
            known = ", ".join(sorted(self.stacks))
            raise ConfigError(
                [ConfigProblem(f"stacks/Pulumi.{name}.yaml", "", f"no such stack (known: {known})")]
            ) from None

    def regional(self) -> dict[str, RegionalStackConfig]:
        return {n: s for n, s in self.stacks.items() if isinstance(s, RegionalStackConfig)}

    def tags_for(self, stack_name: str) -> dict[str, str]:
        stack = self.stacks[stack_name]
        return {
            **self.platform.tags,
            **stack.tags,
            "jurisdiction": stack.jurisdiction,
            "stack": stack_name,
            "managed-by": "pulumi",
        }

    def residency(self) -> ResidencyMap:
        return ResidencyMap(
            jurisdictions={n: tuple(j.regions) for n, j in self.platform.jurisdictions.items()},
            tenants={
                n: TenantHome(t.jurisdiction, t.home_region, tuple(t.failover_regions))
                for n, t in self.platform.tenants.items()
            },
        )

    def tenants_stored_in(self, region: str) -> list[str]:
        """Tenants whose features a region's store holds: every tenant of the region's jurisdiction."""
        jurisdiction = self.platform.jurisdiction_of(region)
        return sorted(n for n, t in self.platform.tenants.items() if t.jurisdiction == jurisdiction)

    def prefix_for(self, stack_name: str) -> str:
        stack = self.stacks[stack_name]
        return "glb" if isinstance(stack, GlobalStackConfig) else region_code(stack.region)


_STACK_ADAPTER: Any = None


def _stack_adapter() -> Any:
    global _STACK_ADAPTER  # noqa: PLW0603 - a cached TypeAdapter, built once
    if _STACK_ADAPTER is None:
        from pydantic import TypeAdapter

        _STACK_ADAPTER = TypeAdapter(StackConfig)
    return _STACK_ADAPTER


def _field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in {"regional", "global"} and not parts[1:]:
            continue  # the discriminated union's tag is not a field the user wrote
        else:
            parts.append(str(item))
    return ".".join(parts)


def _problems(error: ValidationError, file: str, prefix: str = "") -> Iterator[ConfigProblem]:
    for item in error.errors(include_url=False):
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif "input" in item and item["type"] not in {"missing"}:
            message = f"{message} (got {item['input']!r})"
        yield ConfigProblem(file, _field_path(tuple(item["loc"]), prefix), message)


def _read_yaml(path: Path, display: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(display, "", "file not found")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(display, "", f"not valid YAML: {exc}")]) from None


def stack_file_name(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def load_deployment(root: Path) -> Deployment:
    """Reads and validates `stacks/platform.yaml` and every `stacks/Pulumi.<stack>.yaml` under project `root`."""
    stacks_dir = root / "stacks"
    problems: list[ConfigProblem] = []

    raw_platform = _read_yaml(stacks_dir / PLATFORM_FILE, PLATFORM_DISPLAY)
    platform: PlatformConfig | None = None
    try:
        platform = PlatformConfig.model_validate(raw_platform)
    except ValidationError as exc:
        problems.extend(_problems(exc, PLATFORM_DISPLAY))

    stacks: dict[str, RegionalStackConfig | GlobalStackConfig] = {}
    stack_paths = sorted(stacks_dir.glob("Pulumi.*.yaml"))
    if not stack_paths:
        problems.append(ConfigProblem("stacks/", "", "no Pulumi.<stack>.yaml files found"))
    for path in stack_paths:
        name = path.name[len("Pulumi.") : -len(".yaml")]
        display = stack_file_name(name)
        raw = _read_yaml(path, display)
        try:
            stack_file = StackFile.model_validate(raw)
        except ValidationError:
            problems.append(ConfigProblem(display, "config", "the file must be a mapping with a `config:` mapping"))
            continue
        if STACK_CONFIG_KEY not in stack_file.config:
            problems.append(ConfigProblem(display, STACK_CONFIG_KEY, "missing"))
            continue
        try:
            stacks[name] = _stack_adapter().validate_python(stack_file.config[STACK_CONFIG_KEY])
        except ValidationError as exc:
            problems.extend(_problems(exc, display, STACK_CONFIG_KEY))

    if platform is not None:
        problems.extend(cross_stack_problems(platform, stacks))
    if problems:
        raise ConfigError(problems)
    assert platform is not None
    return Deployment(root=root, platform=platform, stacks=stacks)


PLATFORM_DISPLAY = f"stacks/{PLATFORM_FILE}"


def cross_stack_problems(
    platform: PlatformConfig, stacks: Mapping[str, RegionalStackConfig | GlobalStackConfig]
) -> Iterator[ConfigProblem]:
    """The rules that span files: jurisdictions, tenants, CIDR overlaps, required tags."""
    yield from _platform_problems(platform)
    for name, stack in stacks.items():
        yield from _stack_problems(platform, name, stack)
    yield from _placement_problems(stacks)
    regional_regions = {s.region for s in stacks.values() if isinstance(s, RegionalStackConfig)}
    yield from _tenant_problems(platform, regional_regions)


def _platform_problems(platform: PlatformConfig) -> Iterator[ConfigProblem]:
    seen_regions: dict[str, str] = {}
    for name, jurisdiction in platform.jurisdictions.items():
        for region in jurisdiction.regions:
            if region in seen_regions:
                yield ConfigProblem(
                    PLATFORM_DISPLAY,
                    f"jurisdictions.{name}.regions",
                    f"{region} is already in jurisdiction {seen_regions[region]!r}; a region has one jurisdiction",
                )
            seen_regions[region] = name
    missing_tags = [t for t in REQUIRED_TAGS if t != "jurisdiction" and t not in platform.tags]
    if missing_tags:
        yield ConfigProblem(PLATFORM_DISPLAY, "tags", f"missing required tags: {', '.join(missing_tags)}")


def _stack_problems(
    platform: PlatformConfig, name: str, stack: RegionalStackConfig | GlobalStackConfig
) -> Iterator[ConfigProblem]:
    file, field = stack_file_name(name), STACK_CONFIG_KEY
    if isinstance(stack, GlobalStackConfig):
        pass  # global by nature: images and models; checked below for its placement only
    elif stack.jurisdiction not in platform.jurisdictions:
        known = ", ".join(platform.jurisdictions)
        yield ConfigProblem(
            file, f"{field}.jurisdiction", f"unknown jurisdiction {stack.jurisdiction!r} (known: {known})"
        )
    elif stack.region not in platform.jurisdictions[stack.jurisdiction].regions:
        actual = platform.jurisdiction_of(stack.region)
        where = f" (it belongs to {actual!r})" if actual else " (no jurisdiction lists it)"
        yield ConfigProblem(
            file, f"{field}.region", f"{stack.region} is not in jurisdiction {stack.jurisdiction!r}{where}"
        )
    if stack.tags.get("jurisdiction", stack.jurisdiction) != stack.jurisdiction:
        yield ConfigProblem(file, f"{field}.tags.jurisdiction", "must equal the stack's jurisdiction or be unset")
    if isinstance(stack, GlobalStackConfig):
        if stack.region != platform.primary_region:
            yield ConfigProblem(
                file, f"{field}.region", f"the global stack must be in the primary region {platform.primary_region}"
            )
        return
    network = stack.network
    if network.nat == "single" and stack.environment == "production":
        yield ConfigProblem(
            file, f"{field}.network.nat", "`single` NAT is for non-production stacks; production uses per_az"
        )
    if network.availability_zones is not None:
        azs_field = f"{field}.network.availability_zones"
        if len(network.availability_zones) != network.az_count:
            count = len(network.availability_zones)
            yield ConfigProblem(file, azs_field, f"lists {count} zones but az_count is {network.az_count}")
        for az in network.availability_zones:
            if not az.startswith(stack.region):
                yield ConfigProblem(file, azs_field, f"{az} is not in {stack.region}")
    yield from _cluster_problems(file, field, stack)
    if stack.mlflow.enabled and stack.region != platform.primary_region:
        yield ConfigProblem(
            file,
            f"{field}.mlflow.enabled",
            f"MLflow runs only on the primary region's stack ({platform.primary_region}); one registry serves all",
        )


def _placement_problems(stacks: Mapping[str, RegionalStackConfig | GlobalStackConfig]) -> Iterator[ConfigProblem]:
    """One global stack, one regional stack per region, and VPC ranges that can be routed to each other."""
    field = STACK_CONFIG_KEY
    global_stacks = [n for n, s in stacks.items() if isinstance(s, GlobalStackConfig)]
    for extra in global_stacks[1:]:
        yield ConfigProblem(stack_file_name(extra), f"{field}.kind", "only one global stack is allowed")
    regional = {n: s for n, s in stacks.items() if isinstance(s, RegionalStackConfig)}
    by_region: dict[str, str] = {}
    for name, stack in regional.items():
        if stack.region in by_region:
            yield ConfigProblem(
                stack_file_name(name),
                f"{field}.region",
                f"{stack.region} already has a stack ({by_region[stack.region]})",
            )
        by_region.setdefault(stack.region, name)
    cidrs = {name: s.network.cidr for name, s in regional.items()}
    for first, second in overlapping_pairs(cidrs):
        yield ConfigProblem(
            stack_file_name(second),
            f"{field}.network.cidr",
            f"{cidrs[second]} overlaps {cidrs[first]} of stack {first}; VPC ranges must be disjoint to be routed",
        )


def _tenant_problems(platform: PlatformConfig, regional_regions: set[str]) -> Iterator[ConfigProblem]:
    """A tenant lives and fails over only inside its jurisdiction, and only where a regional stack exists."""
    for tenant_name, tenant in platform.tenants.items():
        where = f"tenants.{tenant_name}"
        if tenant.jurisdiction not in platform.jurisdictions:
            yield ConfigProblem(
                PLATFORM_DISPLAY, f"{where}.jurisdiction", f"unknown jurisdiction {tenant.jurisdiction!r}"
            )
            continue
        allowed = platform.jurisdictions[tenant.jurisdiction].regions
        placements = [("home_region", tenant.home_region)]
        placements += [(f"failover_regions[{i}]", r) for i, r in enumerate(tenant.failover_regions)]
        for label, region in placements:
            if region not in allowed:
                yield ConfigProblem(
                    PLATFORM_DISPLAY,
                    f"{where}.{label}",
                    f"{region} is outside the tenant's jurisdiction {tenant.jurisdiction!r} ({', '.join(allowed)}); "
                    "its data may not live or fail over there",
                )
            elif region not in regional_regions:
                yield ConfigProblem(PLATFORM_DISPLAY, f"{where}.{label}", f"{region} has no regional stack")


# -- EKS cluster and GPU pools (issue 3) -------------------------------------------------------------------------
MIN_GPU_INSTANCE_TYPES = 3
MIN_GPU_FAMILIES = 2


def _size_problems(file: str, where: str, minimum: int, desired: int, maximum: int) -> Iterator[ConfigProblem]:
    if minimum > maximum:
        yield ConfigProblem(file, f"{where}.min_size", f"{minimum} is above max_size {maximum}")
    elif not minimum <= desired <= maximum:
        yield ConfigProblem(
            file, f"{where}.desired_size", f"{desired} is outside min_size..max_size ({minimum}..{maximum})"
        )


def _cluster_problems(file: str, field: str, stack: RegionalStackConfig) -> Iterator[ConfigProblem]:
    """The cluster's endpoint rules and every GPU pool's capacity mix, sizes and instance types."""
    cluster = stack.cluster
    where = f"{field}.cluster"
    if cluster.endpoint_public_access and not cluster.public_access_cidrs:
        yield ConfigProblem(
            file, f"{where}.public_access_cidrs", "required when endpoint_public_access is true (an allowlist of CIDRs)"
        )
    if cluster.public_access_cidrs and not cluster.endpoint_public_access:
        yield ConfigProblem(file, f"{where}.public_access_cidrs", "has no effect while endpoint_public_access is false")
    for index, cidr in enumerate(cluster.public_access_cidrs):
        if cidr.prefixlen == 0:
            yield ConfigProblem(file, f"{where}.public_access_cidrs[{index}]", f"{cidr} opens the API to the internet")
    system = cluster.system_pool
    yield from _size_problems(file, f"{where}.system_pool", system.min_size, system.desired_size, system.max_size)
    for index, name in enumerate(system.instance_types):
        if instance_catalogue.lookup(name) is None:
            yield ConfigProblem(file, f"{where}.system_pool.instance_types[{index}]", f"{name} is not in the catalogue")

    seen: dict[str, int] = {}
    for index, pool in enumerate(stack.gpu_pools):
        yield from _gpu_pool_problems(file, f"{field}.gpu_pools[{index}]", pool)
        if pool.name in seen:
            yield ConfigProblem(
                file, f"{field}.gpu_pools[{index}].name", f"{pool.name!r} is already gpu_pools[{seen[pool.name]}]"
            )
        seen.setdefault(pool.name, index)


def _gpu_pool_problems(file: str, where: str, pool: GpuPoolConfig) -> Iterator[ConfigProblem]:
    mix = pool.mix()
    if pool.purpose == "inference" and mix.on_demand_base < 1:
        yield ConfigProblem(
            file, f"{where}.on_demand_base", "an inference pool keeps at least 1 on-demand node (spot can all vanish)"
        )
    yield from _size_problems(file, where, pool.min_size, pool.desired_size, pool.max_size)
    if pool.purpose == "inference" and pool.min_size < mix.on_demand_base:
        yield ConfigProblem(
            file,
            f"{where}.min_size",
            f"{pool.min_size} is below on_demand_base {mix.on_demand_base}: the on-demand floor needs that many nodes",
        )
    known = []
    for index, name in enumerate(pool.instance_types):
        instance = instance_catalogue.lookup(name)
        if instance is None:
            yield ConfigProblem(file, f"{where}.instance_types[{index}]", f"{name} is not in the instance catalogue")
        elif instance.gpus == 0:
            yield ConfigProblem(file, f"{where}.instance_types[{index}]", f"{name} has no GPU")
        else:
            known.append(instance)
    distinct = set(pool.instance_types)
    if len(distinct) != len(pool.instance_types):
        yield ConfigProblem(file, f"{where}.instance_types", "lists an instance type twice")
    if len(distinct) < MIN_GPU_INSTANCE_TYPES or len(instance_catalogue.families(distinct)) < MIN_GPU_FAMILIES:
        yield ConfigProblem(
            file,
            f"{where}.instance_types",
            f"needs at least {MIN_GPU_INSTANCE_TYPES} instance types from at least {MIN_GPU_FAMILIES} GPU families "
            "so spot capacity can come from several pools",
        )
    gpu_counts = sorted({t.gpus for t in known})
    if len(gpu_counts) > 1:
        yield ConfigProblem(
            file,
            f"{where}.instance_types",
            f"mixes GPU counts {gpu_counts}; cluster-autoscaler sizes a group by one node shape",
        )
