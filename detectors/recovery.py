"""The rules every detector shares: is a change big enough to report, and is a series back to its
pre-shift level."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

__all__ = ["near_before", "significant"]

T = TypeVar("T", float, np.ndarray)


def near_before(value: T, before: T, after: T, spread: T) -> T:
    """Whether ``value`` is back near the pre-shift level ``before``.

    Near means within three baseline sigmas, or at least half way back from ``after``
    (that allowance capped at six sigmas), so that a large shift recovers before it is
    exactly undone. Works element-wise on numpy arrays (a bank) as on floats.

    Examples
    --------
    >>> bool(near_before(10.4, before=10.0, after=30.0, spread=0.5))
    True
    >>> bool(near_before(14.0, before=10.0, after=30.0, spread=0.5))
    False
    >>> near_before(np.array([10.4, 14.0]), np.array([10.0, 10.0]), np.array([30.0, 30.0]), np.array([0.5, 0.5]))
    array([ True, False])
    """
    reach = np.maximum(3.0 * spread, np.minimum(np.abs(after - before) / 2.0, 6.0 * spread))
    return np.abs(value - before) <= reach  # type: ignore[no-any-return]


def significant(before: float, after: float, *, min_absolute: float, min_relative: float, floor: float) -> bool:
    """Is ``before`` → ``after`` worth reporting: at least ``min_absolute`` apart, and at least
    ``min_relative`` of ``before`` (``floor`` keeps a zero level from dividing by zero).

    >>> significant(0.0, 0.004, min_absolute=0.005, min_relative=0.3, floor=1e-9)
    False
    >>> significant(0.2, 0.27, min_absolute=0.0, min_relative=0.3, floor=1e-9)
    True
    >>> significant(0.2, 0.27, min_absolute=0.0, min_relative=0.5, floor=1e-9)
    False
    """
    delta = abs(after - before)
    return delta >= min_absolute and delta / max(abs(before), floor) >= min_relative
