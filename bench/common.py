"""Helpers for benchmarks: repeated timing with medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(
    run: Callable[[], Any], repeat: int = 3, setup: Callable[[], Any] | None = None
) -> float:
    """Median wall time of ``run`` over ``repeat`` runs (``setup`` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
