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


def deploy_role_name(stack: str, prefix: str = "mlplat") -> str:
    """The role CI deploys `stack` with, as infra/bootstrap names it (`${name_prefix}-deploy-${stack}`)."""
    return f"{prefix}-deploy-{stack}"
