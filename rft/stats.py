"""Small statistics that runtime code and the client both report.

Stdlib only and import-free: reward Lambdas bundle this module (their batch latency quantiles), so
it must stay cheap to import and carry nothing else of ``rft``.
"""

from __future__ import annotations

from collections.abc import Sequence


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of already sorted values, linear between ranks; 0.0 when empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1, not {q}")
    if not sorted_values:
        return 0.0
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
