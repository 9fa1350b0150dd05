"""Which replica watches which series: rendezvous hashing over the live members.

Every replica computes the same answer from the same member list, so the series
are watched exactly once while the replicas agree on who is alive. When a member
dies only its own series move (each to the survivor with the next-highest
score); when it comes back exactly those series move back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Shard", "owner", "score"]


def score(member: str, key: str) -> int:
    """A stable 64-bit score of ``(member, key)``; identical across processes and Python versions.

    >>> score("0", "checkout/error_ratio") == score("0", "checkout/error_ratio")
    True
    """
    digest = hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str:
    """The member that watches ``key``: the highest score wins, ties broken by name.

    >>> owner("checkout/error_ratio", ["1"])
    '1'
    >>> owner("x", [])
    Traceback (most recent call last):
    ...
    ValueError: no live member to own series 'x'
    """
    best: tuple[int, str] | None = None
    for m in members:
        cand = (score(m, key), m)
        if best is None or cand > best:
            best = cand
    if best is None:
        raise ValueError(f"no live member to own series {key!r}")
    return best[1]


@dataclass(frozen=True)
class Shard:
    """This replica's view: who it is and which members are alive.

    Parameters
    ----------
    member
        This replica's id (its ordinal, ``"0"`` to ``"n-1"``).
    members
        The live members, this one included.
    """

    member: str
    members: frozenset[str]

    def __post_init__(self) -> None:
        if self.member not in self.members:
            raise ValueError(f"member {self.member!r} must be one of the live members {sorted(self.members)}")

    def owns(self, key: str) -> bool:
        """Whether this replica watches the series ``key``.

        >>> Shard("0", frozenset({"0"})).owns("anything")
        True
        """
        return owner(key, self.members) == self.member
