"""Typed errors of the drift container; the CLI maps each to a clear message and a non-zero exit code."""

from __future__ import annotations


class DriftError(Exception):
    """Base class: anything the drift container refuses or cannot do, with a message meant for a person."""


class DriftInputError(DriftError):
    """The input data or arguments are unusable (unreadable, empty, text in a numeric column)."""


class DriftActionError(DriftError):
    """An action (rollback, retrain event, webhook) could not be carried out."""
