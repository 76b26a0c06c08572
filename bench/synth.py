"""Seconds to synthesize every stack offline (`mlplat synth --all`), cold interpreters, best and median of 3."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine, versions, write_result
from components.config import load_deployment
from mlplat.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3


def main() -> None:
    stacks = sorted(load_deployment(ROOT).stacks)
    runs: list[float] = []
    per_stack: dict[str, list[float]] = {s: [] for s in stacks}
    resources: dict[str, int] = {}
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            results = synthesize(ROOT, stacks, Path(out))
            runs.append(time.perf_counter() - started)
        for result in results:
            per_stack[result.stack].append(result.seconds)
            resources[result.stack] = result.resources
    write_result(
        "synth",
        {
            "machine": machine(),
            "versions": versions("pulumi", "pulumi-aws", "pulumi-kubernetes"),
            "stacks": len(stacks),
            "seconds_all_stacks": {"best": min(runs), "median": statistics.median(runs), "runs": runs},
            "seconds_per_stack_median": {s: statistics.median(v) for s, v in per_stack.items()},
            "resources_per_stack": resources,
            "target_seconds": 60,
        },
    )


if __name__ == "__main__":
    main()
