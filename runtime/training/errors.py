"""The errors `mlplat-train` maps to its exit codes (DESIGN §11): 1 refused by a gate, 2 usage or config."""

from __future__ import annotations


class TrainingError(Exception):
    """Base of the pipeline's errors; `exit_code` is what the CLI returns."""

    exit_code = 2


class TrainingConfigError(TrainingError):
    """A bad config file, flag or input location; the message names the file and the field."""

    exit_code = 2


class GateRefused(TrainingError):
    """A gate (residency, data validation) refused the run; nothing was registered."""

    exit_code = 1


class TenantRefused(GateRefused):
    """A tenant whose data may not be read in this region; refused before any object is read."""
