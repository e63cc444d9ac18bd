"""A throwaway PostgreSQL server in a temporary folder, for the history tests and the scale-out benchmark.

It uses Debian's `postgresql` package (`make system-deps` installs it): `initdb` and `pg_ctl` from
/usr/lib/postgresql/<version>/bin. initdb refuses to run as root, so as root the server runs as the `postgres`
OS user (via `runuser`) in a folder that user owns. The server listens on 127.0.0.1 only, on a free port,
with a password for its one superuser, and is stopped and deleted by `stop()`.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

from rag.errors import PrepError

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin or on PATH: "
    "run `make system-deps` (installs Debian's postgresql package)"
)
SERVICE_USER = "postgres"


class PostgresUnavailable(PrepError):
    """The PostgreSQL binaries are missing or the server would not start."""


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: the newest Debian version, else wherever PATH has them."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise PostgresUnavailable(MISSING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    """`with TempPostgres() as server:` a running server; `server.create_database(name)` gives a URL."""

    def __init__(self, *, durable: bool = True, user: str = "prep") -> None:
        """`durable=False` turns fsync off (fine for tests: a killed client process is still fully covered, only
        an OS crash could lose data); the benchmark keeps PostgreSQL's default, durable settings."""
        self.bin_dir = find_bin_dir()
        self.durable = durable
        self.user = user
        self.password = secrets.token_urlsafe(12)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="prep-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_service_user = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_service_user:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=self.root)

    def start(self) -> TempPostgres:
        if self._as_service_user:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self._as_service_user:
            shutil.chown(password_file, SERVICE_USER, SERVICE_USER)
        done = self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={password_file}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        password_file.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
            "start",
        )  # fmt: skip
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""
            self.stop()
            raise PostgresUnavailable(f"PostgreSQL did not start: {(done.stderr or done.stdout).strip()} {log}")
        return self

    def url(self, database: str = "postgres") -> URL:
        return URL.create(
            "postgresql+psycopg", username=self.user, password=self.password, host="127.0.0.1", port=self.port,
            database=database,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL as a string (password included)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres",
            autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name).render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
