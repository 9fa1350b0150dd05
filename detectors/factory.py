"""The detector the pipeline runs for each signal, one series at a time or as a bank."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .envelope_shift import EnvelopeShift
from .seasonal import SeasonalCusum
from .series_bank import DetectorBank, SeriesBank
from .types import Detector

__all__ = ["MIN_ABSOLUTE_CHANGE", "SEASONAL_SIGNALS", "detector_settings", "make_bank", "make_detector"]

# Smallest change worth a page, in the signal's own unit. An error ratio is a
# proportion of a finite number of requests: at low traffic it moves by tenths
# of a percent from counting noise alone, which no page should report.
MIN_ABSOLUTE_CHANGE = {"error_ratio": 0.005}

# Signals that follow the daily traffic cycle: their baseline is a learnt daily shape.
SEASONAL_SIGNALS = frozenset({"request_rate"})


def detector_settings(signal: str) -> dict[str, Any]:
    """The settings of ``signal``'s detector (:class:`EnvelopeShift` or :class:`SeasonalCusum`).

    >>> detector_settings("error_ratio"), detector_settings("latency_p99")
    ({'min_absolute_change': 0.005}, {'min_absolute_change': 0.0})
    """
    return {"min_absolute_change": MIN_ABSOLUTE_CHANGE.get(signal, 0.0)}


def make_detector(signal: str, seasonal: Collection[str] = SEASONAL_SIGNALS) -> Detector:
    """Return a fresh detector suited to ``signal``: the detector that pages.

    Signals in ``seasonal`` (by default ``SEASONAL_SIGNALS``: the request rate) get a
    :class:`SeasonalCusum`, whose baseline is a learnt daily shape (the request rate follows the
    daily traffic cycle). Every other signal gets an :class:`EnvelopeShift`: a shift is a level
    the series has not sustained in its own recent history, so its false-shift rate is bounded by
    that history rather than by a Gaussian assumption (p99s that jump between histogram buckets,
    quantised ratios, bursts), a large jump is confirmed on its second sample, and a slow creep is
    found at block scale. Figures: docs/detectors.md and BENCHMARKS.md.

    Examples
    --------
    >>> from detectors import Detector, make_detector
    >>> isinstance(make_detector("error_ratio"), Detector)
    True
    >>> type(make_detector("queue_depth")).__name__, type(make_detector("request_rate")).__name__
    ('EnvelopeShift', 'SeasonalCusum')
    """
    if signal in seasonal:
        return SeasonalCusum(**detector_settings(signal))
    return EnvelopeShift(**detector_settings(signal))


def make_bank(signal: str, seasonal: Collection[str] = SEASONAL_SIGNALS) -> SeriesBank:
    """The bank of the series of ``signal``: one :func:`make_detector` object per series
    (the paging detectors have no vectorised form).

    >>> type(make_bank("error_ratio")).__name__, len(make_bank("request_rate"))
    ('DetectorBank', 0)
    """
    return DetectorBank(lambda: make_detector(signal, seasonal))
