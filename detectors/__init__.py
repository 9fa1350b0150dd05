"""Pure online change-point detectors: no I/O, no asyncio, no wall clock."""

from .anomaly_likelihood import AnomalyLikelihood
from .bocpd import Bocpd
from .bank import CusumBank, EwmaCusum
from .ensemble import Ensemble
from .factory import make_detector
from .range_exceedance import RangeExceedance
from .robust_cusum import RobustCusum
from .seasonal_residual import SeasonalResidual
from .subsequence_discord import SubsequenceDiscord
from .transition_novelty import TransitionNovelty
from .types import Detection, Detector, Direction, EventKind, State

__all__ = [
    "AnomalyLikelihood", "Bocpd", "CusumBank", "Detection", "Detector", "Direction", "Ensemble", "EventKind", "EwmaCusum", "RangeExceedance", "RobustCusum", "SeasonalResidual", "State", "SubsequenceDiscord", "TransitionNovelty",
    "make_detector",
]
