"""Re-rank an incident's candidates with the outcomes of their confirm tests.

A confirmed candidate rises above every unconfirmed one; a refuted one leaves the candidates and
becomes a dead end whose reason is the test's numbers; an inconclusive test changes nothing.
Scores stay probabilities: a confirmation multiplies the candidate's odds by ``confirm_odds``
(Bayes' rule with the test as evidence), a refutation sets them to zero, and all scores are
renormalised over the same total as before (the shown candidates plus what the ranking had
already set aside).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from ..types import Candidate, Cause, CauseType, DeadEnd, Ranking, Recommendation
from .judge import ConfirmResult, Verdict

__all__ = ["rerank"]

_LOW = re.compile(r"^I think, with low confidence \([^)]*\), ")


def _percent(p: float) -> str:
    return "under 1%" if p < 0.005 else f"{p:.0%}"


def _hypothesis(text: str, p: float, low: bool) -> str:
    plain = _LOW.sub("I think ", text)
    if low and plain.startswith("I think "):
        return f"I think, with low confidence ({_percent(p)}), {plain[len('I think '):]}"
    return plain


def rerank(
    ranking: Ranking,
    results: Mapping[Cause, ConfirmResult],
    *,
    recommend: Callable[[Sequence[Candidate]], Recommendation] | None = None,
    low_confidence: float = 0.5,
    confirm_odds: float = 20.0,
) -> Ranking:
    """The ranking with the tests' outcomes applied (``ranking.tests`` records them).

    Parameters
    ----------
    ranking
        The ranking from the evidence alone.
    results
        The latest test outcome per cause (causes not in the ranking are ignored).
    recommend
        Recomputes the recommendation when the top candidate changed (None: keep it).
    low_confidence
        A top score below this is said to be low confidence.
    confirm_odds
        How much a confirmation multiplies a candidate's odds.

    Examples
    --------
    >>> from correlators.types import Action, Candidate, Cause, CauseType, Ranking, Recommendation
    >>> from correlators.confirm.judge import ConfirmResult, Verdict
    >>> from correlators.confirm.plan import TestKind
    >>> a, b = Cause(CauseType.CHANGE, "a"), Cause(CauseType.CHANGE, "b")
    >>> r = Ranking((Candidate(1, a, 0.5, "I think a ...", "", ()),
    ...              Candidate(2, b, 0.3, "I think, with low confidence (30%), b ...", "", ())),
    ...             (), Recommendation(Action.ROLLBACK, "undo a", ""))
    >>> def res(c, v): return ConfirmResult(c, TestKind.VERSION, v, "q", 9.0, "", "new 12% vs old 0.2%")
    >>> out = rerank(r, {a: res(a, Verdict.REFUTED), b: res(b, Verdict.CONFIRMED)})
    >>> [(c.rank, c.cause.ref, round(c.score, 3)) for c in out.candidates], out.low_confidence
    ([(1, 'b', 0.968)], False)
    >>> out.candidates[0].hypothesis, out.dead_ends[0].reason
    ('I think b ...', 'refuted by its test: new 12% vs old 0.2%')
    >>> same = rerank(r, {a: res(a, Verdict.INCONCLUSIVE)})
    >>> [c.cause.ref for c in same.candidates], [round(c.score, 3) for c in same.candidates]
    (['a', 'b'], [0.5, 0.3])
    """
    tests = tuple(results[c.cause] for c in ranking.candidates if c.cause in results)
    untested = tuple(c.cause for c in ranking.candidates)
    if not tests:
        return replace(ranking, tests=(), untested=untested)
    shown = sum(c.score for c in ranking.candidates)
    rest = max(0.0, 1.0 - shown)
    kept: list[tuple[Candidate, float, bool]] = []
    dead: list[DeadEnd] = []
    for c in ranking.candidates:
        r = results.get(c.cause)
        verdict = r.verdict if r is not None else Verdict.INCONCLUSIVE
        if r is not None and verdict is Verdict.REFUTED and c.cause.type is not CauseType.NONE:
            dead.append(DeadEnd(c.cause, f"refuted by its test: {r.reason}", c.title))
            continue
        confirmed = verdict is Verdict.CONFIRMED
        kept.append((c, c.score * (confirm_odds if confirmed else 1.0), confirmed))
    total = sum(w for _, w, _ in kept) + rest
    ordered = sorted(kept, key=lambda t: (not t[2], -t[1]))
    candidates: list[Candidate] = []
    for i, (c, w, _) in enumerate(ordered, 1):
        p = w / total if total > 0 else 0.0
        r = results.get(c.cause)
        evidence = c.evidence + ((f"its test: {r.line}",) if r is not None else ())
        candidates.append(replace(c, rank=i, score=p, evidence=evidence,
                                  hypothesis=_hypothesis(c.hypothesis, p, p < low_confidence)))
    top = candidates[0] if candidates else None
    low = top is None or top.cause.type is CauseType.NONE or top.score < low_confidence
    rec = ranking.recommendation
    if recommend is not None and candidates and (ranking.top is None or ranking.top.cause != candidates[0].cause):
        rec = recommend(candidates)
    return Ranking(tuple(candidates), tuple(dead) + ranking.dead_ends, rec, low_confidence=low,
                   tests=tests, untested=untested)
