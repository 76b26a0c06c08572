"""Status tiers and the dataset rule of DESIGN.md section 8."""

from __future__ import annotations

import pytest

from runtime.drift.thresholds import Status, Thresholds, dataset_status, drift_share

OK, WARN, ALERT, NA = Status.OK, Status.WARN, Status.ALERT, Status.UNAVAILABLE


def test_feature_tiers_are_half_open() -> None:
    t = Thresholds()
    assert [t.feature_status(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        OK,
        OK,
        WARN,
        WARN,
        ALERT,
        ALERT,
    ]
    assert Thresholds(psi_warn=0.2, psi_alert=0.5).feature_status(0.3) is WARN


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="psi_warn"):
        Thresholds(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(ValueError, match="drift_share"):
        Thresholds(drift_share_alert=1.5)


def test_drift_share_counts_alerts_among_compared_features() -> None:
    assert drift_share([ALERT, OK, OK, NA]) == pytest.approx(1 / 3)
    assert drift_share([NA]) == 0.0


def test_dataset_rule() -> None:
    t = Thresholds()
    assert dataset_status([OK] * 5, OK, t) is OK
    assert dataset_status([OK] * 4 + [WARN], OK, t) is WARN
    assert dataset_status([OK] * 4 + [ALERT], OK, t) is WARN  # share 0.2 does not exceed 0.2
    assert dataset_status([OK] * 3 + [ALERT] * 2, None, t) is ALERT
    assert dataset_status([OK] * 5, ALERT, t) is ALERT
    assert dataset_status([OK, NA], None, t) is WARN
