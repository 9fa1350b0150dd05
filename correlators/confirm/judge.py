"""Judge a confirm test: did the treated arm (new pods, flag on) do materially worse than the control?

A difference must be both significant and material to confirm a candidate, and a candidate is
refuted only when the data show, with enough of it, that the treated arm is *not materially
worse* (a non-inferiority test whose margin is the paging bar of :class:`ImpactPolicy`). Anything
else is inconclusive, and says why: no per-version series, too few side-by-side steps, a
difference too small to matter.

Statistics, per symptom signal, over the steps at which both arms were measured after the change:

- error ratios with the arms' request rates: failed and total requests of each arm (ratio times
  rate times step), a one-sided two-proportion z-test, or Fisher's exact test when a cell of the
  table expects fewer than five requests; non-inferiority with the unpooled standard error; both z-tests'
  variances widened by the quasi-binomial dispersion of the per-step counts (:func:`dispersion`);
- latencies, and error ratios without request rates: the per-step values of each arm, a one-sided
  Mann-Whitney U test; non-inferiority by the same test against the control shifted up to the bar.

With several signals the significance level is split among them (Bonferroni): one confirmed
signal confirms the candidate, all refuted refute it. A test looked at again as data arrive
spends its level over the looks (the k-th look at ``alpha / (k (k + 1))``, summing to ``alpha``),
so waiting for a lucky step cannot confirm a candidate.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..impact import ImpactPolicy
from ..signals import SignalRole
from ..types import JSON, Anomaly, Cause
from .plan import ConfirmPlan, TestKind

__all__ = ["ArmData", "ConfirmData", "ConfirmResult", "JudgePolicy", "SignalResult", "Verdict", "dispersion", "judge"]

Points = Sequence[tuple[float, float]]


class Verdict(enum.StrEnum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class ArmData:
    """One arm's series: ``values[signal]`` as ``(ts, value)`` and, where known, its request rate."""

    label: str
    values: Mapping[str, Points]
    rate: Points = ()


@dataclass(frozen=True, slots=True)
class ConfirmData:
    """What a source fetched for a plan: both arms, the query it ran, or why it has nothing."""

    query: str
    step: float
    new: ArmData | None = None
    old: ArmData | None = None
    missing: str = ""
    """Why there are no arms (``no per-version series: the metric carries no pod/version label``)."""


@dataclass(frozen=True)
class JudgePolicy:
    """How sure and how much data.

    alpha: the significance level (split among the signals compared).
    min_steps: side-by-side steps each arm needs before anything is decided.
    min_requests: requests each arm needs before a pooled count test can refute.
    """

    alpha: float = 0.01
    min_steps: int = 3
    min_requests: float = 200.0
    impact: ImpactPolicy = field(default_factory=ImpactPolicy)


@dataclass(frozen=True, slots=True)
class SignalResult:
    """The comparison of one signal: levels of both arms, sizes, test and p-values."""

    signal: str
    verdict: Verdict
    test: str
    new_level: float
    old_level: float
    n_new: float
    n_old: float
    steps: int
    p_worse: float
    """p-value of "the treated arm is no worse" (small: it is worse)."""
    p_not_material: float
    """p-value of "the treated arm is materially worse" (small: it is not)."""
    reason: str = ""

    @property
    def effect(self) -> float:
        return self.new_level - self.old_level

    def to_json(self) -> JSON:
        return {"signal": self.signal, "verdict": self.verdict.value, "test": self.test,
                "new": _round(self.new_level), "old": _round(self.old_level),
                # the effect of the recorded levels, so that a document read back writes the same number
                "effect": _round(_round(self.new_level) - _round(self.old_level)),
                "n_new": _round(self.n_new), "n_old": _round(self.n_old), "steps": self.steps,
                "p_worse": _round(self.p_worse), "p_not_material": _round(self.p_not_material),
                "reason": self.reason}


