"""Many named series of one signal advanced together: the protocol and its plain implementation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .types import Detection, Detector, State

__all__ = ["DetectorBank", "SeriesBank"]


@runtime_checkable
class SeriesBank(Protocol):
    """Named series of one signal, each with a detector state.

    ``update`` takes one step of many series (a query's result at one timestamp) and
    returns the events it decided as ``(position in the step, Detection)``, in that
    order; ``update_one`` takes a single sample. Both give exactly the events that one
    detector per series would, fed the same samples in the same order. ``state`` and
    ``load`` use that detector's ``state_dict`` format, so a series moves between banks,
    replicas and checkpoints unchanged; ``state_dict`` and ``load_state`` checkpoint the
    whole bank (in whatever form is cheapest for it; JSON-serialisable).
    """

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def keys(self) -> list[str]: ...

    def update(self, ts: float, keys: Sequence[str], values: Sequence[float] | np.ndarray,
               ) -> list[tuple[int, Detection]]: ...

    def update_one(self, key: str, ts: float, value: float) -> Detection | None: ...

    def state(self, key: str) -> State: ...

    def load(self, key: str, state: State) -> None: ...

    def drop(self, key: str) -> None: ...

    def state_dict(self) -> State: ...

    def load_state(self, state: State) -> None: ...


class DetectorBank:
    """A :class:`SeriesBank` of one detector object per series, advanced in a Python loop.

    For detectors without a vectorised bank (and as the reference the vectorised ones
    are tested against).

    Parameters
    ----------
    factory
        Makes a fresh detector for a new series.

    Examples
    --------
    >>> from detectors import RobustCusum
    >>> bank = DetectorBank(lambda: RobustCusum(window=30, min_history=10))
    >>> found = []
    >>> for t in range(100):
    ...     level = 10.0 + (0.5 if t % 2 else -0.5)
    ...     found += [(i, d.kind.value, d.onset) for i, d in bank.update(float(t), ["a", "b"],
    ...               [level, level + (20.0 if 60 <= t < 80 else 0.0)])]
    >>> found
    [(1, 'shift', 60.0), (1, 'recovery', 60.0)]
    """

    def __init__(self, factory: Callable[[], Detector]) -> None:
        self.factory = factory
        self._reset()

    def _reset(self) -> None:
        self._detectors: dict[str, Detector] = {}

    def __len__(self) -> int:
        return len(self._detectors)

    def __contains__(self, key: object) -> bool:
        return key in self._detectors

    def keys(self) -> list[str]:
        return list(self._detectors)

    def _detector(self, key: str) -> Detector:
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = self.factory()
        return det

    def update(self, ts: float, keys: Sequence[str], values: Sequence[float] | np.ndarray,
               ) -> list[tuple[int, Detection]]:
        out: list[tuple[int, Detection]] = []
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            found = self._detector(key).update(ts, float(value))
            if found is not None:
                out.append((i, found))
        return out

    def update_one(self, key: str, ts: float, value: float) -> Detection | None:
        return self._detector(key).update(ts, value)

    def state(self, key: str) -> State:
        return self._detectors[key].state_dict()

    def load(self, key: str, state: State) -> None:
        det = self.factory()
        det.load_state(state)
        self._detectors[key] = det

    def drop(self, key: str) -> None:
        self._detectors.pop(key, None)

    VERSION = 1

    def state_dict(self) -> State:
        return {"version": self.VERSION, "kind": "DetectorBank",
                "series": {k: d.state_dict() for k, d in self._detectors.items()}}

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION or state.get("kind") != "DetectorBank":
            raise ValueError(f"bank checkpoint of kind {state.get('kind')!r} version {state.get('version')!r}, "
                             f"expected DetectorBank version {self.VERSION}")
        self._reset()
        for key, st in state["series"].items():
            self.load(key, st)
