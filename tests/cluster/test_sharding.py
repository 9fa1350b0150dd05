"""Rendezvous sharding: every series has exactly one owner; a death moves only the dead member's series."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daemon.cluster.sharding import Shard, owner

KEYS = [f"svc{i}/error_ratio" for i in range(300)]


@given(st.sets(st.sampled_from([str(i) for i in range(6)]), min_size=1))
def test_every_series_has_exactly_one_owner(members: set[str]) -> None:
    live = frozenset(members)
    shards = [Shard(m, live) for m in live]
    for k in KEYS:
        assert sum(s.owns(k) for s in shards) == 1


def test_balanced_and_minimal_movement() -> None:
    three = ["0", "1", "2"]
    before = {k: owner(k, three) for k in KEYS}
    counts = [list(before.values()).count(m) for m in three]
    assert min(counts) > 60, counts  # 300 keys over 3: roughly even
    after = {k: owner(k, ["0", "2"]) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert moved and all(before[k] == "1" for k in moved)
    assert {k: owner(k, three) for k in KEYS} == before  # the member comes back: its series return
