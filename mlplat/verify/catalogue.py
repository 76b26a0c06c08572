"""Engine versions the AWS APIs accept, for the one check moto does not model (it stores any version string).

RDS answers an unknown version with `InvalidParameterCombination: Cannot find version X for postgres`, ElastiCache
with `InvalidParameterValue`; the replay answers the same way from these lists. Sources, as published:
- RDS for PostgreSQL minor versions: https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-versions.html
- ElastiCache engine versions: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html
Versions here are every release the service has published (RDS `DescribeDBEngineVersions --include-all`), not only
those still open for new instances; bump the lists when AWS publishes a release.
"""

from __future__ import annotations

from typing import Protocol

from mlplat.verify.step import Refused

POSTGRES_MINORS = {14: range(1, 21), 15: range(2, 16), 16: range(1, 12), 17: range(1, 8)}
ENGINE_VERSIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(f"{major}.{minor}" for major, minors in POSTGRES_MINORS.items() for minor in minors),
    "redis": frozenset({"4.0.10", "5.0.6", "6.0", "6.2", "7.0", "7.1"}),
    "valkey": frozenset({"7.2", "8.0", "8.1"}),
}
ERROR_CODES = {"rds": "InvalidParameterCombination", "elasticache": "InvalidParameterValue"}


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def check_engine_version(step: _Named, operation: str, engine: str, version: object) -> None:
    """Refuses `version` of `engine` the way the service does when it has never published it. A major version alone
    (`16`) is accepted when the major exists: RDS then picks that major's default minor (CreateDBInstance docs)."""
    if version is None or engine not in ENGINE_VERSIONS:
        return
    known = ENGINE_VERSIONS[engine]
    major_only = "." not in str(version) and any(v.split(".", 1)[0] == str(version) for v in known)
    if str(version) not in known and not major_only:
        code = ERROR_CODES.get(operation.split(":", 1)[0], "InvalidParameterValue")
        raise Refused(operation, f"{code}: Cannot find version {version} for {engine} (engine-version catalogue)")
