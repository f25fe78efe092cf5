"""The one retry policy: exponential backoff with full jitter, for polls and deliveries alike."""

from __future__ import annotations

import random

CAP_SECONDS = 3600.0


def delay(attempt: int, base: float, *, retry_after: float | None = None,
          cap: float = CAP_SECONDS, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts failures so far, from 1).

    Jitter spreads retries so fifty sources that failed together do not retry together; a
    platform's own `retry_after` is a floor, never shortened.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    wait = (rng or random).uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)
