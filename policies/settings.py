"""What the rules may be configured with: the residency model, GPU capacity minimums, checkov levels and config
waivers.

`mlplat policy` and `mlplat plan` build them with `load_settings(root)`: jurisdictions and tenants from the
validated `stacks/platform.yaml` (`components.config`), checkov levels and waivers from `policies/config.yaml`.
The CrossGuard pack builds them from its policy config with `settings_from`. The GPU minimums are
`components.capacity.GPU_MINIMUMS`, the values config validation enforces too. No pulumi import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from components.capacity import GPU_MINIMUMS, GpuMinimums
from runtime.residency import ResidencyMap

CONFIG_FILE = Path(__file__).with_name("config.yaml")
GpuBounds = GpuMinimums  # the policy rules' name for the GPU minimums


@dataclass(frozen=True)
class ConfigWaiver:
    """One entry of the `waivers` list: a rule id waived for resources matching the globs, with a reason."""

    rule: str
    resource: str = "*"  # resource name glob (checkov: the Terraform address or file path, also a glob)
    stack: str = "*"
    reason: str = ""
    index: int = 0  # position in the list, to name it in a report


@dataclass(frozen=True)
class PolicySettings:
    residency: ResidencyMap = field(default_factory=lambda: ResidencyMap(jurisdictions={}))
    gpu: GpuMinimums = GPU_MINIMUMS
    checkov_mandatory: frozenset[str] = frozenset()
    checkov_not_applicable: Mapping[str, str] = field(default_factory=dict)  # check id -> why it never applies
    waivers: tuple[ConfigWaiver, ...] = ()

    @property
    def jurisdictions(self) -> Mapping[str, Sequence[str]]:
        return self.residency.jurisdictions

    def jurisdiction_of(self, region: str) -> str | None:
        return self.residency.jurisdiction_of(region)


def settings_from(config: Mapping[str, Any], residency: ResidencyMap | None = None) -> PolicySettings:
    """Settings from the shape of `policies/config.yaml`. Without `residency`, jurisdictions and tenants come from
    the config's own `jurisdictions`/`tenants` keys (the CrossGuard pack's policy config), read by the residency
    model; `gpu` keys override the platform's minimums (the pack's config may tighten them)."""
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
    if residency is None:
        residency = ResidencyMap.from_dict(
            {"jurisdictions": config.get("jurisdictions") or {}, "tenants": config.get("tenants") or {}}
        )
    checkov = config.get("checkov") or {}
    return PolicySettings(
        residency=residency,
        gpu=replace(GPU_MINIMUMS, **{str(k): int(v) for k, v in (config.get("gpu") or {}).items()}),
        checkov_mandatory=frozenset(str(c) for c in checkov.get("mandatory", [])),
        checkov_not_applicable={str(k): str(v or "").strip() for k, v in (checkov.get("not_applicable") or {}).items()},
        waivers=waivers,
    )


def load_settings(root: Path | None = None, config_file: Path = CONFIG_FILE) -> PolicySettings:
    """The repository's settings; with a project `root`, its validated jurisdictions and tenants (a bad
    `stacks/platform.yaml` raises `ConfigError`, naming the file and field)."""
    config = yaml.safe_load(config_file.read_text()) or {}
    if root is None:
        return settings_from(config)
    from components.config import load_platform

    return settings_from(config, load_platform(root).residency())
