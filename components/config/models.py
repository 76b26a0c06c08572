"""The typed configuration: `stacks/platform.yaml` (`PlatformConfig`) and the `mlplat:platform` key of each
`stacks/Pulumi.<stack>.yaml` (`RegionalStackConfig` or `GlobalStackConfig`).

Every rule that needs only one model is a validator on that model or on an annotated type; rules that span files
live in `rules.py`. No pulumi import.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from components import eks_versions, instance_catalogue
from components.capacity import DEFAULT_MIX, GPU_MINIMUMS, CapacityMix, PoolSize
from components.config.errors import raise_problems
from runtime.residency import ResidencyMap, TenantHome

REQUIRED_TAGS = ("owner", "cost-center", "jurisdiction")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# CloudWatch Logs accepts only these retention periods (days); 0 (never expire) is deliberately not allowed.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$")
MUTABLE_TAGS = frozenset({"latest", "stable", "main", "master", "edge", "nightly"})


# -- annotated types: single-value rules ------------------------------------------------------------------------


def _cloudwatch_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch retention period; use one of {LOG_RETENTION_DAYS}")
    return value


def _immutable_tag(value: str) -> str:
    """An image tag that names one release (`1.4.0`, optionally pinned `1.4.0@sha256:<digest>`): the platform's ECR
    repositories are IMMUTABLE, so a tag can never be moved to other content."""
    if not IMAGE_TAG.match(value):
        raise ValueError(f"{value!r} is not a Docker image tag")
    if value.split("@", maxsplit=1)[0].lower() in MUTABLE_TAGS:
        raise ValueError(f"{value!r} is a moving tag; use a release tag (images are immutable)")
    return value


def _catalogued(value: str) -> str:
    if instance_catalogue.lookup(value) is None:
        raise ValueError(f"{value} is not in the catalogue (components/instance_catalogue.py)")
    return value


def _gpu_instance(value: str) -> str:
    instance = instance_catalogue.lookup(value)
    if instance is None:
        raise ValueError(f"{value} is not in the instance catalogue")
    if instance.gpus == 0:
        raise ValueError(f"{value} has no GPU")
    return value


def _not_the_internet(value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if value.prefixlen == 0:
        raise ValueError(f"{value} opens the API to the internet")
    return value


RetentionDays = Annotated[int, AfterValidator(_cloudwatch_retention)]
ImageTag = Annotated[str, AfterValidator(_immutable_tag)]
InstanceType = Annotated[str, AfterValidator(_catalogued)]
GpuInstanceType = Annotated[str, AfterValidator(_gpu_instance)]
AllowlistCidr = Annotated[ipaddress.IPv4Network, AfterValidator(_not_the_internet)]
Region = Annotated[str, Field(pattern=REGION_PATTERN.pattern, description="An AWS region name, e.g. eu-west-1.")]
TagMap = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]]


def _size_problems(minimum: int, desired: int, maximum: int) -> Iterator[tuple[str, str]]:
    if minimum > maximum:
        yield "min_size", f"{minimum} is above max_size {maximum}"
    elif not minimum <= desired <= maximum:
        yield "desired_size", f"{desired} is outside min_size..max_size ({minimum}..{maximum})"


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo in a stack file must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- platform.yaml ---------------------------------------------------------------------------------------------


class Jurisdiction(StrictModel):
    """A legal area whose data must stay within its regions."""

    regions: list[Region] = Field(min_length=1, description="Regions inside this jurisdiction.")
    description: str = Field("", description="What the jurisdiction is, for people (e.g. `European Union (GDPR)`).")


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
    default_spot_discount: float = Field(0.6, ge=0, lt=1, description="Spot discount for families not listed above.")


HOSTNAME_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


class TrafficConfig(StrictModel):
    """Public DNS of serving: one hosted zone, `{region}.{domain}` per region and `{jurisdiction}.{domain}`
    answering from that jurisdiction's healthy regions only."""

    domain: str = Field(
        pattern=HOSTNAME_PATTERN,
        max_length=200,
        description="The hosted zone the global stack creates; delegate it from the parent domain before regions.",
    )


