"""The `MLPLAT_*` environment of the serving and drift containers (DESIGN.md section 7), rendered from the
containers' own settings classes (`runtime/serving/settings.py` `ServeSettings`, `runtime/drift/settings.py`
`JobSettings`): variable names, defaults and types come from there, so the Kubernetes workloads and the local
platform (`mlplat dev`) can set only variables the containers read, with the containers' defaults unless a caller
overrides one on purpose. No pulumi import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from functools import cache
from pathlib import PurePath
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from runtime.drift.settings import JobSettings
from runtime.serving.settings import ServeSettings

# Rendered even when not overridden (the container's default, written out so a reader of the Deployment sees it).
SERVING_RENDERED = (
    "model_name",
    "tracking_uri",
    "region",
    "champion_alias",
    "canary_weight",
    "shadow",
    "max_batch_size",
    "max_batch_delay_ms",
    "alias_poll_seconds",
    "prediction_log_sample",
    "prediction_log_flush_seconds",
)
DRIFT_RENDERED = (
    "model_name",
    "tracking_uri",
    "prediction_log_uri",
    "champion_alias",
    "drift_action",
    "drift_window_minutes",
    "drift_metrics",
)


@cache
def _isolated(settings_class: type[BaseSettings]) -> type[BaseSettings]:
    """The settings class validating only what it is given: the renderer's own environment must not leak in."""

    class Isolated(settings_class):  # type: ignore[valid-type, misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return Isolated


def variable(settings_class: type[BaseSettings], field: str) -> str:
    """The environment variable a settings field is read from (`max_batch_delay_ms` -> `MLPLAT_MAX_BATCH_DELAY_MS`)."""
    return f"{settings_class.model_config.get('env_prefix', '')}{field}".upper()


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def render(settings_class: type[BaseSettings], rendered: Sequence[str], overrides: Mapping[str, Any]) -> dict[str, str]:
    """`MLPLAT_*` variables for `overrides` plus the `rendered` fields at the class's defaults.

    Every name must be a field of the class, and the values must pass the class's own validation (a deployment
    that the container would refuse to start with fails here, at synth). `None` leaves a variable unset.
    """
    fields = settings_class.model_fields
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"{settings_class.__name__} has no field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in rendered:
        field = fields[name]
        if name in overrides:
            continue
        if field.is_required() or field.default_factory is not None:
            raise ValueError(f"{settings_class.__name__}.{name} has no fixed default; pass it")
        values[name] = field.default
    values |= {name: value for name, value in overrides.items() if value is not None}
    settings = _isolated(settings_class)(**values)
    return {variable(settings_class, name): render_value(getattr(settings, name)) for name in sorted(values)}


class ServingEnvironment:
    """The serving container's environment: `ServeSettings` fields as keyword arguments."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides

    def as_env(self) -> dict[str, str]:
        return render(ServeSettings, SERVING_RENDERED, self.overrides)


class DriftEnvironment:
    """The drift job's environment: `JobSettings` fields as keyword arguments."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides

    def as_env(self) -> dict[str, str]:
        return render(JobSettings, DRIFT_RENDERED, self.overrides)
