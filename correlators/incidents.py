"""Group anomalies into incidents and decide when to page, update and resolve.

Pure and driven by event time: the same code runs live, in replay and in tests.
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .impact import ImpactPolicy
from .signals import SignalRole
from .types import Anomaly, Cause, IncidentState, Ranking, Topology

EVIDENCE_NEAR = 180.0
"""Traffic moves this close to an incident's onset show where it sits (see :attr:`Incident.involved`)."""

__all__ = ["GroupingPolicy", "Incident", "IncidentTracker", "PageAction", "PageKind", "consensus_onset"]


def _strength(a: Anomaly) -> float:
    """How sharp a shift is: big relative moves have well-placed change points, small ones drift."""
    lo, hi = sorted((abs(a.before), abs(a.after)))
    ratio = hi / lo if lo > 0 else 16.0
    return min(max(math.log(max(ratio, 1.0)), 0.05), 3.0) * max(a.confidence, 0.05)


def consensus_onset(anomalies: Sequence[Anomaly]) -> float | None:
    """The onset the anomalies agree on: their onsets' lower median weighted by shift strength.

    Onsets are estimates, poorer for small shifts and coarse steps; one stray early estimate must
    not move the incident's onset (nor make a cause look late).

    >>> def a(on, before, after): return Anomaly("s", "error_ratio", on, on + 60, "up", before, after, 1.0)
    >>> consensus_onset([a(0, 0.0048, 0.023), a(0, 0.0087, 0.049), a(900, 0.0086, 0.064), a(1200, 0.0068, 0.16)])
    900
    >>> consensus_onset([a(0, 0.005, 0.08), a(60, 0.005, 0.08), a(1200, 0.005, 0.006)])
    60
    """
    if not anomalies:
        return None
    ranked = sorted(anomalies, key=lambda a: a.onset)
    weights = [_strength(a) for a in ranked]
    half, acc = sum(weights) / 2.0, 0.0
    for a, w in zip(ranked, weights, strict=True):
        acc += w
        if acc >= half:
            return a.onset
    return ranked[-1].onset


class PageKind(str, enum.Enum):
    TRIGGER = "trigger"
    UPDATE = "update"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class PageAction:
    """What the notifier must do, keyed by the incident id (dedup key for receivers)."""

    kind: PageKind
    incident_id: str
    ts: float
    reason: str


def decided_tests(tests: list[Any]) -> tuple[str, ...]:
    """``cause=verdict`` of the confirmed and refuted tests in an incident document's ``tests``."""
    return tuple(sorted(f"{Cause.from_json(t['cause']).key}={t['verdict']}" for t in tests
                        if t.get("verdict") in ("confirmed", "refuted")))


