"""The allocator tuning applies on glibc and is harmless to call twice."""

from __future__ import annotations

import platform

from runtime.drift.allocator import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc() -> None:
    applied = keep_freed_memory()
    assert applied is (platform.libc_ver()[0] == "glibc")
    assert keep_freed_memory() is applied
