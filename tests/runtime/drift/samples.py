"""Generated samples for the drift tests (small, seeded, made in memory)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

CATEGORIES = ("a", "b", "c", "d")
CATEGORY_P = (0.4, 0.3, 0.2, 0.1)


def mixed_table(seed: int, n: int, shift: float = 0.0, category_p: tuple[float, ...] = CATEGORY_P) -> pa.Table:
    """Normal columns x0..x2 (x0 shifted by `shift` SDs), an exponential, a categorical, a prediction."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "x0": rng.normal(shift, 1, n),
            "x1": rng.normal(0, 1, n),
            "x2": rng.normal(0, 1, n),
            "u": rng.exponential(1, n),
            "colour": rng.choice(CATEGORIES, n, p=category_p),
            "prediction": rng.random(n),
        }
    )
