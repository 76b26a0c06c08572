"""Live serving figures by variant from the Prometheus HTTP API (`GET /api/v1/query`, an instant query)."""

from __future__ import annotations

import math
from typing import Any

import httpx

from runtime.promote.errors import PromoteError
from runtime.serving.rollout import WindowStats

# what runtime/serving/metrics.py exports (prometheus_client adds _total and _bucket)
REQUESTS = "mlplat_requests_total"
DURATION_BUCKET = "mlplat_request_duration_seconds_bucket"
SCORING_ENDPOINTS = 'endpoint=~"/invocations|/v1/predict"'


class Prometheus:
    def __init__(self, url: str, selector: str = "", timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.selector = ",".join(filter(None, [SCORING_ENDPOINTS, selector]))
        self.timeout = timeout

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """The instant vector of `expr` as (labels, value) pairs."""
        try:
            response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=self.timeout)
            body: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise PromoteError(f"Prometheus at {self.url} did not answer {expr!r}: {error}") from None
        if body.get("status") != "success":
            raise PromoteError(f"Prometheus refused {expr!r}: {body.get('error', body)}")
        data = body["data"]
        if data.get("resultType") != "vector":
            raise PromoteError(f"Prometheus answered a {data.get('resultType')} for {expr!r}, expected a vector")
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def _by_variant(self, expr: str) -> dict[str, float]:
        return {labels.get("variant", ""): value for labels, value in self.query(expr) if not math.isnan(value)}

    def window(self, seconds: int) -> dict[str, WindowStats]:
        """Requests, 5xx errors and p99 latency per variant over the last `seconds` (the same window for all)."""
        window = f"[{max(int(seconds), 1)}s]"
        requests = self._by_variant(f"sum by (variant) (increase({REQUESTS}{{{self.selector}}}{window}))")
        errors = self._by_variant(f'sum by (variant) (increase({REQUESTS}{{{self.selector},status=~"5.."}}{window}))')
        p99 = self._by_variant(
            f"histogram_quantile(0.99, sum by (le, variant) (increase({DURATION_BUCKET}{{{self.selector}}}{window})))"
        )
        return {
            variant: WindowStats(requests=count, errors=errors.get(variant, 0.0), p99_seconds=p99.get(variant))
            for variant, count in requests.items()
        }
