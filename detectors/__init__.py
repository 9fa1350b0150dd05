"""Pure online change-point detectors: no I/O, no asyncio, no wall clock."""

from .factory import make_detector
from .robust_cusum import RobustCusum
from .types import Detection, Detector, Direction, EventKind, State

__all__ = ["Detection", "Detector", "Direction", "EventKind", "RobustCusum", "State", "make_detector"]
