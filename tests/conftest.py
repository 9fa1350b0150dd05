"""Shared fixtures: stores on SQLite and on a real PostgreSQL, dev scenario paths."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from daemon.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WHATCHANGED_SHARED", ROOT.parent / "shared"))  # scenarios, datasets
DEV_SCENARIOS = SHARED / "scenarios" / "dev"
PG_URL = os.environ.get("WHATCHANGED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_or_skip(available: bool, reason: str) -> None:
    """Skip with a clear reason when a server is absent, except under CI=true where it must run."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run; .ci/run should have provided it)")
    pytest.skip(reason)


async def _pg_available() -> bool:
    try:
        import asyncpg
        conn = await asyncio.wait_for(asyncpg.connect(PG_URL), timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


@pytest.fixture
def dev_scenarios() -> Path:
    require_or_skip(DEV_SCENARIOS.is_dir(), f"dev scenarios not found at {DEV_SCENARIOS}")
    return DEV_SCENARIOS


async def _pg_admin(sql: str) -> None:
    import asyncpg
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_or_skip(asyncio.run(_pg_available()), f"PostgreSQL not reachable at {PG_URL}")
    name = f"wc_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await Store.open(store_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        yield s
    finally:
        await s.close()
