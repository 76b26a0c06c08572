"""Data residency as pure rules: which jurisdiction a region is in, which regions may hold a tenant's data, and
which tenants' data a region may hold.

The one residency model: config validation (`components/config`), the policy rules and residency report over the
graph (`policies/`) and the serving container's request guard all ask this module, so the three layers can never
disagree. No dependencies beyond the standard library (the containers import it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TenantHome:
    jurisdiction: str
    home_region: str
    failover_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResidencyProblem:
    """A contradiction in the residency settings; `where` is the path in `stacks/platform.yaml`."""

    where: str
    message: str


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
        """Regions whose stores may hold the tenant's data: home first, then its failover regions, each only if it
        lies in the tenant's jurisdiction. Unknown tenants have none."""
        home = self.tenants.get(tenant)
        if home is None:
            return ()
        candidates = (home.home_region, *home.failover_regions)
        return tuple(r for r in candidates if self.jurisdiction_of(r) == home.jurisdiction)

    def may_hold(self, tenant: str, region: str) -> bool:
        """The one definition of residency: a store in `region` may hold (and a service there may read) the tenant's
        data when the region is the tenant's home or one of its failover regions, inside its jurisdiction."""
        return region in self.regions_holding(tenant)

    def may_serve(self, tenant: str, region: str) -> bool:
        """True when a service in `region` may read this tenant's features (the serving guard). Unknown tenants are
        refused."""
        return self.may_hold(tenant, region)

    def tenants_in(self, region: str) -> list[str]:
        """Tenants whose data a store in `region` holds (every tenant that `may_hold` there)."""
        return sorted(t for t in self.tenants if self.may_hold(t, region))

    def problems(self) -> Iterator[ResidencyProblem]:
        """Contradictions: a region in two jurisdictions, a tenant of an unknown jurisdiction, or a tenant homed or
        failing over outside its jurisdiction."""
        seen: dict[str, str] = {}
        for name, regions in self.jurisdictions.items():
            for region in regions:
                if region in seen:
                    yield ResidencyProblem(
                        f"jurisdictions.{name}.regions",
                        f"{region} is already in jurisdiction {seen[region]!r}; a region has one jurisdiction",
                    )
                seen.setdefault(region, name)
        for tenant, home in self.tenants.items():
            where = f"tenants.{tenant}"
            if home.jurisdiction not in self.jurisdictions:
                yield ResidencyProblem(f"{where}.jurisdiction", f"unknown jurisdiction {home.jurisdiction!r}")
                continue
            allowed = self.jurisdictions[home.jurisdiction]
            placements = [("home_region", home.home_region)]
            placements += [(f"failover_regions[{i}]", r) for i, r in enumerate(home.failover_regions)]
            for label, region in placements:
                if region not in allowed:
                    yield ResidencyProblem(
                        f"{where}.{label}",
                        f"{region} is outside the tenant's jurisdiction {home.jurisdiction!r} ({', '.join(allowed)}); "
                        "its data may not live or fail over there",
                    )

    def as_dict(self) -> dict[str, object]:
        """The shape of `stacks/platform.yaml` that `from_dict` reads (for the serving container's ConfigMap)."""
        return {
            "jurisdictions": {name: {"regions": list(regions)} for name, regions in self.jurisdictions.items()},
            "tenants": {
                name: {
                    "jurisdiction": home.jurisdiction,
                    "home_region": home.home_region,
                    "failover_regions": list(home.failover_regions),
                }
                for name, home in self.tenants.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ResidencyMap:
        """Builds the map from the shape of `stacks/platform.yaml` (jurisdictions.*.regions, tenants.*)."""
        raw_jurisdictions = data.get("jurisdictions", {}) or {}
        raw_tenants = data.get("tenants", {}) or {}
        if not isinstance(raw_jurisdictions, Mapping) or not isinstance(raw_tenants, Mapping):
            raise ValueError("residency data needs mappings `jurisdictions` and `tenants`")
        jurisdictions = {
            str(name): tuple(str(r) for r in (value["regions"] if isinstance(value, Mapping) else value))
            for name, value in raw_jurisdictions.items()
        }
        tenants = {
            str(name): TenantHome(
                jurisdiction=str(value["jurisdiction"]),
                home_region=str(value["home_region"]),
                failover_regions=tuple(str(r) for r in value.get("failover_regions", ()) or ()),
            )
            for name, value in raw_tenants.items()
        }
        return cls(jurisdictions=jurisdictions, tenants=tenants)
