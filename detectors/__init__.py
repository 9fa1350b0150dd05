"""Pure online change-point detectors: no I/O, no asyncio, no wall clock."""

from .adwin import Adwin
from .bocpd import Bocpd
from .bank import CusumBank, EwmaCusum
from .counter_rate import CounterRate
from .ensemble import Ensemble
from .factory import make_detector
from .half_space_trees import HalfSpaceTreesScorer
from .range_exceedance import RangeExceedance
from .robust_cusum import RobustCusum
from .seasonal import SeasonalCusum
from .types import Detection, Detector, Direction, EventKind, State

__all__ = [
    "Adwin", "Bocpd", "CounterRate", "CusumBank", "Detection", "Detector", "Direction", "Ensemble", "EventKind", "EwmaCusum", "HalfSpaceTreesScorer", "RangeExceedance", "RobustCusum", "SeasonalCusum", "State",
    "make_detector",
]