@dataclass
class Incident:
    id: str
    onset: float
    opened_at: float
    anomalies: list[Anomaly] = field(default_factory=list)
    traffic: list[Anomaly] = field(default_factory=list)
    evidence: list[Anomaly] = field(default_factory=list)
    """Weak deviations at the onset (beyond what the series sustained before, short of a shift):
    where the fault may sit. They never page, and do not make a service count as affected."""
    state: IncidentState = IncidentState.OPEN
    paged_at: float | None = None
    resolved_at: float | None = None
    ranking: Ranking | None = None
    paged_top: Cause | None = None
    paged_tests: tuple[str, ...] = ()
    """The decided confirm tests (``cause=verdict``) the last page showed: a new one updates it."""
    reopened: int = 0
    merged_into: str | None = None
    follows: str | None = None
    """The incident this one came after, on connected services, soon after it resolved."""

    @property
    def services(self) -> list[str]:
        """Anomalous services, the earliest onset first."""
        seen: dict[str, float] = {}
        for a in self.anomalies:
            seen[a.service] = min(seen.get(a.service, a.onset), a.onset)
        return sorted(seen, key=lambda s: (seen[s], s))

    @property
    def involved(self) -> list[str]:
        """The affected services, then those with evidence only (deviations at the onset, traffic
        that moved with it)."""
        seen = self.services
        extra: dict[str, float] = {}
        onset = self.estimated_onset
        near = [t for t in self.traffic if abs(t.onset - onset) <= EVIDENCE_NEAR]
        for a in self.evidence + near:
            if a.service not in seen:
                extra[a.service] = min(extra.get(a.service, a.onset), a.onset)
        return seen + sorted(extra, key=lambda s: (extra[s], s))

    @property
    def estimated_onset(self) -> float:
        """Best estimate of when the outage began (``onset`` is the earliest anomaly's estimate)."""
        est = consensus_onset(self.anomalies)
        return self.onset if est is None else est

    @property
    def active(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.recovered_at is None]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Incident:
        """Restore an incident from its stored document (its ranking is recomputed on the next event)."""

        def anomaly(a: dict[str, Any]) -> Anomaly:
            return Anomaly(a["service"], a["signal"], float(a["onset"]), float(a["detected_at"]), a["direction"],
                           float(a["before"]), float(a["after"]), float(a["confidence"]), a.get("recovered_at"),
                           a.get("series", ""), a.get("rate"))

        cands = doc.get("candidates") or []
        return cls(
            id=doc["id"], onset=float(doc.get("first_onset", doc["onset"])), opened_at=float(doc["opened_at"]),
            anomalies=[anomaly(a) for a in doc.get("anomalies", [])],
            traffic=[anomaly(a) for a in doc.get("traffic", [])],
            evidence=[anomaly(a) for a in doc.get("evidence", [])],
            state=IncidentState(doc.get("state", "open")), paged_at=doc.get("paged_at"),
            resolved_at=doc.get("resolved_at"),
            paged_top=Cause.from_json(cands[0]["cause"]) if cands and doc.get("paged_at") is not None else None,
            paged_tests=decided_tests(doc.get("tests") or []) if doc.get("paged_at") is not None else (),
            reopened=int(doc.get("reopened", 0)), merged_into=doc.get("merged_into"),
            follows=doc.get("follows"),
        )

    def to_json(self) -> dict[str, object]:
        ranking = self.ranking
        return {
            "id": self.id,
            "state": self.state.value,
            "onset": self.estimated_onset,
            "first_onset": self.onset,
            "opened_at": self.opened_at,
            "paged_at": self.paged_at,
            "resolved_at": self.resolved_at,
            "services": self.involved,
            "affected": self.services,
            "anomalies": [a.to_json() for a in self.anomalies],
            "traffic": [a.to_json() for a in self.traffic],
            "evidence": [a.to_json() for a in self.evidence],
            "candidates": [c.to_json() for c in ranking.candidates] if ranking else [],
            "dead_ends": [d.to_json() for d in ranking.dead_ends] if ranking else [],
            "recommendation": ranking.recommendation.to_json() if ranking else None,
            "low_confidence": ranking.low_confidence if ranking else False,
            **({"tests": [t.to_json() for t in ranking.tests],
                "ranked_without_tests": [c.to_json() for c in ranking.untested]} if ranking and ranking.tests else {}),
            "reopened": self.reopened,
            "merged_into": self.merged_into,
            "follows": self.follows,
        }


