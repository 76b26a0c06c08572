"""The typed configuration of the whole platform: `stacks/platform.yaml` plus one `Pulumi.<stack>.yaml` per stack.

Everything is validated once, with pydantic: `models` holds the models and every rule within one file (as
validators), `rules` the rules that span files, `load` the reading and the error messages. Problems are reported
as `ConfigError`s naming the file and the field, which the CLI turns into exit code 2. No pulumi import.
"""

from components.config.errors import ConfigError, ConfigProblem, FieldProblems
from components.config.load import PLATFORM_FILE, Deployment, load_deployment, load_platform
from components.config.models import (
    LOG_RETENTION_DAYS,
    REQUIRED_TAGS,
    ClusterConfig,
    CostConfig,
    FeatureStoreConfig,
    GlobalStackConfig,
    GpuPoolConfig,
    ImageTag,
    Jurisdiction,
    MlflowConfig,
    NetworkConfig,
    ObservabilityConfig,
    PlatformConfig,
    Region,
    RegionalStackConfig,
    RegistryConfig,
    RetentionDays,
    StackConfig,
    StackFile,
    SystemPoolConfig,
    Tenant,
    WorkloadsConfig,
)
from components.config.rules import PLATFORM_DISPLAY, STACK_CONFIG_KEY, cross_stack_problems, stack_file_name

__all__ = [
    "LOG_RETENTION_DAYS",
    "PLATFORM_DISPLAY",
    "PLATFORM_FILE",
    "REQUIRED_TAGS",
    "STACK_CONFIG_KEY",
    "ClusterConfig",
    "ConfigError",
    "ConfigProblem",
    "CostConfig",
    "Deployment",
    "FeatureStoreConfig",
    "FieldProblems",
    "GlobalStackConfig",
    "GpuPoolConfig",
    "ImageTag",
    "Jurisdiction",
    "MlflowConfig",
    "NetworkConfig",
    "ObservabilityConfig",
    "PlatformConfig",
    "Region",
    "RegionalStackConfig",
    "RegistryConfig",
    "RetentionDays",
    "StackConfig",
    "StackFile",
    "SystemPoolConfig",
    "Tenant",
    "WorkloadsConfig",
    "cross_stack_problems",
    "load_deployment",
    "load_platform",
    "stack_file_name",
]
