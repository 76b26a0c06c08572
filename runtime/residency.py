"""Data residency as pure rules: which jurisdiction a region is in and which regions may hold a tenant's data.

Shared by config validation, the policy rules over the graph and the serving container's request guard, so the
three layers can never disagree. No dependencies beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TenantHome:
    jurisdiction: str
    home_region: str
    failover_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResidencyMap:
    """Jurisdictions (name -> regions) and tenants (name -> home)."""

    jurisdictions: Mapping[str, Sequence[str]]
    tenants: Mapping[str, TenantHome] = field(default_factory=dict)

    def jurisdiction_of(self, region: str) -> str | None:
        for name, regions in self.jurisdictions.items():
            if region in regions:
                return name
        return None

    def same_jurisdiction(self, region_a: str, region_b: str) -> bool:
        first = self.jurisdiction_of(region_a)
        return first is not None and first == self.jurisdiction_of(region_b)

    def regions_holding(self, tenant: str) -> tuple[str, ...]:
        """Regions whose stores may hold the tenant's data: home first, then its failover regions."""
        home = self.tenants[tenant]
        return (home.home_region, *home.failover_regions)

    def may_serve(self, tenant: str, region: str) -> bool:
        """True when a service in `region` may read this tenant's features. Unknown tenants are refused."""
        home = self.tenants.get(tenant)
        if home is None:
            return False
        return region in self.regions_holding(tenant) and self.jurisdiction_of(region) == home.jurisdiction

    def tenants_in(self, region: str) -> list[str]:
        """Tenants whose data a store in `region` holds."""
        return sorted(t for t in self.tenants if self.may_serve(t, region))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ResidencyMap:
        """Builds the map from the shape of `stacks/platform.yaml` (jurisdictions.*.regions, tenants.*)."""
        raw_jurisdictions = data.get("jurisdictions", {})
        raw_tenants = data.get("tenants", {}) or {}
        if not isinstance(raw_jurisdictions, Mapping) or not isinstance(raw_tenants, Mapping):
            raise ValueError("residency data needs mappings `jurisdictions` and `tenants`")
        jurisdictions = {
            str(name): tuple(value["regions"] if isinstance(value, Mapping) else value)
            for name, value in raw_jurisdictions.items()
        }
        tenants = {
            str(name): TenantHome(
                jurisdiction=str(value["jurisdiction"]),
                home_region=str(value["home_region"]),
                failover_regions=tuple(value.get("failover_regions", ()) or ()),
            )
            for name, value in raw_tenants.items()
        }
        return cls(jurisdictions=jurisdictions, tenants=tenants)