def _round(x: float) -> float:
    return float(f"{x:.4g}") if math.isfinite(x) else x


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    """A confirm test's outcome: recorded as evidence, shown on the page, used to re-rank."""

    cause: Cause
    kind: TestKind
    verdict: Verdict
    query: str
    at: float
    summary: str
    reason: str
    signals: tuple[SignalResult, ...] = ()

    @property
    def line(self) -> str:
        """``confirmed: new pods (revision 15) 12.1% errors vs old (14) 0.2% errors (n ..., p<1e-6)``."""
        return f"{self.verdict.value}: {self.reason}"

    def to_json(self) -> JSON:
        return {"cause": self.cause.to_json(), "kind": self.kind.value, "verdict": self.verdict.value,
                "query": self.query, "at": self.at, "summary": self.summary, "reason": self.reason,
                "line": self.line, "signals": [s.to_json() for s in self.signals]}

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> ConfirmResult:
        """The result back from its JSON (numbers per signal are kept as recorded)."""
        sigs = doc.get("signals") or []
        assert isinstance(sigs, list)
        return cls(Cause.from_json(doc["cause"]), TestKind(str(doc["kind"])),  # type: ignore[arg-type]
                   Verdict(str(doc["verdict"])), str(doc["query"]), float(doc["at"]),  # type: ignore[arg-type]
                   str(doc["summary"]), str(doc["reason"]),
                   tuple(SignalResult(str(s["signal"]), Verdict(str(s["verdict"])), str(s["test"]),
                                      float(s["new"]), float(s["old"]), float(s["n_new"]), float(s["n_old"]),
                                      int(s["steps"]), float(s["p_worse"]), float(s["p_not_material"]),
                                      str(s.get("reason", ""))) for s in sigs))


def _level_text(signal: str, role: SignalRole, x: float) -> str:
    if role is SignalRole.ERRORS and x <= 1.0:
        return f"{x:.1%} errors"
    if role is SignalRole.LATENCY:
        return f"{x * 1000:.0f} ms {signal.replace('_', ' ')}" if not signal.endswith("_ms") else f"{x:.0f} ms"
    return f"{x:.4g} {signal.replace('_', ' ')}"


def _p_text(p: float) -> str:
    return "p<1e-6" if p < 1e-6 else f"p={p:.2g}"


def _aligned(new: Points, old: Points, since: float) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Timestamps (from ``since``) at which both arms have a finite value, and the values."""
    o = {ts: v for ts, v in old if ts >= since and math.isfinite(v)}
    pairs = sorted((ts, v, o[ts]) for ts, v in new if ts in o and math.isfinite(v))
    return [p[0] for p in pairs], np.array([p[1] for p in pairs]), np.array([p[2] for p in pairs])


@dataclass(frozen=True, slots=True)
class _Counts:
    failed: float
    total: float
    per_step: tuple[tuple[float, float], ...]
    """(failed, total) of each step: the spread between steps beyond the binomial's."""


def _counts(ts: Sequence[float], ratio: np.ndarray, rate: Points, step: float) -> _Counts | None:
    """Failed and total requests over ``ts`` from the ratio and the arm's rate; None without rates."""
    by_ts = dict(rate)
    if not rate or any(t not in by_ts or not math.isfinite(by_ts[t]) for t in ts):
        return None
    n = np.array([max(0.0, by_ts[t]) * step for t in ts])
    k = np.clip(ratio, 0.0, 1.0) * n
    return _Counts(float(np.sum(k)), float(np.sum(n)), tuple(zip(k.tolist(), n.tolist(), strict=True)))