@dataclass(frozen=True)
class GroupingPolicy:
    """How anomalies join incidents and when those page.

    Parameters
    ----------
    window
        An anomaly whose onset is within this many seconds of the onset of one of an open
        incident's anomalies (and connected to it in the topology) joins it.
    reopen_within
        The same series relapsing this soon after resolution re-opens the same incident
        (flapping): no new page. Any other anomaly opens a new incident, which follows it.
    traffic_memory
        Traffic shifts are kept this long to be attached to an incident that opens later.
    min_confidence
        An incident pages once it holds a material anomaly at least this confident (evidence of
        lower confidence localises and ranks, never pages).
    max_span
        An open incident takes no anomaly whose onset is more than this after the incident's
        onset: a burst hours later is another incident, with its own page.
    quiet_gap
        ... nor one whose onset is more than this after the incident's last anomaly was found.
    evidence_within
        A weak anomaly (below ``min_confidence``) is evidence of an incident whose onset is this
        close to its own, on a connected service; it never opens an incident.
    impact
        Which anomalies users feel (:class:`~correlators.impact.ImpactPolicy`): only those page.
    """

    window: float = 600.0
    reopen_within: float = 600.0
    traffic_memory: float = 1800.0
    min_confidence: float = 0.5
    max_span: float = 3600.0
    quiet_gap: float = 1800.0
    evidence_within: float = 120.0
    impact: ImpactPolicy = field(default_factory=ImpactPolicy)

    def is_material(self, a: Anomaly) -> bool:
        """Is this anomaly a change users feel (worth waking someone), not just evidence?

        >>> p = GroupingPolicy()
        >>> def err(b, a): return Anomaly("s", "error_ratio", 0, 0, "up", b, a, 1.0)
        >>> p.is_material(err(0.0013, 0.0026)), p.is_material(err(0.008, 0.1)), p.is_material(err(0.0005, 0.004))
        (False, True, False)
        """
        return self.impact.is_material(a)


def _incident_id(anomaly: Anomaly) -> str:
    digest = hashlib.sha1(f"{anomaly.key}@{anomaly.onset:.0f}".encode()).hexdigest()
    return f"inc-{digest[:10]}"


