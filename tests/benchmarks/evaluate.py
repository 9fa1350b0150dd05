"""Score replay output against a scenario's truth (rules of shared/scenario-format.md)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
MATCH_WINDOW = 600.0


@dataclass
class ScenarioScore:
    name: str
    truth: int = 0
    matched: int = 0
    false_pages: int = 0
    ranks: list[int | None] = field(default_factory=list)
    time_to_page: list[float] = field(default_factory=list)
    paged: int = 0          # truth incidents matched by a paged incident
    days: float = 0.0       # replayed time, in days (false pages are reported per system-day)


def find_scenario_set(name: str = "dev") -> Path | None:
    """``shared/scenarios/<name>`` beside a checkout (main or a worktree), or $WHATCHANGED_SCENARIOS/<name>."""
    env = os.environ.get("WHATCHANGED_SCENARIOS")
    if env and (Path(env) / name).is_dir():
        return Path(env) / name
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "scenarios" / name
        if cand.is_dir():
            return cand
    return None


def load_truth(path: Path) -> list[Doc]:
    return list(json.loads((path / "truth.json").read_text())["incidents"])


def _cause_key(c: Doc) -> tuple[str, str]:
    kind = c["type"]
    ref = {"change": "id", "dependency": "target", "traffic": "service"}.get(kind)
    return kind, str(c.get(ref, "")) if ref else ""


def score_scenario(name: str, truth: Sequence[Doc], incidents: Sequence[Doc],
                   rank_of: Callable[[Doc, Doc], int | None] | None = None) -> ScenarioScore:
    """Match output incidents to truth; count false pages; rank of the true cause per matched truth."""
    s = ScenarioScore(name, truth=len(truth))

    def default_rank(inc: Doc, t: Doc) -> int | None:
        want = _cause_key(t["cause"])
        for c in inc.get("candidates", []):
            if _cause_key(c["cause"]) == want:
                return int(c["rank"])
        return None

    rank_of = rank_of or default_rank
    for t in truth:
        best: Doc | None = None
        # Of the incidents that match, a paged one first, then the closest onset (two incidents
        # within the window: the one that began with the truth is its incident, not the earlier one).
        for inc in incidents:
            if abs(inc["onset"] - t["onset"]) <= MATCH_WINDOW and set(inc["services"]) & set(t["services"]):
                key = (inc["paged_at"] is None, abs(inc["onset"] - t["onset"]))
                if best is None or key < (best["paged_at"] is None, abs(best["onset"] - t["onset"])):
                    best = inc
        if best is None:
            s.ranks.append(None)
            continue
        s.matched += 1
        s.ranks.append(rank_of(best, t))
        if best["paged_at"] is not None:
            s.paged += 1
            s.time_to_page.append(best["paged_at"] - t["onset"])
    for inc in incidents:
        if inc["paged_at"] is None:
            continue
        matches = any(abs(inc["onset"] - t["onset"]) <= MATCH_WINDOW and set(inc["services"]) & set(t["services"])
                      for t in truth)
        if not matches:
            s.false_pages += 1
    return s


@dataclass
class Summary:
    truth: int
    hit1: float
    hit3: float
    recall: float
    false_pages: int
    quiet_false_pages: int
    median_time_to_page: float | None
    paged_recall: float = 0.0
    days: float = 0.0

    @property
    def false_per_day(self) -> float | None:
        """False pages per system-day of replayed time."""
        return self.false_pages / self.days if self.days > 0 else None


def summarise(scores: Sequence[ScenarioScore]) -> Summary:
    truth = sum(s.truth for s in scores)
    ranks = [r for s in scores for r in s.ranks]
    ttp = [t for s in scores for t in s.time_to_page]
    return Summary(
        truth=truth,
        hit1=sum(1 for r in ranks if r == 1) / truth if truth else 0.0,
        hit3=sum(1 for r in ranks if r is not None and r <= 3) / truth if truth else 0.0,
        recall=sum(s.matched for s in scores) / truth if truth else 1.0,
        false_pages=sum(s.false_pages for s in scores),
        quiet_false_pages=sum(s.false_pages for s in scores if s.truth == 0),
        median_time_to_page=statistics.median(ttp) if ttp else None,
        paged_recall=sum(s.paged for s in scores) / truth if truth else 1.0,
        days=sum(s.days for s in scores),
    )


def naive_rank_of(changes: Sequence[Doc]) -> Callable[[Doc, Doc], int | None]:
    """The pager tools' list: changes before the incident's onset, most recent first."""

    def rank_of(inc: Doc, t: Doc) -> int | None:
        listed = sorted((c for c in changes if c["ts"] <= inc["onset"]), key=lambda c: -c["ts"])
        want = _cause_key(t["cause"])
        for i, c in enumerate(listed, 1):
            if ("change", c["id"]) == want:
                return i
        return None

    return rank_of


def untested_rank_of(inc: Doc, t: Doc) -> int | None:
    """The true cause's rank in the order the evidence alone gave, before the confirm tests re-ranked
    (``ranked_without_tests``; an incident without tests keeps its candidates' order)."""
    want = _cause_key(t["cause"])
    order = inc.get("ranked_without_tests")
    if order is None:
        order = [c["cause"] for c in inc.get("candidates", [])]
    for i, c in enumerate(order, 1):
        if _cause_key(c) == want:
            return i
    return None


@dataclass
class TestTally:
    """What the confirm tests said about true causes and about the other candidates (decoys)."""

    __test__ = False

    incidents: int = 0          # matched truth incidents
    true_tested: int = 0
    true_confirmed: int = 0
    true_refuted: int = 0
    decoys_tested: int = 0
    decoys_refuted: int = 0
    decoys_confirmed: int = 0


def tally_tests(truth: Sequence[Doc], incidents: Sequence[Doc], tally: TestTally) -> None:
    """Add one scenario's tests to ``tally``: each truth incident's best match, as scoring takes it."""
    for t in truth:
        cands = [inc for inc in incidents
                 if abs(inc["onset"] - t["onset"]) <= MATCH_WINDOW and set(inc["services"]) & set(t["services"])]
        if not cands:
            continue
        inc = min(cands, key=lambda i: (i["paged_at"] is None, abs(i["onset"] - t["onset"])))
        tally.incidents += 1
        want = _cause_key(t["cause"])
        for test in inc.get("tests", []):
            verdict = test["verdict"]
            if _cause_key(test["cause"]) == want:
                tally.true_tested += 1
                tally.true_confirmed += verdict == "confirmed"
                tally.true_refuted += verdict == "refuted"
            else:
                tally.decoys_tested += 1
                tally.decoys_refuted += verdict == "refuted"
                tally.decoys_confirmed += verdict == "confirmed"