def dispersion(*arms: Sequence[tuple[float, float]]) -> float:
    """The quasi-binomial dispersion of per-step counts (Pearson chi-square over its degrees of
    freedom, each arm around its own ratio), at least 1: real error ratios wander between steps
    more than independent requests would, and the tests' variances are widened by it.

    >>> dispersion([(1.0, 100.0), (1.0, 100.0)], [(5.0, 100.0), (5.0, 100.0)])
    1.0
    >>> round(dispersion([(0.0, 100.0), (10.0, 100.0), (0.0, 100.0), (10.0, 100.0)]), 1)
    7.0
    """
    chi2, df = 0.0, 0
    for arm in arms:
        k = sum(a for a, _ in arm)
        n = sum(b for _, b in arm)
        if n <= 0 or len(arm) < 2:
            continue
        p = k / n
        if 0.0 < p < 1.0:
            chi2 += sum((a - b * p) ** 2 / (b * p * (1 - p)) for a, b in arm if b > 0)
            df += len(arm) - 1
    return max(1.0, chi2 / df) if df > 0 else 1.0


def _proportions(new: _Counts, old: _Counts, margin: float) -> tuple[float, float, str]:
    """One-sided p-values: treated worse (superiority), and treated within ``margin`` (non-inferiority),
    the z-tests' variances widened by the steps' dispersion."""
    k1, n1, k0, n0 = new.failed, new.total, old.failed, old.total
    p1, p0 = k1 / n1, k0 / n0
    phi = dispersion(new.per_step, old.per_step)
    pooled = (k1 + k0) / (n1 + n0)
    expected = min(n1 * pooled, n0 * pooled, n1 * (1 - pooled), n0 * (1 - pooled))
    if expected < 5:  # the normal approximation fails on a few expected failures: exact test
        table = [[round(k1), round(n1 - k1)], [round(k0), round(n0 - k0)]]
        p_worse = float(stats.fisher_exact(table, alternative="greater").pvalue)
        test = "Fisher exact"
    else:
        se = math.sqrt(max(phi * pooled * (1 - pooled) * (1 / n1 + 1 / n0), 1e-18))
        p_worse = float(stats.norm.sf((p1 - p0) / se))
        test = "two-proportion z"
    se_u = math.sqrt(phi * max(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0, 0.25 / (n1 * n1) + 0.25 / (n0 * n0)))
    p_not = float(stats.norm.cdf((p1 - p0 - margin) / se_u))
    return p_worse, p_not, test


