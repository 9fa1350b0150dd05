"""Pure online change-point detectors: no I/O, no asyncio, no wall clock."""

from .bocpd import Bocpd
from .bank import CusumBank, EwmaCusum
from .ensemble import Ensemble
from .factory import detector_settings, make_bank, make_detector
from .range_exceedance import RangeExceedance
from .robust_bank import RobustCusumBank
from .robust_cusum import RobustCusum
from .series_bank import DetectorBank, SeriesBank
from .types import Detection, Detector, Direction, EventKind, State

__all__ = [
    "Bocpd", "CusumBank", "Detection", "Detector", "DetectorBank", "Direction", "Ensemble", "EventKind", "EwmaCusum",
    "RangeExceedance", "RobustCusum", "RobustCusumBank", "SeriesBank", "State", "detector_settings", "make_bank",
    "make_detector",
]
