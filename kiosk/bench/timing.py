"""Repeated timing of calls, summarised as median and p95 (a noisy machine needs both)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StageTiming:
    stage: str
    unit: str
    samples: int
    median_ms: float
    p95_ms: float


def time_calls(stage: str, unit: str, calls: list[Callable[[], object]], repeats: int, per: int = 1) -> StageTiming:
    """Run every call `repeats` times after one warm-up pass; times are per `per` items."""
    for call in calls:
        call()
    samples = []
    for _ in range(repeats):
        for call in calls:
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000 / per)
    values = np.array(samples)
    return StageTiming(stage, unit, len(values), float(np.median(values)), float(np.percentile(values, 95)))
