"""One drift run from URIs to a report: load the reference (raw sample or saved profile) and the current
sample, compare, and write the JSON and HTML reports. Shared by `mlplat-drift run` and the job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.drift import engine, storage
from runtime.drift.compare import CompareOptions, clean_floats
from runtime.drift.engine import StreamOptions
from runtime.drift.errors import DriftInputError
from runtime.drift.html import render_html
from runtime.drift.profile import ReferenceProfile, build_profile, load_profile
from runtime.drift.tables import read_table
from runtime.drift.thresholds import SEVERITY, Status


@dataclass(frozen=True, kw_only=True)
class ReferenceSource:
    """Either a raw reference sample (profiled on the fly) or a saved profile."""

    sample: str | None = None
    profile: str | None = None
    categorical: frozenset[str] = frozenset()
    prediction_column: str | None = None

    def load(self, exclude: frozenset[str], workers: int) -> ReferenceProfile:
        if (self.sample is None) == (self.profile is None):
            raise DriftInputError("give exactly one of --reference and --reference-profile")
        if self.profile is not None:
            local = not storage.is_s3(self.profile)
            loaded = load_profile(Path(self.profile) if local else storage.read_bytes(self.profile))
            if self.prediction_column is not None and self.prediction_column != loaded.prediction_column:
                if self.prediction_column not in loaded.features:
                    raise DriftInputError(f"prediction column {self.prediction_column!r} is not in the profile")
                loaded = ReferenceProfile(loaded.features, loaded.n_rows, self.prediction_column, loaded.source)
            return loaded
        assert self.sample is not None
        return build_profile(
            read_table(self.sample),
            categorical=self.categorical,
            prediction_column=self.prediction_column,
            exclude=exclude,
            source=self.sample,
            workers=workers,
        )


def check_categorical(profile: ReferenceProfile, declared: frozenset[str], where: str) -> None:
    """Refuse declared categorical columns the profile lacks or holds as numeric (`where` names the setting)."""
    unknown = declared - set(profile.features)
    if unknown:
        raise DriftInputError(f"{where} names columns not in the reference: {', '.join(sorted(unknown))}")
    mistyped = {name for name in declared if profile.features[name].kind != "categorical"}
    if mistyped:
        raise DriftInputError(
            f"{', '.join(sorted(mistyped))}: numeric in the saved profile but declared categorical by {where}; "
            "rebuild the profile with the same categorical columns"
        )


def analyse(
    reference: ReferenceSource, current_uri: str, options: CompareOptions, stream: StreamOptions | None = None
) -> dict[str, Any]:
    """The report for one current sample against the reference (streamed here unless `stream` says otherwise)."""
    profile = reference.load(options.exclude, options.workers)
    check_categorical(profile, reference.categorical, "--categorical")
    return engine.run(profile, current_uri, options, stream or StreamOptions()).report


def report_json(report: dict[str, Any]) -> bytes:
    return json.dumps(clean_floats(report), indent=1).encode()


def write_reports(report: dict[str, Any], json_uri: str | None, html_uri: str | None, title: str) -> None:
    """Write the JSON and/or HTML report (local paths or s3:// URIs)."""
    if json_uri:
        storage.write_bytes(json_uri, report_json(report), "application/json")
    if html_uri:
        storage.write_bytes(html_uri, render_html(clean_floats(report), title).encode(), "text/html")


def reaches(status: str, level: str) -> bool:
    """Whether a dataset status is at or above `warn` / `alert`."""
    return SEVERITY[Status(status)] >= SEVERITY[Status(level)]
