"""Status tiers of DESIGN.md section 8: PSI per feature, drift share and prediction for the dataset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """A feature's or the dataset's verdict; `unavailable` means the statistics could not be computed."""

    OK = "ok"
    WARN = "warn"
    ALERT = "alert"
    UNAVAILABLE = "unavailable"


SEVERITY = {Status.OK: 0, Status.UNAVAILABLE: 1, Status.WARN: 1, Status.ALERT: 2}


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The configurable tiers; defaults are the conventional 0.1 / 0.25 PSI tiers and a 0.2 drift share."""

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    drift_share_alert: float = 0.2
    # Share of current values in categories the reference never saw (DESIGN section 8).
    unseen_warn: float = 0.1
    unseen_alert: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.unseen_warn <= self.unseen_alert:
            raise ValueError(f"need 0 < unseen_warn <= unseen_alert, got {self.unseen_warn} and {self.unseen_alert}")
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ValueError(f"need 0 < psi_warn <= psi_alert, got {self.psi_warn} and {self.psi_alert}")
        if not 0 <= self.drift_share_alert < 1:
            raise ValueError(f"drift_share_alert must be in [0, 1), got {self.drift_share_alert}")

    def feature_status(self, psi: float) -> Status:
        """`psi < warn` ok, `< alert` warn, else alert."""
        if psi < self.psi_warn:
            return Status.OK
        if psi < self.psi_alert:
            return Status.WARN
        return Status.ALERT

    def unseen_status(self, unseen_share: float) -> Status:
        """`unseen_share >= unseen_alert` alert, `>= unseen_warn` warn, else ok."""
        if unseen_share >= self.unseen_alert:
            return Status.ALERT
        if unseen_share >= self.unseen_warn:
            return Status.WARN
        return Status.OK


def drift_share(statuses: Iterable[Status]) -> float:
    """The share of features at alert among those whose statistics could be computed (0 when none could)."""
    computed = [status for status in statuses if status is not Status.UNAVAILABLE]
    if not computed:
        return 0.0
    return sum(status is Status.ALERT for status in computed) / len(computed)


def dataset_status(
    feature_statuses: Iterable[Status], prediction_status: Status | None, thresholds: Thresholds
) -> Status:
    """Alert when the drift share exceeds its threshold or the prediction is at alert; warn when any feature
    is at warn or worse (an unavailable feature counts as warn: a schema problem is worth a look); else ok."""
    statuses = list(feature_statuses)
    if drift_share(statuses) > thresholds.drift_share_alert or prediction_status is Status.ALERT:
        return Status.ALERT
    everything = [*statuses, *([prediction_status] if prediction_status is not None else [])]
    if any(SEVERITY[status] >= 1 for status in everything):
        return Status.WARN
    return Status.OK
