"""Real servers for the tests: Debian's redis-server and PostgreSQL, each on a free loopback port in a temp dir.

    with running_redis() as url:            # "redis://127.0.0.1:PORT/0"
    with running_postgres() as server:      # server.create_database() -> a SQLAlchemy URL of a fresh database

PostgreSQL refuses to run as root: under root, initdb and pg_ctl run as the `postgres` user that Debian's package
creates (`runuser`). Missing binaries skip the test with the install command, except under CI (`CI` set), where
they are a failure: `.ci/run` installs them, so CI never skips. Servers are stopped and their folders removed at
exit, also when the body raises. Also here: `running_serve()`, a `smart-app serve` process for deployment tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(what: str, install: str) -> None:
    message = f"{what} is not installed ({install}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# -- Redis -----------------------------------------------------------------------------------------------------


@contextmanager
def running_redis() -> Iterator[str]:
    executable = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if executable is None:
        _missing("redis-server", "apt-get install redis-server")
    assert executable is not None
    workdir = tempfile.mkdtemp(prefix="smart-app-redis-")
    try:
        for _ in range(3):  # a port taken between choosing and binding: choose again
            port = free_port()
            log_path = Path(workdir) / "redis.log"
            process = subprocess.Popen(
                [executable, *_redis_options(port, workdir, log_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                if _wait_for_redis(process, port):
                    yield f"redis://127.0.0.1:{port}/0"
                    return
            finally:
                _stop(process)
        raise RuntimeError(f"redis-server did not start: {_tail(log_path)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _redis_options(port: int, workdir: str, log_path: Path) -> list[str]:
    options = {"bind": "127.0.0.1", "port": str(port), "dir": workdir, "save": "", "appendonly": "no"}
    options |= {"daemonize": "no", "logfile": str(log_path)}
    return [part for name, value in options.items() for part in (f"--{name}", value)]


def _wait_for_redis(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# -- PostgreSQL ------------------------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{name}"


def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        _missing("PostgreSQL server (initdb, pg_ctl)", "apt-get install postgresql")
    assert bindir is not None
    pytest.importorskip("psycopg", reason="psycopg is in the dev extra: pip install -e '.[dev]'")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _missing("the postgres user (made by Debian's postgresql package)", "apt-get install postgresql")
        as_user = ["runuser", "-u", "postgres", "--"]
    workdir = tempfile.mkdtemp(prefix="smart-app-pg-")
    data, log_path = Path(workdir) / "data", Path(workdir) / "server.log"
    if owner is not None:
        os.chown(workdir, owner.pw_uid, owner.pw_gid)

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], cwd=workdir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        for _ in range(3):
            port = free_port()
            options = (
                f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
                "-c synchronous_commit=off -c max_connections=50"
            )
            try:
                run(
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log_path),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
            except RuntimeError:
                continue
            started = True
            yield PostgresServer("127.0.0.1", port)
            return
        raise RuntimeError(f"PostgreSQL did not start: {_tail(log_path)}")
    finally:
        if started:
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                cwd=workdir,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


# -- smart-app serve -------------------------------------------------------------------------------------------


@dataclass
class ServeProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def running_serve(env: Mapping[str, str], *args: str, workdir: Path, port: int | None = None) -> Iterator[ServeProcess]:
    """`smart-app serve` on `port` (default: a free one) with `env` (this environment's SMART_APP_* and DATABASE_URL
    left out); stopped with SIGTERM, as a process manager does, at exit."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"serve-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SMART_APP_") and k != "DATABASE_URL"}
    full_env.update(env)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "smart_app.cli", "serve", "--port", str(port), *args],
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    serve = ServeProcess(base_url, process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"smart-app serve exited with {process.returncode}: {serve.log()[-2000:]}")
            try:
                httpx.get(f"{base_url}/cds-services", timeout=2)  # 200 or 401: it answers
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"smart-app serve did not answer: {serve.log()[-2000:]}") from None
                time.sleep(0.1)
        yield serve
    finally:
        _stop(process, graceful=True)


# -- common ----------------------------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[bytes], *, graceful: bool = False) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-1000:]
    except OSError:
        return "(no log)"
