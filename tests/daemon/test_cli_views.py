"""``whatchanged incidents`` and ``whatchanged incident ID`` against a daemon serving on a loopback port."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from daemon.api.app import create_app
from daemon.api.auth import ApiTokens
from daemon.cli import main
from daemon.store import Store
from tests.daemon.servers import free_port

from .workspace_helpers import DEPLOY, feed_incident, make_daemon


async def test_cli_views(sqlite_store: Store, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = make_daemon(sqlite_store, tokens=ApiTokens.of(read=["r-secret"]))
    inc = await feed_incident(daemon)
    runner = web.AppRunner(create_app(daemon))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async def run(*argv: str) -> tuple[int, str, str]:
            rc = await asyncio.to_thread(main, list(argv))
            out, err = capsys.readouterr()
            return rc, out, err

        rc, out, err = await run("incidents", "--url", url)
        assert rc == 1 and "refused" in err and "--token" in err
        rc, out, err = await run("incidents", "--url", url, "--token", "r-secret")
        assert rc == 0, err
        header, row = out.splitlines()[:2]
        assert header.split()[:2] == ["ID", "STATE"] and row.startswith(f"{inc}  open")
        assert "checkout rollout revision 14 -> 15" in row
        rc, out, _ = await run("incidents", "--url", url, "--token", "r-secret", "--state", "resolved")
        assert rc == 0 and out.strip() == "no incidents"
        rc, out, err = await run("incident", inc, "--url", url, "--token", "r-secret")
        assert rc == 0, err
        first, second = out.splitlines()[:2]
        assert first.startswith("checkout: error ratio") and second.startswith("Likely checkout rollout"), out
        assert "kubectl rollout undo deployment/checkout" in out and "Candidates:" in out
        assert "Timeline (UTC):" in out and DEPLOY.summary[:30] in out
        rc, out, err = await run("incident", "inc-nope", "--url", url, "--token", "r-secret")
        assert rc == 1 and err.strip() == "whatchanged: no incident inc-nope"
        # the address and the token from the environment, read when the command runs
        monkeypatch.setenv("WHATCHANGED_URL", url)
        monkeypatch.setenv("WHATCHANGED_TOKEN", "r-secret")
        rc, out, err = await run("incidents")
        assert rc == 0 and out.splitlines()[1].startswith(f"{inc}  open"), err
        rc, out, err = await run("incident", inc)
        assert rc == 0 and "Candidates:" in out, err
        monkeypatch.setenv("WHATCHANGED_TOKEN", "wrong")
        rc, out, err = await run("incidents", "--token", "r-secret")  # a flag wins over the environment
        assert rc == 0, err
        monkeypatch.delenv("WHATCHANGED_URL")
        monkeypatch.delenv("WHATCHANGED_TOKEN")
    finally:
        await runner.cleanup()
    rc, out, err = await run("incidents", "--url", url)
    assert rc == 1 and "cannot reach the daemon" in err and url in err
