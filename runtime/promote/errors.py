"""Typed errors of `mlplat-promote`: usage/input problems exit 2 with a message that says what and where."""

from __future__ import annotations


class PromoteError(Exception):
    """Bad input, configuration or registry state: the command cannot run (exit 2)."""
