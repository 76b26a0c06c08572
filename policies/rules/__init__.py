"""The platform's rules, one module per family; importing this package registers them all in `RULES`."""

from policies.rules import (  # noqa: F401  (imported to register their rules)
    capacity,
    encryption,
    exposure,
    governance,
    iam,
    operations,
    residency,
    traffic,
)
from policies.rules.registry import PUBLIC_CIDRS, REQUIRED_TAGS, RULES, WAIVER_TAG_PREFIX

__all__ = ["PUBLIC_CIDRS", "REQUIRED_TAGS", "RULES", "WAIVER_TAG_PREFIX"]
