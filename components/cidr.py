"""CIDR arithmetic for the regional VPCs: the per-AZ subnet plan and overlap checks (pure, no pulumi)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations

MAX_AZS = 6


@dataclass(frozen=True)
class AzSubnets:
    """The three subnets of one availability zone."""

    az: str
    public: ipaddress.IPv4Network  # load balancers and NAT gateways
    private: ipaddress.IPv4Network  # nodes and pods (VPC CNI gives every pod a VPC address: the big range)
    intra: ipaddress.IPv4Network  # data stores and endpoints; no route to the internet


def plan_subnets(vpc: ipaddress.IPv4Network, azs: list[str]) -> list[AzSubnets]:
    """Splits a VPC into per-AZ public, private and intra subnets, leaving room to grow.

    The VPC is cut in eight equal blocks: blocks 0-5 are the private subnets (one per AZ, the pods' range),
    block 6 is cut in eight for the public subnets and block 7 in eight for the intra subnets. For a /16 that
    is a /19 private (8,190 addresses) and a /22 public and intra per AZ; the AZs not used stay free.
    """
    if not 1 <= len(azs) <= MAX_AZS:
        raise ValueError(f"between 1 and {MAX_AZS} availability zones are supported, got {len(azs)}")
    if len(set(azs)) != len(azs):
        raise ValueError(f"availability zones repeat: {azs}")
    if vpc.prefixlen > 20:
        raise ValueError(f"{vpc} is too small for the subnet plan (at most /20)")
    blocks = list(vpc.subnets(prefixlen_diff=3))
    public_blocks = list(blocks[6].subnets(prefixlen_diff=3))
    intra_blocks = list(blocks[7].subnets(prefixlen_diff=3))
    return [
        AzSubnets(az=az, public=public_blocks[i], private=blocks[i], intra=intra_blocks[i]) for i, az in enumerate(azs)
    ]


def overlapping_pairs(cidrs: Mapping[str, ipaddress.IPv4Network]) -> Iterator[tuple[str, str]]:
    """Every pair of names whose networks overlap, in a stable order."""
    for (first, a), (second, b) in combinations(sorted(cidrs.items()), 2):
        if a.overlaps(b):
            yield first, second
