"""What the demo says as it injects an incident, so that a newcomer can check the answers."""

from __future__ import annotations

from .incidents import Incident
from .kinds import DEMO_KINDS

__all__ = ["KIND_WORDS", "describe_injection"]

KIND_WORDS = dict(DEMO_KINDS)


def describe_injection(incident: Incident) -> str:
    """``injecting a bad config on catalog (truth: cause change chg-…; affected: catalog, frontend)``.

    >>> from daemon.demo.incidents import Incident
    >>> inc = Incident(0, "bad_config", 0.0, 30.0, 210.0, "catalog", 0.0, {}, ("catalog", "frontend"),
    ...                {"type": "change", "id": "chg-1a2b3c4d"}, ())
    >>> describe_injection(inc)
    'injecting a bad config on catalog (truth: cause change chg-1a2b3c4d; affected: catalog, frontend)'
    """
    cause = dict(incident.cause)
    kind = str(cause.pop("type", "?"))
    ref = " ".join(str(v) for v in cause.values())
    return (f"injecting {KIND_WORDS.get(incident.kind, incident.kind)} on {incident.target} "
            f"(truth: cause {kind} {ref}; affected: {', '.join(incident.services)})")