def _ranks(new: np.ndarray, old: np.ndarray, threshold: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney U: new greater than old; new less than the old values raised to the bar."""
    p_worse = float(stats.mannwhitneyu(new, old, alternative="greater").pvalue)
    p_not = float(stats.mannwhitneyu(new, threshold, alternative="less").pvalue)
    return p_worse, p_not


def _material(policy: ImpactPolicy, service: str, signal: str, old: float, new: float,
              rate: float | None) -> bool:
    probe = Anomaly(service, signal, 0.0, 0.0, "up", old, new, 1.0, rate=rate)
    return policy.is_material(probe)


def _margin_level(policy: ImpactPolicy, service: str, signal: str, old: float, rise: float = 0.0) -> float:
    """The smallest treated level that would matter against ``old``: the paging bar of the signal,
    or half the rise the incident shows at the service, whichever is smaller (a candidate is not
    ruled out by a difference that could explain the symptom in front of us)."""
    bar = policy.bar(service, signal)
    level = math.inf
    if bar is not None:
        delta = bar.min_delta * (1000.0 if signal.endswith("_ms") or "millis" in signal else 1.0)
        level = max(old + delta, bar.min_ratio * old)
    return min(level, old + rise / 2.0) if rise > 0 else level


@dataclass(frozen=True, slots=True)
class _Window:
    new_level: float
    old_level: float
    p_worse: float
    p_not: float
    test: str
    n_new: float
    n_old: float
    rate_new: float | None
    enough: bool


def _window(plan: ConfirmPlan, data: ConfirmData, signal: str, ts: Sequence[float], new: np.ndarray,
            old: np.ndarray, policy: JudgePolicy) -> _Window:
    """Both tests over the steps ``ts``: the treated arm worse, and not materially worse."""
    assert data.new is not None and data.old is not None
    impact, rise = policy.impact, dict(plan.rises).get(signal, 0.0)
    counts = None
    if impact.role(signal) is SignalRole.ERRORS and float(np.max(np.concatenate([new, old]))) <= 1.0:
        c1, c0 = _counts(ts, new, data.new.rate, data.step), _counts(ts, old, data.old.rate, data.step)
        counts = (c1, c0) if c1 is not None and c0 is not None and c1.total > 0 and c0.total > 0 else None
    if counts is not None:
        c1, c0 = counts
        old_level = c0.failed / c0.total
        margin = _margin_level(impact, plan.service, signal, old_level, rise) - old_level
        p_worse, p_not, test = _proportions(c1, c0, margin)
        return _Window(c1.failed / c1.total, old_level, p_worse, p_not, test, c1.total, c0.total,
                       c1.total / (len(ts) * data.step), min(c1.total, c0.total) >= policy.min_requests)
    threshold = np.array([_margin_level(impact, plan.service, signal, o, rise) for o in old])
    if not np.all(np.isfinite(threshold)):
        threshold = np.full_like(old, np.inf)
    p_worse, p_not = _ranks(new, old, threshold)
    return _Window(float(np.median(new)), float(np.median(old)), p_worse, p_not, "Mann-Whitney U",
                   float(len(ts)), float(len(ts)), None, True)


def _judge_signal(plan: ConfirmPlan, data: ConfirmData, signal: str, alpha: float,
                  policy: JudgePolicy) -> SignalResult:
    """Confirm on every side-by-side step since the change; refute only on those since the onset
    (a fault that grows, or bites late, is not ruled out by a calm start)."""
    assert data.new is not None and data.old is not None
    ts, new, old = _aligned(data.new.values.get(signal, ()), data.old.values.get(signal, ()), plan.since)
    steps = len(ts)
    if steps < policy.min_steps:
        why = (f"{steps} side-by-side step(s) of {signal} since the change, {policy.min_steps} needed"
               if steps else f"no step with both {plan.new_name} and {plan.old_name} measured")
        return SignalResult(signal, Verdict.INCONCLUSIVE, "", math.nan, math.nan, 0, 0, steps, 1.0, 1.0, why)
    w = _window(plan, data, signal, ts, new, old, policy)
    material = _material(policy.impact, plan.service, signal, w.old_level, w.new_level, w.rate_new)
    during = [i for i, t in enumerate(ts) if t >= plan.onset]
    d = (_window(plan, data, signal, [ts[i] for i in during], new[during], old[during], policy)
         if len(during) >= policy.min_steps else None)
    if w.p_worse < alpha and material:
        return SignalResult(signal, Verdict.CONFIRMED, w.test, w.new_level, w.old_level, w.n_new, w.n_old, steps,
                            w.p_worse, w.p_not, "")
    if d is not None and d.p_not < alpha and d.enough:
        return SignalResult(signal, Verdict.REFUTED, d.test, d.new_level, d.old_level, d.n_new, d.n_old,
                            len(during), d.p_worse, d.p_not, "")
    if w.p_worse < alpha:
        why = "worse, but by too little for a user to feel"
    elif d is None:
        why = f"{len(during)} side-by-side step(s) since the onset, {policy.min_steps} needed to rule it out"
    elif not d.enough:
        why = f"too few requests ({min(d.n_new, d.n_old):.0f}) since the onset to rule it out"
    else:
        why = "neither a significant difference nor enough data to rule one out"
    return SignalResult(signal, Verdict.INCONCLUSIVE, w.test, w.new_level, w.old_level, w.n_new, w.n_old, steps,
                        w.p_worse, w.p_not, why)


def _describe(plan: ConfirmPlan, r: SignalResult, impact: ImpactPolicy) -> str:
    role = impact.role(r.signal)
    n = (f"n {r.n_new:.0f} vs {r.n_old:.0f} requests" if r.test != "Mann-Whitney U"
         else f"{r.steps} steps each")
    p = r.p_worse if r.verdict is not Verdict.REFUTED else r.p_not_material
    return (f"{plan.new_name} {_level_text(r.signal, role, r.new_level)} vs {plan.old_name} "
            f"{_level_text(r.signal, role, r.old_level)} ({n}, {r.test}, {_p_text(p)})")


def judge(plan: ConfirmPlan, data: ConfirmData, at: float, policy: JudgePolicy | None = None,
          look: int = 1) -> ConfirmResult:
    """Decide a confirm test from the fetched data.

    Parameters
    ----------
    plan
        The test (:func:`~correlators.confirm.plan.plan_test`).
    data
        Both arms' series as the source fetched them, or why there are none.
    at
        When the test ran (event time): recorded with the result.
    policy
        Significance, data needed and the materiality bars.
    look
        How many times this test has been looked at, this one included (the level is spent over
        the looks: the k-th at ``alpha / (k (k + 1))``).

    Examples
    --------
    >>> from correlators.types import Candidate, Cause, CauseType, Change, ChangeKind
    >>> from correlators.confirm.plan import plan_test
    >>> ch = Change("chg-1", 0.0, ChangeKind.DEPLOY, "checkout",
    ...             attributes={"from_revision": "14", "to_revision": "15"})
    >>> plan = plan_test(Candidate(1, Cause(CauseType.CHANGE, "chg-1"), 0.5, "", "", ()), ch, ["error_ratio"], 60.0)
    >>> ts = [30.0 * i for i in range(1, 9)]
    >>> bad = ArmData("15", {"error_ratio": [(t, 0.121) for t in ts]}, [(t, 20.0) for t in ts])
    >>> good = ArmData("14", {"error_ratio": [(t, 0.002) for t in ts]}, [(t, 20.0) for t in ts])
    >>> r = judge(plan, ConfirmData("q", 30.0, bad, good), at=300.0)
    >>> r.verdict.value
    'confirmed'
    >>> r.reason
    'new pods (revision 15) 12.1% errors vs old (14) 0.2% errors (n 4800 vs 4800 requests, two-proportion z, p<1e-6)'
    >>> judge(plan, ConfirmData("q", 30.0, good, good), at=300.0).verdict.value
    'refuted'
    >>> judge(plan, ConfirmData("q", 30.0, missing="no per-version series: the metric carries no pod/version label"),
    ...       at=300.0).line
    'inconclusive: no per-version series: the metric carries no pod/version label'
    """
    policy = policy or JudgePolicy()
    if data.new is None or data.old is None:
        why = data.missing or f"no series of {plan.new_name} and {plan.old_name}"
        return ConfirmResult(plan.cause, plan.kind, Verdict.INCONCLUSIVE, data.query, at, plan.summary, why)
    alpha = policy.alpha / max(1, len(plan.signals)) / (look * (look + 1))
    results = tuple(_judge_signal(plan, data, s, alpha, policy) for s in plan.signals)
    confirmed = [r for r in results if r.verdict is Verdict.CONFIRMED]
    if confirmed:
        best = min(confirmed, key=lambda r: r.p_worse)
        return ConfirmResult(plan.cause, plan.kind, Verdict.CONFIRMED, data.query, at, plan.summary,
                             _describe(plan, best, policy.impact), results)
    if all(r.verdict is Verdict.REFUTED for r in results):
        text = "; ".join(_describe(plan, r, policy.impact) for r in results)
        return ConfirmResult(plan.cause, plan.kind, Verdict.REFUTED, data.query, at, plan.summary,
                             f"not materially worse: {text}", results)
    open_ = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
    text = "; ".join(f"{r.signal}: {r.reason}" + (f" ({_describe(plan, r, policy.impact)})" if r.test else "")
                     for r in open_)
    return ConfirmResult(plan.cause, plan.kind, Verdict.INCONCLUSIVE, data.query, at, plan.summary, text, results)
