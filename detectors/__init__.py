"""Pure online change-point detectors: no I/O, no asyncio, no wall clock.

Only what a command runs ships here: the paging detectors and their bank (``make_detector``,
``make_bank``: ``EnvelopeShift``, ``SeasonalCusum`` on a ``RobustCusum``, ``DetectorBank``) and
``whatchanged detect``'s ``Ensemble`` with its scorers. Detectors that were tried and not kept
are described in docs/detectors.md (their code is in the git history).
"""

from .anomaly_likelihood import AnomalyLikelihood
from .ensemble import Ensemble
from .envelope_shift import EnvelopeShift
from .factory import SEASONAL_SIGNALS, detector_settings, make_bank, make_detector
from .range_exceedance import RangeExceedance
from .robust_cusum import RobustCusum
from .seasonal import SeasonalCusum
from .seasonal_residual import SeasonalResidual
from .series_bank import DetectorBank, SeriesBank
from .subsequence_discord import SubsequenceDiscord
from .transition_novelty import TransitionNovelty
from .types import Detection, Detector, Direction, EventKind, State

__all__ = [
    "SEASONAL_SIGNALS", "AnomalyLikelihood", "Detection", "Detector", "DetectorBank", "Direction", "Ensemble",
    "EnvelopeShift", "EventKind", "RangeExceedance", "RobustCusum", "SeasonalCusum", "SeasonalResidual",
    "SeriesBank", "State", "SubsequenceDiscord", "TransitionNovelty", "detector_settings", "make_bank",
    "make_detector",
]