class PlatformConfig(StrictModel):
    """`stacks/platform.yaml`: what all stacks share."""

    primary_region: Region = Field(description="Region of the global stack, the MLflow registry and ECR.")
    jurisdictions: dict[str, Jurisdiction] = Field(
        min_length=1, description="Jurisdiction name -> its regions; a region belongs to exactly one."
    )
    tenants: dict[str, Tenant] = Field(
        default_factory=dict, description="Tenant name -> its jurisdiction, home region and failover regions."
    )
    tags: TagMap = Field(
        default_factory=dict, description="Tags every taggable resource carries; `owner` and `cost-center` required."
    )
    cost: CostConfig = Field(default_factory=CostConfig, description="Assumptions of the cost estimate.")
    traffic: TrafficConfig | None = Field(None, description="Public DNS names of serving; none: no traffic entry.")

    def residency(self) -> ResidencyMap:
        """The residency model (`runtime/residency.py`) of these jurisdictions and tenants."""
        return ResidencyMap(
            jurisdictions={n: tuple(j.regions) for n, j in self.jurisdictions.items()},
            tenants={
                n: TenantHome(t.jurisdiction, t.home_region, tuple(t.failover_regions)) for n, t in self.tenants.items()
            },
        )

    def jurisdiction_of(self, region: str) -> str | None:
        return self.residency().jurisdiction_of(region)

    @model_validator(mode="after")
    def _residency_and_tags(self) -> PlatformConfig:
        problems = [(p.where, p.message) for p in self.residency().problems()]
        missing_tags = [t for t in REQUIRED_TAGS if t != "jurisdiction" and t not in self.tags]
        if missing_tags:
            problems.append(("tags", f"missing required tags: {', '.join(missing_tags)}"))
        raise_problems(problems)
        return self


# -- EKS cluster and GPU pools ---------------------------------------------------------------------------------


class SystemPoolConfig(StrictModel):
    """The on-demand managed node group that runs the cluster's own add-ons (CoreDNS, autoscaler, NTH)."""

    instance_types: list[InstanceType] = Field(
        default_factory=lambda: ["m6i.large", "m7i.large"],
        min_length=1,
        description="Instance types from the instance catalogue (`components/instance_catalogue.py`).",
    )
    min_size: int = Field(2, ge=1, description="Fewest nodes; never below 2, add-ons keep a replica per node.")
    desired_size: int = Field(3, ge=1, description="Nodes at creation; between min_size and max_size.")
    max_size: int = Field(6, ge=1, description="Most nodes the autoscaler may add.")
    disk_size_gib: int = Field(50, ge=20, le=16384, description="Encrypted gp3 root volume per node (GiB).")

    def size(self) -> PoolSize:
        return PoolSize(min_size=self.min_size, desired_size=self.desired_size, max_size=self.max_size)

    @model_validator(mode="after")
    def _sizes_in_order(self) -> SystemPoolConfig:
        raise_problems(_size_problems(self.min_size, self.desired_size, self.max_size))
        return self


