"""A throw-away PostgreSQL server on a Unix socket in a temporary folder (tests and benchmark).

Debian's ``postgresql`` package puts ``initdb`` and ``pg_ctl`` in
``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so
as root the server runs as ``nobody`` (``runuser``); the data folder and the
socket folder belong to it. Nothing listens on TCP.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found and shutil.which("initdb") else None


class TemporaryPostgres:
    """``with TemporaryPostgres() as pg: pg.url("gradebook")`` (database created on first use)."""

    user = "nobody"

    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="bertcourse-pg-"))
        os.chmod(self.folder, 0o755)
        self.data, self.socket = self.folder / "data", self.folder / "socket"
        self.socket.mkdir()
        self.as_root = os.geteuid() == 0

    def _run(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        command = (["runuser", "-u", self.user, "--"] if self.as_root else []) + list(argv)
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)

    def __enter__(self) -> TemporaryPostgres:
        if self.as_root:
            shutil.chown(self.folder, self.user)
            shutil.chown(self.socket, self.user)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "grader", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        options = f"-k {self.socket} -c listen_addresses='' -c fsync=off -c max_connections=50"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.folder / "log"), "start")
        return self

    def url(self, database: str = "gradebook") -> str:
        # Imported here: psycopg2 is needed only with a PostgreSQL gradebook.
        import psycopg2

        connection = psycopg2.connect(dbname="postgres", user="grader", host=str(self.socket))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()
        return f"postgresql+psycopg2://grader@/{database}?host={self.socket}"

    def __exit__(self, *exc) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            time.sleep(0.2)
            shutil.rmtree(self.folder, ignore_errors=True)
