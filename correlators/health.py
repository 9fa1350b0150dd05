"""Debounce raw dependency probes into health transitions."""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import HealthEvent

__all__ = ["HealthTracker"]


@dataclass(slots=True)
class _TargetState:
    healthy: bool = True
    streak: int = 0
    streak_start: float = 0.0
    known: bool = False


@dataclass
class HealthTracker:
    """Turns probe results into transitions; a lone failed probe (a blip) is not an outage.

    A target becomes unhealthy after ``failures`` consecutive failed probes and
    healthy again after ``successes`` consecutive good ones. The transition is
    dated at the first probe of the run that decided it.

    >>> h = HealthTracker(failures=2, successes=2)
    >>> [h.observe(t, "db", ok) for t, ok in [(0, True), (30, False), (60, True), (90, False), (120, False)]]
    [None, None, None, None, HealthEvent(ts=90, target='db', healthy=False, detail='2 consecutive failed probes')]
    """

    failures: int = 2
    successes: int = 2
    _targets: dict[str, _TargetState] = field(default_factory=dict)

    def observe(self, ts: float, target: str, healthy: bool) -> HealthEvent | None:
        st = self._targets.setdefault(target, _TargetState())
        if not st.known:
            st.known = True
            if healthy:
                return None
        if healthy == st.healthy:
            st.streak = 0
            return None
        if st.streak == 0:
            st.streak_start = ts
        st.streak += 1
        needed = self.successes if healthy else self.failures
        if st.streak < needed:
            return None
        st.healthy = healthy
        st.streak = 0
        what = "successful" if healthy else "failed"
        return HealthEvent(st.streak_start, target, healthy, f"{needed} consecutive {what} probes")

    def is_healthy(self, target: str) -> bool:
        st = self._targets.get(target)
        return st.healthy if st else True

    def state_dict(self) -> dict[str, object]:
        return {
            "version": 1,
            "targets": {
                k: [v.healthy, v.streak, v.streak_start, v.known] for k, v in self._targets.items()
            },
        }

    def load_state(self, state: dict[str, object]) -> None:
        targets = state.get("targets", {})
        assert isinstance(targets, dict)
        self._targets = {
            k: _TargetState(bool(v[0]), int(v[1]), float(v[2]), bool(v[3])) for k, v in targets.items()
        }