class ClusterConfig(StrictModel):
    """The regional EKS cluster: private by default, secrets encrypted, every control-plane log kept."""

    kubernetes_version: str = Field(
        eks_versions.DEFAULT_KUBERNETES_VERSION,
        description="Kubernetes version; one of those with pinned add-on versions (`components/eks_versions.py`).",
    )
    endpoint_public_access: bool = Field(False, description="Public API endpoint; needs `public_access_cidrs`.")
    public_access_cidrs: list[AllowlistCidr] = Field(
        default_factory=list, description="Who may reach a public endpoint; required when it is on, never /0."
    )
    log_retention_days: RetentionDays = Field(90, description="Retention of the control-plane log group (days).")
    admin_principal_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")]] = Field(
        default_factory=list, description="IAM roles/users given cluster-admin through EKS access entries."
    )
    system_pool: SystemPoolConfig = Field(
        default_factory=SystemPoolConfig, description="The node group for the cluster's own add-ons."
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _pinned_version(cls, value: str) -> str:
        if value not in eks_versions.RELEASES:
            raise ValueError(f"{value} has no pinned add-on versions; use one of {', '.join(eks_versions.RELEASES)}")
        return value

    @model_validator(mode="after")
    def _endpoint_allowlist(self) -> ClusterConfig:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise_problems(
                [("public_access_cidrs", "required when endpoint_public_access is true (an allowlist of CIDRs)")]
            )
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise_problems([("public_access_cidrs", "has no effect while endpoint_public_access is false")])
        return self


class GpuPoolConfig(StrictModel):
    """A self-managed GPU Auto Scaling group buying an on-demand base plus a spot share across instance types."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,19}$", description="Short pool name, unique in the stack.")
    purpose: Literal["inference", "training"] = Field(
        description="`inference` keeps an on-demand floor; `training` may run on spot alone."
    )
    instance_types: list[GpuInstanceType] = Field(
        min_length=1,
        description=f"At least {GPU_MINIMUMS.min_instance_types} GPU instance types from at least "
        f"{GPU_MINIMUMS.min_families} families, all with the same GPU count.",
    )
    min_size: int = Field(ge=0, description="Fewest nodes; an inference pool needs at least `on_demand_base`.")
    desired_size: int = Field(ge=0, description="Nodes at creation; between min_size and max_size.")
    max_size: int = Field(ge=1, description="Most nodes the cluster autoscaler may add.")
    on_demand_base: int | None = Field(
        None, ge=0, description="Nodes always bought on-demand. Default: 1 for inference, 0 for training."
    )
    on_demand_percentage_above_base: int | None = Field(
        None,
        ge=0,
        le=100,
        description="Percent on-demand above the base, the rest spot. Default: 30 for inference (allowed "
        f"{GPU_MINIMUMS.on_demand_percentage_min}..{GPU_MINIMUMS.on_demand_percentage_max}), 20 for training.",
    )
    root_volume_gib: int = Field(
        200, ge=50, le=16384, description="Encrypted gp3 root volume per node (GiB): images and models."
    )

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

    @model_validator(mode="after")
    def _capacity(self) -> GpuPoolConfig:
        raise_problems(self._problems())
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        mix, minimums = self.mix(), GPU_MINIMUMS
        if self.purpose == "inference":
            if mix.on_demand_base < minimums.on_demand_base_min:
                yield (
                    "on_demand_base",
                    f"an inference pool keeps at least {minimums.on_demand_base_min} on-demand node "
                    "(spot can all vanish)",
                )
            share = mix.on_demand_percentage_above_base
            if not minimums.on_demand_percentage_min <= share <= minimums.on_demand_percentage_max:
                yield (
                    "on_demand_percentage_above_base",
                    f"{share} is outside {minimums.on_demand_percentage_min}..{minimums.on_demand_percentage_max}, "
                    "the on-demand share an inference pool keeps above its base",
                )
        yield from _size_problems(self.min_size, self.desired_size, self.max_size)
        if self.purpose == "inference" and self.min_size < mix.on_demand_base:
            yield (
                "min_size",
                f"{self.min_size} is below on_demand_base {mix.on_demand_base}: the on-demand floor needs that many "
                "nodes",
            )
        distinct = set(self.instance_types)
        if len(distinct) != len(self.instance_types):
            yield "instance_types", "lists an instance type twice"
        families = instance_catalogue.families(distinct)
        if len(distinct) < minimums.min_instance_types or len(families) < minimums.min_families:
            yield (
                "instance_types",
                f"needs at least {minimums.min_instance_types} instance types from at least {minimums.min_families} "
                "GPU families so spot capacity can come from several pools",
            )
        gpu_counts = sorted({i.gpus for t in distinct if (i := instance_catalogue.lookup(t)) is not None})
        if len(gpu_counts) > 1:
            yield (
                "instance_types",
                f"mixes GPU counts {gpu_counts}; cluster-autoscaler sizes a group by one node shape",
            )


# -- network, feature store ------------------------------------------------------------------------------------


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

    @model_validator(mode="after")
    def _zones_match_count(self) -> NetworkConfig:
        if self.availability_zones is not None and len(self.availability_zones) != self.az_count:
            count = len(self.availability_zones)
            raise_problems([("availability_zones", f"lists {count} zones but az_count is {self.az_count}")])
        return self


class FeatureStoreConfig(StrictModel):
    """The regional feature store: ElastiCache Redis online, S3 + Glue offline."""

    node_type: str = Field(
        "cache.r7g.large", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$", description="ElastiCache node type."
    )
    engine_version: str = Field("7.1", pattern=r"^7\.\d+$", description="Redis engine 7.x.")
    cache_clusters: int = Field(2, ge=2, le=6, description="Primary plus replicas; >= 2 for multi-AZ failover.")
    snapshot_retention_days: int = Field(7, ge=1, le=35, description="Days of daily Redis snapshots kept.")
    auth_token_generation: int = Field(
        1, ge=1, description="Bump to rotate the Redis auth token; ROTATE keeps the old token valid during rollover."
    )
    slow_log_retention_days: RetentionDays = Field(90, description="CloudWatch retention of the Redis slow log.")
    offline_infrequent_access_after_days: int = Field(
        30, ge=30, description="Offline features move to S3 Standard-IA after this many days."
    )
    offline_glacier_after_days: int = Field(
        90, ge=1, description="Offline features move to Glacier Instant Retrieval after this many days."
    )
    offline_expire_after_days: int | None = Field(
        730, ge=1, description="Offline features are deleted after this many days; null keeps them forever."
    )
    access_logs_expire_after_days: int = Field(
        365, ge=1, description="S3 server access logs of the feature buckets are kept this long."
    )
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


# -- MLflow, observability and the runtime workloads -----------------------------------------------------------


class MlflowConfig(StrictModel):
    """The MLflow tracking server and its PostgreSQL backend; enabled only on the primary region's regional stack."""

    enabled: bool = Field(False, description="Only on the regional stack of `primary_region` (one registry).")
    image_tag: ImageTag = Field("2.22.0", description="Immutable release tag of `mlplat/mlflow` in ECR.")
    replicas: int = Field(2, ge=2, le=10, description="Tracking-server replicas; >= 2 with a PDB.")
    instance_class: str = Field(
        "db.t4g.medium", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$", description="RDS instance class of the database."
    )
    engine_version: str = Field("16.4", pattern=r"^1[4-7]\.\d+$", description="PostgreSQL 14..17.")
    allocated_storage_gib: int = Field(50, ge=20, le=65536, description="Initial database storage (GiB).")
    max_allocated_storage_gib: int = Field(200, ge=20, le=65536, description="Storage autoscaling ceiling (GiB).")
    backup_retention_days: int = Field(14, ge=7, le=35, description="Days of automated backups; at least 7.")
    backup_replica_region: Region | None = Field(
        None, description="Automated backups replicate here (same jurisdiction): the registry survives its region."
    )
    artifact_prefix: str = Field(
        "mlflow", pattern=r"^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", description="Key prefix of artifacts in the model bucket."
    )


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


class WorkloadsConfig(StrictModel):
    """The serving Deployment and the drift CronJob of a regional cluster (the `MLPLAT_*` env of DESIGN.md 7)."""

    model_name: str = Field(
        "fraud-detector", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Registered model name in MLflow."
    )
    serving_image_tag: ImageTag = Field("0.1.0", description="Immutable release tag of `mlplat/serving` in ECR.")
    drift_image_tag: ImageTag = Field("0.1.0", description="Immutable release tag of `mlplat/drift` in ECR.")
    tracking_uri: str | None = Field(
        None,
        pattern=r"^https?://",
        description="MLflow URI; default: the in-cluster service in the primary region, else its internal NLB name.",
    )
    serving_replicas: int = Field(2, ge=2, le=100, description="Minimum replicas (HPA floor); >= 2 with a PDB.")
    serving_max_replicas: int = Field(6, ge=2, le=100, description="HPA ceiling; at least `serving_replicas`.")
    serving_cpu: str = Field("2", pattern=r"^\d+(\.\d+|m)?$", description="CPU request and limit per replica.")
    serving_memory: str = Field("8Gi", pattern=r"^\d+(Mi|Gi)$", description="Memory request and limit per replica.")
    serving_gpus: int = Field(1, ge=0, le=8, description="nvidia.com/gpu per replica.")
    hpa_cpu_utilisation: int = Field(70, ge=10, le=95, description="HPA target CPU utilisation (%).")
    challenger_alias: str | None = Field(
        "challenger", description="Registry alias of the challenger (`MLPLAT_CHALLENGER_ALIAS`); null for none."
    )
    canary_weight: float = Field(0.0, ge=0, le=1, description="Share of traffic to the challenger (0..1).")
    shadow: bool = Field(False, description="Score the challenger in the shadow of the champion, never answering.")
    prediction_log_sample: float = Field(0.1, ge=0, le=1, description="Share of predictions logged (0..1).")
    prediction_log_expire_days: int = Field(90, ge=1, description="Prediction logs hold features: kept this long.")
    drift_schedule: str = Field(
        "15 * * * *", pattern=r"^(\S+\s+){4}\S+$", description="Cron schedule (UTC) of the drift job."
    )
    drift_window_minutes: int = Field(60, ge=5, description="Minutes of prediction logs each drift run compares.")
    drift_action: Literal["none", "rollback", "retrain"] = Field(
        "rollback", description="What the drift job does on an alert: nothing, roll the alias back, or retrain."
    )
    drift_categorical: list[str] = Field(
        default_factory=list, description="Features the drift job treats as categorical."
    )

    @model_validator(mode="after")
    def _replicas_in_order(self) -> WorkloadsConfig:
        if self.serving_max_replicas < self.serving_replicas:
            raise_problems([("serving_max_replicas", "must be >= serving_replicas")])
        return self


# -- stacks ----------------------------------------------------------------------------------------------------


class IngressConfig(StrictModel):
    """How clients reach serving in this region: an ALB (TLS only, WAF) bound to the serving pods."""

    enabled: bool = Field(True, description="Needs `traffic.domain` in platform.yaml for its certificate and names.")
    scheme: Literal["internet-facing", "internal"] = Field(
        "internet-facing", description="internal: reachable from the VPC and its peers only."
    )
    rate_limit_per_client: int = Field(
        2000, ge=10, le=2_000_000_000, description="Requests per client address per window before the WAF blocks it."
    )
    rate_window_seconds: Literal[60, 120, 300, 600] = Field(300, description="The WAF's rate evaluation window.")
    tenant_rate_limits: dict[str, Annotated[int, Field(ge=10, le=2_000_000_000)]] = Field(
        default_factory=dict,
        description="Per tenant (the x-mlplat-tenant header): requests per client address per window.",
    )
    health_check_interval_seconds: Literal[10, 30] = Field(
        10, description="Route 53 health check interval; 10 s drops an unhealthy region sooner."
    )
    health_check_failure_threshold: int = Field(3, ge=1, le=10, description="Failed checks before a region drops out.")
    idle_timeout_seconds: int = Field(60, ge=1, le=4000, description="ALB idle connection timeout.")
    access_logs_expire_after_days: int = Field(90, ge=1, description="ALB access logs are kept this long.")


class StackBase(StrictModel):
    region: Region = Field(description="The stack's AWS region (the global stack: the primary region).")
    jurisdiction: str = Field(description="Jurisdiction the region belongs to (checked against platform.yaml).")
    environment: Literal["production", "staging", "development"] = Field(
        "production", description="Production stacks may not use the cheaper, less available settings."
    )
    tags: TagMap = Field(default_factory=dict, description="Tags added to the platform's shared tags.")
    budget_monthly_usd: float | None = Field(
        None, gt=0, description="`mlplat cost` exits 1 when the stack's monthly estimate exceeds this."
    )

    @model_validator(mode="after")
    def _jurisdiction_tag(self) -> StackBase:
        if self.tags.get("jurisdiction", self.jurisdiction) != self.jurisdiction:
            raise_problems([("tags.jurisdiction", "must equal the stack's jurisdiction or be unset")])
        return self


class RegionalStackConfig(StackBase):
    """A regional stack: network, cluster, feature store, workloads."""

    kind: Literal["regional"] = Field(description="`regional` for a region's stack.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="The EKS cluster.")
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list, description="GPU node pools.")
    network: NetworkConfig = Field(description="The VPC.")
    feature_store: FeatureStoreConfig = Field(default_factory=FeatureStoreConfig, description="Online and offline.")
    mlflow: MlflowConfig = Field(
        default_factory=MlflowConfig, description="The MLflow registry; enabled on the primary region's stack only."
    )
    observability: ObservabilityConfig = Field(
        default_factory=ObservabilityConfig, description="Metrics, alerts and log retention."
    )
    workloads: WorkloadsConfig = Field(default_factory=WorkloadsConfig, description="Serving and the drift job.")
    ingress: IngressConfig = Field(default_factory=IngressConfig, description="Traffic entry: ALB, WAF, DNS names.")

    def availability_zones(self) -> list[str]:
        if self.network.availability_zones:
            return list(self.network.availability_zones)
        return [f"{self.region}{chr(ord('a') + i)}" for i in range(self.network.az_count)]

    @model_validator(mode="after")
    def _regional_rules(self) -> RegionalStackConfig:
        raise_problems(self._problems())
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.network.nat == "single" and self.environment == "production":
            yield "network.nat", "`single` NAT is for non-production stacks; production uses per_az"
        if self.mlflow.backup_replica_region == self.region:
            yield "mlflow.backup_replica_region", "must differ from the stack's region (a copy in one region is no DR)"
        for az in self.network.availability_zones or ():
            if not az.startswith(self.region):
                yield "network.availability_zones", f"{az} is not in {self.region}"
        seen: dict[str, int] = {}
        for index, pool in enumerate(self.gpu_pools):
            if pool.name in seen:
                yield f"gpu_pools[{index}].name", f"{pool.name!r} is already gpu_pools[{seen[pool.name]}]"
            seen.setdefault(pool.name, index)


class RegistryConfig(StrictModel):
    """ECR in the global stack."""

    repositories: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]] = Field(
        default_factory=lambda: ["serving", "drift", "mlflow"],
        min_length=1,
        description="ECR repositories under `mlplat/`, replicated to every region.",
    )
    keep_tagged_images: int = Field(30, ge=1, le=1000, description="Newest tagged releases kept per repository.")
    expire_untagged_after_days: int = Field(7, ge=1, le=365, description="Untagged images are deleted after this.")


class GlobalStackConfig(StackBase):
    """The global stack: what needs no VPC (ECR, model artifact buckets); its data is global by nature."""

    kind: Literal["global"] = Field(description="`global` for the one global stack.")
    jurisdiction: Literal["global"] = Field(
        "global", description="Always `global`: images and models may live in every jurisdiction."
    )
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="The container registry.")


StackConfig = Annotated[RegionalStackConfig | GlobalStackConfig, Field(discriminator="kind")]


class StackFile(StrictModel):
    """The part of `Pulumi.<stack>.yaml` that mlplat reads."""

    config: dict[str, Any] = Field(description="Pulumi stack config; mlplat reads the `mlplat:platform` key.")