class IncidentTracker:
    """Holds open and recent incidents; every method returns the page actions it decided."""

    def __init__(self, topology: Topology, policy: GroupingPolicy | None = None) -> None:
        self.topology = topology
        self.policy = policy or GroupingPolicy()
        self.same_cause: Callable[[Incident, Anomaly], bool] | None = None
        """Given by the engine: does the cause leading a relapse now lead the resolved incident too?
        (Without it, the same series soon after is taken as the same outage.)"""
        self._reset()

    def _reset(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self._traffic: list[Anomaly] = []
        self._evidence: list[Anomaly] = []
        self._reach_cache: dict[str, tuple[set[str], set[str], set[str]]] = {}

    # -- grouping ---------------------------------------------------------------
    def _reach(self, service: str) -> tuple[set[str], set[str], set[str]]:
        """(callers and callees, transitive callees, dependencies of those) of a known service."""
        got = self._reach_cache.get(service)
        if got is None:
            topo = self.topology
            down = topo.downstream_of(service)
            deps = {d for s in down if s in topo.services for d in topo.services[s].dependencies}
            got = self._reach_cache[service] = (topo.blast_radius_of_service(service) | down, down, deps)
        return got

    def _connected(self, service: str, incident: Incident, also: str | None = None) -> bool:
        """Could one fault show at both? Call paths either way, a shared callee or a shared dependency
        (a callee's fault surfaces at callers that do not call each other)."""
        topo = self.topology
        if not topo.services:
            return True  # no topology at all: group by time alone
        others = incident.services + [t.service for t in incident.traffic] + ([also] if also else [])
        if service not in topo.services:
            return service in others  # unknown: connected to itself only, never to everything
        mine, down, deps = self._reach(service)
        for other in others:
            if other == service or other in mine:
                return True
            if other not in topo.services:
                continue
            _, other_down, other_deps = self._reach(other)
            if down & other_down or deps & other_deps:
                return True
        return False

    def _near(self, anomaly: Anomaly, inc: Incident) -> bool:
        """Close in time: its onset near another anomaly's onset, or the same series flapping while open."""
        pol = self.policy
        if inc.state is IncidentState.OPEN:
            if anomaly.onset - inc.onset > pol.max_span:
                return False  # an incident is one outage, not everything that happens for days
            found = max((a.detected_at for a in inc.anomalies), default=inc.opened_at)
            if anomaly.onset - found > pol.quiet_gap:
                return False
            if any(abs(anomaly.onset - a.onset) <= pol.window for a in inc.anomalies):
                return True
            last = max([a.recovered_at or a.detected_at for a in inc.anomalies] + [inc.opened_at])
            same = any(a.key == anomaly.key for a in inc.anomalies)
            return same and anomaly.onset - last <= pol.reopen_within
        if inc.state is IncidentState.RESOLVED:
            # Only the same outage coming back re-opens: the same series, soon after it ended.
            assert inc.resolved_at is not None
            # ... with the same leading cause: another outage on the same series (a dependency failing
            # after a deploy was rolled back) is a new incident that follows this one.
            return (anomaly.onset - inc.resolved_at <= pol.reopen_within and anomaly.onset >= inc.onset
                    and any(a.key == anomaly.key for a in inc.anomalies)
                    and (self.same_cause is None or self.same_cause(inc, anomaly)))
        return False

    def _matches(self, anomaly: Anomaly) -> list[Incident]:
        """Incidents the anomaly belongs to, the one to keep first (paged first, then opened first)."""
        found = [inc for inc in self.incidents.values()
                 if self._near(anomaly, inc) and self._connected(anomaly.service, inc)]
        open_ = [i for i in found if i.state is IncidentState.OPEN]
        if open_:
            found = open_  # a fresh anomaly joins what is open before it re-opens what was resolved
        return sorted(found, key=lambda i: (i.paged_at is None, i.paged_at or 0.0, i.opened_at, i.id))

    def _merge(self, keep: Incident, others: list[Incident], ts: float) -> list[PageAction]:
        """An anomaly bridged several open incidents: they are one outage, so one incident and one page."""
        actions: list[PageAction] = []
        for other in others:
            keep.anomalies += other.anomalies
            known = {t.key + f"@{t.onset}" for t in keep.traffic}
            keep.traffic += [t for t in other.traffic if t.key + f"@{t.onset}" not in known]
            keep.opened_at = min(keep.opened_at, other.opened_at)
            other.state = IncidentState.MERGED
            other.merged_into = keep.id
            other.resolved_at = ts
            if other.paged_at is not None:
                actions.append(PageAction(PageKind.RESOLVE, other.id, ts, f"merged into {keep.id}"))
        keep.onset = self.onset_of(keep.anomalies)
        return actions

    def add_anomaly(self, anomaly: Anomaly) -> tuple[Incident | None, list[PageAction]]:
        """Take a new anomaly; return the incident it joined or opened (None if it only was remembered)."""
        impact = self.policy.impact
        traffic = impact.role(anomaly.signal) is SignalRole.TRAFFIC
        if traffic:
            keep = max(self.policy.traffic_memory, self.policy.max_span)  # a surge's end may come an hour later
            self._traffic = [t for t in self._traffic if anomaly.onset - t.onset <= keep]
            self._traffic.append(anomaly)
        if traffic and (not impact.is_material(anomaly) or self._surge_ending(anomaly)):
            found = [i for i in self._matches(anomaly) if i.state is IncidentState.OPEN]
            if found:
                found[0].traffic.append(anomaly)
                return found[0], self._merge(found[0], found[1:], anomaly.detected_at)
            return None, []
        if not traffic and (anomaly.confidence < self.policy.min_confidence
                            or not impact.is_bad(anomaly.signal, anomaly.direction)):
            # A weak deviation, or a move the harmless way: at most evidence of where the fault sits
            # (add_evidence decides), never an incident of its own.
            return self.add_evidence(anomaly)
        # A symptom (or a resource's shift) of an outage; a traffic loss or surge users feel is a symptom too.
        found = self._matches(anomaly)
        actions: list[PageAction] = []
        if not found:
            inc = Incident(_incident_id(anomaly), anomaly.onset, anomaly.detected_at)
            # a rise remembered from an earlier episode that is over by this onset is not this episode's
            inc.traffic = [t for t in self._traffic if abs(t.onset - anomaly.onset) <= self.policy.window
                           and (t.recovered_at is None or t.recovered_at > anomaly.onset)]
            inc.follows = self._follows(anomaly)
            inc.evidence = [e for e in self._evidence if abs(e.onset - anomaly.onset) <= self.policy.evidence_within
                            and self._connected(e.service, inc, also=anomaly.service)]
            self.incidents[inc.id] = inc
        else:
            inc = found[0]
            if inc.state is IncidentState.RESOLVED:
                inc.state = IncidentState.OPEN
                inc.resolved_at = None
                inc.reopened += 1
                if inc.paged_at is not None:
                    # Flapping: the same incident and the same page, updated in place (the outbox holds
                    # resolves back for a while, so a quick relapse never reaches the phone as a new page).
                    actions.append(PageAction(PageKind.UPDATE, inc.id, anomaly.detected_at, "relapsed: re-opened"))
            actions += self._merge(inc, [i for i in found[1:] if i.state is IncidentState.OPEN], anomaly.detected_at)
        inc.anomalies.append(anomaly)
        if traffic:
            inc.traffic.append(anomaly)  # also a load candidate for the ranking
        inc.onset = self.onset_of(inc.anomalies)
        return inc, actions

    def _surge_ending(self, anomaly: Anomaly) -> bool:
        """A fall of traffic back to about where an earlier rise of the same series started: the
        surge ended (the detector had taken the surge as its new normal), no traffic was lost."""
        if anomaly.after >= anomaly.before:
            return False
        return any(t.key == anomaly.key and t.after > t.before and t.onset < anomaly.onset
                   and anomaly.after >= 0.7 * t.before for t in self._traffic)

    def traffic_near(self, onset: float, within: float) -> list[Anomaly]:
        """Traffic shifts remembered with an onset this close to ``onset``."""
        return [t for t in self._traffic if abs(t.onset - onset) <= within]

    def add_evidence(self, anomaly: Anomaly) -> tuple[Incident | None, list[PageAction]]:
        """Remember a weak anomaly for incidents opening soon; attach it to an open one it is near.

        Only a move the bad way is evidence, or a latency falling (a callee failing fast); a resource
        or a rate falling is a callee doing less work as its callers fail: recorded, never evidence.
        """
        impact = self.policy.impact
        if not impact.is_bad(anomaly.signal, anomaly.direction) and (
                impact.role(anomaly.signal) is not SignalRole.LATENCY):
            return None, []
        within = self.policy.evidence_within
        self._evidence = [e for e in self._evidence if anomaly.onset - e.onset <= self.policy.window]
        self._evidence.append(anomaly)
        for inc in self.open_incidents():
            if abs(inc.estimated_onset - anomaly.onset) <= within and self._connected(anomaly.service, inc):
                inc.evidence.append(anomaly)
                return inc, []
        return None, []

    def _follows(self, anomaly: Anomaly) -> str | None:
        """The incident a new one comes after: the latest resolved on connected services within the
        re-open window's reach (twice it), so that the page can say so."""
        best: Incident | None = None
        for inc in self.incidents.values():
            if inc.state is not IncidentState.RESOLVED or inc.resolved_at is None:
                continue
            if not 0.0 <= anomaly.onset - inc.resolved_at <= 2 * self.policy.reopen_within:
                continue
            if self._connected(anomaly.service, inc) and (best is None or inc.resolved_at > (best.resolved_at or 0)):
                best = inc
        return best.id if best is not None else None

    def onset_of(self, anomalies: list[Anomaly]) -> float:
        """The incident's onset: the earliest onset among its confident anomalies.

        A weak anomaly's onset estimate is noisy (a small shift is found late and its
        start guessed from few samples); it only counts when nothing confident exists.
        """
        confident = [a.onset for a in anomalies if a.confidence >= self.policy.min_confidence]
        return min(confident or [a.onset for a in anomalies])

    def recover(self, series: str, ts: float) -> list[PageAction]:
        """A series came back; resolve incidents whose anomalies all recovered."""
        actions: list[PageAction] = []
        self._traffic = [replace(t, recovered_at=ts) if t.key == series and t.recovered_at is None else t
                         for t in self._traffic]
        for inc in self.incidents.values():
            if inc.state is not IncidentState.OPEN:
                continue
            changed = False
            for i, a in enumerate(inc.anomalies):
                if a.key == series and a.recovered_at is None:
                    inc.anomalies[i] = replace(a, recovered_at=ts)
                    changed = True
            if changed and not inc.active:
                inc.state = IncidentState.RESOLVED
                inc.resolved_at = ts
                if inc.paged_at is not None:
                    actions.append(PageAction(PageKind.RESOLVE, inc.id, ts, "all anomalies recovered"))
        return actions

    def restore(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident

    def forget(self, now: float, after: float) -> list[str]:
        """Drop incidents that can no longer change: resolved or merged ones whose re-open
        window (``reopen_within``, plus the grouping ``window`` for a late-found onset) ended
        more than ``after`` seconds before ``now`` (event time). A long-running process
        would otherwise hold, and scan on every anomaly, every incident it ever had; the
        store keeps them. Returns the ids dropped.

        >>> from correlators.types import Topology
        >>> tracker = IncidentTracker(Topology.from_services([]))
        >>> inc, _ = tracker.add_anomaly(Anomaly("api", "error_ratio", 100.0, 160.0, "up", 0.01, 0.2, 1.0))
        >>> _ = tracker.recover("api/error_ratio", 400.0)
        >>> tracker.forget(now=400.0 + 1200.0 + 3599.0, after=3600.0) == []
        True
        >>> tracker.forget(now=400.0 + 1200.0 + 3601.0, after=3600.0) == [inc.id]
        True
        """
        horizon = self.policy.reopen_within + self.policy.window + after
        gone = [i.id for i in self.incidents.values()
                if i.state in (IncidentState.RESOLVED, IncidentState.MERGED)
                and i.resolved_at is not None and now - i.resolved_at > horizon]
        for inc_id in gone:
            del self.incidents[inc_id]
        return gone

    def open_incidents(self) -> Iterable[Incident]:
        return [i for i in self.incidents.values() if i.state is IncidentState.OPEN]

    # -- paging -----------------------------------------------------------------
    def should_page(self, inc: Incident) -> bool:
        """Page once the incident holds a material symptom that is still active and confident.

        Only what users feel pages (:class:`~correlators.impact.ImpactPolicy`): a small move (an
        error ratio going from 0.13% to 0.26%), a resource signal (a pod's CPU going from 0.3% to
        0.5%, or to 90%) or an unknown signal is recorded and shown as evidence, never paged alone.
        """
        if inc.paged_at is not None or inc.state is not IncidentState.OPEN:
            return False
        return any(a.recovered_at is None and a.confidence >= self.policy.min_confidence
                   and self.policy.is_material(a) for a in inc.anomalies)

    def set_ranking(self, inc: Incident, ranking: Ranking, ts: float) -> list[PageAction]:
        """Attach a new ranking; update the page when the top cause changed since it was paged."""
        inc.ranking = ranking
        top = ranking.top.cause if ranking.top else None
        tests = decided_tests([t.to_json() for t in ranking.tests])
        if inc.paged_at is not None and inc.state is IncidentState.OPEN and (top != inc.paged_top
                                                                             or tests != inc.paged_tests):
            why = "top candidate changed" if top != inc.paged_top else "a confirm test decided"
            inc.paged_top, inc.paged_tests = top, tests
            return [PageAction(PageKind.UPDATE, inc.id, ts, why)]
        return []

    def page(self, inc: Incident, ts: float) -> list[PageAction]:
        """Page for the first time, if the incident deserves it (call once its timestamp is complete)."""
        if not self.should_page(inc):
            return []
        inc.paged_at = ts
        inc.paged_top = inc.ranking.top.cause if inc.ranking and inc.ranking.top else None
        inc.paged_tests = decided_tests([t.to_json() for t in inc.ranking.tests]) if inc.ranking else ()
        return [PageAction(PageKind.TRIGGER, inc.id, ts, "new incident")]
