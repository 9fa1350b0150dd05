"""Pure online change-point detectors: no I/O, no asyncio, no wall clock."""

from .adwin import Adwin
from .anomaly_likelihood import AnomalyLikelihood
from .bank import CusumBank, EwmaCusum
from .bocpd import Bocpd
from .counter_rate import CounterRate
from .ensemble import Ensemble
from .envelope_shift import EnvelopeShift
from .factory import SEASONAL_SIGNALS, detector_settings, make_bank, make_detector
from .half_space_trees import HalfSpaceTreesScorer
from .range_exceedance import RangeExceedance
from .robust_bank import RobustCusumBank
from .robust_cusum import RobustCusum
from .seasonal import SeasonalCusum
from .seasonal_residual import SeasonalResidual
from .series_bank import DetectorBank, SeriesBank
from .subsequence_discord import SubsequenceDiscord
from .transition_novelty import TransitionNovelty
from .types import Detection, Detector, Direction, EventKind, State

__all__ = [
    "SEASONAL_SIGNALS", "Adwin", "AnomalyLikelihood", "Bocpd", "CounterRate", "CusumBank", "Detection", "Detector", "DetectorBank",
    "Direction", "Ensemble", "EnvelopeShift", "EventKind", "EwmaCusum", "HalfSpaceTreesScorer", "RangeExceedance", "RobustCusum",
    "RobustCusumBank", "SeasonalCusum", "SeasonalResidual", "SeriesBank", "State", "SubsequenceDiscord",
    "TransitionNovelty", "detector_settings", "make_bank", "make_detector",
]
