"""The detector the pipeline runs for each signal, one series at a time or as a bank."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .envelope_shift import EnvelopeShift
from .robust_bank import RobustCusumBank
from .robust_cusum import RobustCusum
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
    """The :class:`RobustCusum` settings for ``signal`` (shared by the detector and the bank).

    >>> detector_settings("error_ratio"), detector_settings("latency_p99")
    ({'min_absolute_change': 0.005}, {'min_absolute_change': 0.0})
    """
    return {"min_absolute_change": MIN_ABSOLUTE_CHANGE.get(signal, 0.0)}


def make_detector(signal: str, seasonal: Collection[str] = SEASONAL_SIGNALS) -> Detector:
    """Return a fresh detector suited to ``signal``.

    Signals in ``seasonal`` (by default ``SEASONAL_SIGNALS``: the request rate) get a :class:`SeasonalCusum`,
    whose baseline is a learnt daily shape: the plain detector pages on a strong daily
    cycle (on 7 days of a 100 ± 60% cycle at 5-minute steps, 6-7 SHIFTs after the first
    day against none). Until a day has been seen it is exactly a :class:`RobustCusum`,
    which is all the dev scenarios (4-8 hours) ever see. Latency and error ratio follow
    traffic much less and stay on the plain detector.

    Every other signal gets a :class:`RobustCusum`. On the dev scenarios, end to end
    (``tests/benchmarks/rca.py``), it gave the same hit@1/hit@3 as :class:`EwmaCusum`
    with one false page fewer and a replay twice as fast (a bank of one pays numpy's
    per-call overhead); :class:`Bocpd` has the best onsets but paged twice on quiet
    scenarios (see ``docs/detectors.md``). Unknown signals get the generic settings (both directions
    reported; the pipeline decides which direction is bad).

    Examples
    --------
    >>> from detectors import Detector, make_detector
    >>> isinstance(make_detector("error_ratio"), Detector)
    True
    >>> isinstance(make_detector("queue_depth"), Detector)
    True
    >>> type(make_detector("request_rate")).__name__
    'SeasonalCusum'
    """
    if signal in seasonal:
        return SeasonalCusum(**detector_settings(signal))
    return EnvelopeShift(**detector_settings(signal))


def make_bank(signal: str, seasonal: Collection[str] = SEASONAL_SIGNALS) -> SeriesBank:
    """The bank of the series of ``signal``: the events of :func:`make_detector`'s detector, per series.

    A :class:`RobustCusum` signal gets the vectorised :class:`RobustCusumBank`; a seasonal
    one (in ``seasonal``) a :class:`DetectorBank` of :class:`SeasonalCusum` objects, which
    has no vectorised form yet (it costs what one sample at a time costs).

    >>> make_bank("error_ratio").settings
    {'min_absolute_change': 0.005}
    >>> type(make_bank("request_rate")).__name__, type(make_bank("request_rate", seasonal=())).__name__
    ('DetectorBank', 'RobustCusumBank')
    """
    return DetectorBank(lambda: make_detector(signal, seasonal))
