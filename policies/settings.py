"""What the rules may be configured with: jurisdictions, GPU capacity bounds, checkov levels and config waivers.

`mlplat policy` reads them from `policies/config.yaml` and `stacks/platform.yaml`; the CrossGuard pack from its
policy config. No pulumi import, no I/O beyond `load_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = Path(__file__).with_name("config.yaml")


@dataclass(frozen=True)
class ConfigWaiver:
    """One entry of the `waivers` list: a rule id waived for resources matching the globs, with a reason."""

    rule: str
    resource: str = "*"  # resource name glob (checkov: the Terraform address or file path, also a glob)
    stack: str = "*"
    reason: str = ""
    index: int = 0  # position in the list, to name it in a report


@dataclass(frozen=True)
class GpuBounds:
    """The on-demand share an inference GPU pool must keep (DESIGN.md section 3: never zero)."""

    on_demand_base_min: int = 1
    on_demand_percentage_min: int = 20
    on_demand_percentage_max: int = 50
    min_instance_types: int = 3


@dataclass(frozen=True)
class PolicySettings:
    jurisdictions: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> regions
    gpu: GpuBounds = field(default_factory=GpuBounds)
    checkov_mandatory: frozenset[str] = frozenset()
    checkov_not_applicable: Mapping[str, str] = field(default_factory=dict)  # check id -> why it never applies
    waivers: tuple[ConfigWaiver, ...] = ()
    # The role CI deploys a stack with (infra/bootstrap: `${name_prefix}-deploy-${stack}`); `{stack}` is filled in.
    deploy_role: str = "mlplat-deploy-{stack}"

    def jurisdiction_of(self, region: str) -> str | None:
        for name, regions in self.jurisdictions.items():
            if region in regions:
                return name
        return None


def settings_from(config: Mapping[str, Any], platform: Mapping[str, Any] | None = None) -> PolicySettings:
    """Builds settings from the shape of `policies/config.yaml` (and `stacks/platform.yaml` for jurisdictions)."""
    gpu = config.get("gpu") or {}
    waivers = tuple(
        ConfigWaiver(
            rule=str(w.get("rule", "")),
            resource=str(w.get("resource", "*")),
            stack=str(w.get("stack", "*")),
            reason=str(w.get("reason") or "").strip(),
            index=i,
        )
        for i, w in enumerate(config.get("waivers") or [])
    )
    jurisdictions: dict[str, list[str]] = {}
    raw = (platform or {}).get("jurisdictions") or config.get("jurisdictions") or {}
    for name, value in raw.items():
        regions = value.get("regions", []) if isinstance(value, Mapping) else value
        jurisdictions[str(name)] = [str(r) for r in regions]
    return PolicySettings(
        jurisdictions=jurisdictions,
        gpu=GpuBounds(**{k: int(v) for k, v in gpu.items()}),
        checkov_mandatory=frozenset(str(c) for c in (config.get("checkov") or {}).get("mandatory", [])),
        checkov_not_applicable={
            str(k): str(v or "").strip() for k, v in ((config.get("checkov") or {}).get("not_applicable") or {}).items()
        },
        waivers=waivers,
        deploy_role=str((config.get("deploy") or {}).get("role") or PolicySettings.deploy_role),
    )


def load_settings(root: Path | None = None, config_file: Path = CONFIG_FILE) -> PolicySettings:
    """The repository's settings; jurisdictions come from `<root>/stacks/platform.yaml` when it exists."""
    config = yaml.safe_load(config_file.read_text()) or {}
    platform: dict[str, Any] | None = None
    if root is not None and (root / "stacks" / "platform.yaml").is_file():
        platform = yaml.safe_load((root / "stacks" / "platform.yaml").read_text()) or {}
    return settings_from(config, platform)
