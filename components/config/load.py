"""Loading: reads `stacks/platform.yaml` and every `stacks/Pulumi.<stack>.yaml`, validates them once and turns
every pydantic error into a `ConfigProblem` naming the file and the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from components.config.errors import ConfigError, ConfigProblem, FieldProblems, join_path
from components.config.models import GlobalStackConfig, PlatformConfig, RegionalStackConfig, StackConfig, StackFile
from components.config.rules import PLATFORM_DISPLAY, STACK_CONFIG_KEY, cross_stack_problems, stack_file_name
from components.naming import region_code
from runtime.residency import ResidencyMap

PLATFORM_FILE = "platform.yaml"


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
            raise ConfigError([ConfigProblem(stack_file_name(name), "", f"no such stack (known: {known})")]) from None

    def regional(self) -> dict[str, RegionalStackConfig]:
        return {n: s for n, s in self.stacks.items() if isinstance(s, RegionalStackConfig)}

    def global_stack_name(self) -> str:
        """The stack whose outputs every region reads (the loader guarantees there is exactly one)."""
        return next(name for name, s in self.stacks.items() if isinstance(s, GlobalStackConfig))

    def registry_stack_name(self) -> str | None:
        """The regional stack that runs MLflow (the primary region's), if any."""
        return next(
            (n for n, s in self.stacks.items() if isinstance(s, RegionalStackConfig) and s.mlflow.enabled), None
        )

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
        """The residency model of the platform's jurisdictions and tenants."""
        return self.platform.residency()

    def tenants_stored_in(self, region: str) -> list[str]:
        """Tenants whose data a region's stores hold: `ResidencyMap.tenants_in`, the one definition."""
        return self.residency().tenants_in(region)

    def prefix_for(self, stack_name: str) -> str:
        stack = self.stacks[stack_name]
        return "glb" if isinstance(stack, GlobalStackConfig) else region_code(stack.region)


@cache
def _stack_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(StackConfig)


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


def problems_of(error: ValidationError, file: str, prefix: str = "") -> Iterator[ConfigProblem]:
    """Each pydantic error as a sentence naming the file and the field; a validator's `FieldProblems` name theirs."""
    for item in error.errors(include_url=False):
        where = _field_path(tuple(item["loc"]), prefix)
        found = (item.get("ctx") or {}).get("error")
        if isinstance(found, FieldProblems):
            for path, message in found.problems:
                yield ConfigProblem(file, join_path(where, path), message)
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif "input" in item and item["type"] not in {"missing"}:
            message = f"{message} (got {item['input']!r})"
        yield ConfigProblem(file, where, message)


def _read_yaml(path: Path, display: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(display, "", "file not found")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(display, "", f"not valid YAML: {exc}")]) from None


def load_platform(root: Path) -> PlatformConfig:
    """Only `stacks/platform.yaml`, validated (jurisdictions, tenants, tags)."""
    raw = _read_yaml(root / "stacks" / PLATFORM_FILE, PLATFORM_DISPLAY)
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(list(problems_of(exc, PLATFORM_DISPLAY))) from None


def load_deployment(root: Path) -> Deployment:
    """Reads and validates `stacks/platform.yaml` and every `stacks/Pulumi.<stack>.yaml` under project `root`."""
    stacks_dir = root / "stacks"
    problems: list[ConfigProblem] = []

    raw_platform = _read_yaml(stacks_dir / PLATFORM_FILE, PLATFORM_DISPLAY)
    platform: PlatformConfig | None = None
    try:
        platform = PlatformConfig.model_validate(raw_platform)
    except ValidationError as exc:
        problems.extend(problems_of(exc, PLATFORM_DISPLAY))

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
            problems.extend(problems_of(exc, display, STACK_CONFIG_KEY))

    if platform is not None:
        problems.extend(cross_stack_problems(platform, stacks))
    if problems:
        raise ConfigError(problems)
    assert platform is not None
    return Deployment(root=root, platform=platform, stacks=stacks)
