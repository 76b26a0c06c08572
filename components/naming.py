"""Resource naming: short, stable prefixes per region so names stay unique and readable across stacks."""

from __future__ import annotations

_DIRECTIONS = {
    "east": "e",
    "west": "w",
    "north": "n",
    "south": "s",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


def region_code(region: str) -> str:
    """`eu-west-1` -> `euw1`, `ap-southeast-1` -> `apse1`, `us-gov-west-1` -> `usgw1`."""
    parts = region.split("-")
    if len(parts) < 3 or not parts[-1].isdigit():
        raise ValueError(f"not an AWS region name: {region!r}")
    area = parts[0] + ("g" if parts[1] == "gov" else "")
    direction = parts[-2]
    if direction not in _DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r} in region {region!r}")
    return f"{area}{_DIRECTIONS[direction]}{parts[-1]}"


def model_bucket_name(region: str) -> str:
    """The global stack's model-artifact bucket in `region`: the primary, or the read replica of a regional stack's
    region (components/model_artifacts.py creates them; regional stacks read the names from the global stack)."""
    return f"mlplat-models-{region_code(region)}"


def prediction_bucket_name(region: str) -> str:
    """A regional stack's prediction log (components/workloads.py)."""
    return f"mlplat-predictions-{region_code(region)}"


def access_log_bucket_name(prefix: str) -> str:
    """The S3 server-access-log bucket of a regional stack (`prefix` is its resource prefix, e.g. `euw1`)."""
    return f"mlplat-{prefix}-access-logs"


def offline_feature_bucket_name(prefix: str) -> str:
    """The offline feature store of a regional stack."""
    return f"mlplat-{prefix}-features-offline"
