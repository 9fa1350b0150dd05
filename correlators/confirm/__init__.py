"""Confirm tests: run the check each candidate's hypothesis names, and re-rank with the outcome.

:mod:`.plan` says what to compare for a candidate, :mod:`.judge` decides from the data (a proper
test, significant *and* material), :mod:`.rerank` applies the outcomes to a ranking. Pure and
deterministic: the data come from a source (a scenario's per-version series, Prometheus) that
the daemon calls off the event loop.
"""

from .judge import ArmData, ConfirmData, ConfirmResult, JudgePolicy, SignalResult, Verdict, judge
from .plan import DEFAULT_SYMPTOMS, ConfirmPlan, TestKind, plan_test
from .rerank import rerank

__all__ = [
    "DEFAULT_SYMPTOMS", "ArmData", "ConfirmData", "ConfirmPlan", "ConfirmResult", "JudgePolicy", "SignalResult",
    "TestKind", "Verdict", "judge", "plan_test", "rerank",
]
