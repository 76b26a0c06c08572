"""Configuration problems, each naming the file and the field a user wrote, and the way validators report them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration files, each naming its file and field; the CLI exits 2."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FieldProblems(ValueError):
    """Raised by a model validator for problems on fields of its model: (path relative to the model, message).

    pydantic reports a model validator's error at the model itself; the loader appends each path, so the user sees
    `mlplat:platform.gpu_pools[0].min_size`, not just `mlplat:platform.gpu_pools[0]`.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in self.problems))


def raise_problems(problems: Iterable[tuple[str, str]]) -> None:
    """Raises `FieldProblems` when there are any."""
    found = list(problems)
    if found:
        raise FieldProblems(found)


def join_path(base: str, path: str) -> str:
    """`a.b` + `c[0]` -> `a.b.c[0]`; `a.b` + `[0]` -> `a.b[0]`; either may be empty."""
    if not path:
        return base
    if not base:
        return path
    return f"{base}{path}" if path.startswith("[") else f"{base}.{path}"
