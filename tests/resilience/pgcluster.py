"""A private PostgreSQL cluster in a temporary folder on a free loopback port, to stop and start at will.

The shared server on 5432 is never touched. initdb/postgres refuse to run as root, so
when the tests run as root the cluster runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.daemon.servers import free_port

__all__ = ["PrivatePostgres", "pg_bin_dir"]


def pg_bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    for version in sorted(root.iterdir(), reverse=True):
        if (version / "bin" / "initdb").exists():
            return version / "bin"
    return None



class PrivatePostgres:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="wc-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._running = False
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if self._as_root else []) + list(args)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                 "--auth=trust", "--no-sync", "-E", "UTF8"),
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
                "-c fsync=off -c max_connections=40")
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                                 "-l", str(self.dir / "server.log"), "-o", opts),
                       check=True, capture_output=True, timeout=90)
        self._running = True

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when the database restarts under us."""
        if not self._running:
            return
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data)),
                       check=False, capture_output=True, timeout=90)
        self._running = False

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
