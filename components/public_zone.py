"""The platform's public hosted zone (global stack): regional stacks write `{region}.{domain}` and their entry of
`{jurisdiction}.{domain}` into it, so a jurisdiction's name only ever answers with that jurisdiction's regions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class PublicZoneArgs:
    domain: str
    tags: Mapping[str, str] = field(default_factory=dict)


class PublicZone(pulumi.ComponentResource):
    def __init__(self, name: str, args: PublicZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:PublicZone", name, None, opts)
        self.zone = aws.route53.Zone(
            f"{name}-zone",
            name=args.domain,
            comment="mlplat serving: {region} and {jurisdiction} names",
            force_destroy=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.zone_id = self.zone.zone_id
        self.name_servers = self.zone.name_servers
        self.register_outputs({"zone_id": self.zone_id, "name_servers": self.name_servers})
