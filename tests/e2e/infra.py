"""Processes the production-shape tests start and stop themselves, every wait bounded.

- `AppServer`: the container's entry point (docker/entrypoint.sh -> gunicorn -c gunicorn.conf.py
  wsgi:app) outside a container, on a free loopback port, logging to a file.
- `RedisServer`: a private redis-server on a free port (never the shared one on 6379).
- `PostgresCluster`: a throwaway PostgreSQL cluster (initdb + pg_ctl as the postgres user).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

from tests.e2e.conftest import ROOT, free_port


def _pg_bin() -> Path:
    """PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition") -> None:  # noqa: ANN001
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


class AppServer:
    """Authy2 started exactly as the Docker image starts it, on 127.0.0.1:<free port>."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 1, timeout: int = 30) -> None:
        """Start gunicorn through docker/entrypoint.sh and wait (≤ 30 s) for /api/health to answer."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ['PATH'])}",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_TIMEOUT": str(timeout),
            "GUNICORN_GRACEFUL_TIMEOUT": "10",
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = tempfile.NamedTemporaryFile(prefix="authy2-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(ROOT / "docker" / "entrypoint.sh")],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._answers, 30, 0.2, "gunicorn answering /api/health")
        except TimeoutError:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({self.proc.returncode}): {self.log_text()[-3000:]}")
        try:
            return requests.get(self.url + "/api/health", timeout=2).status_code in (200, 503)
        except requests.RequestException:
            return False

    def log_text(self) -> str:
        """Everything gunicorn and the app wrote so far (until stop())."""
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the master (SIGTERM = graceful); kill the group if it overstays. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        return self.proc.returncode


class RedisServer:
    """A private redis-server with an append-only file, so data survives a stop/start."""

    def __init__(self) -> None:
        """Pick a free port and a data dir; call start()."""
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="authy2-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of db 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start and wait (≤ 10 s) for PING."""
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(pong, 10, what="private redis-server PING")
        client.close()

    def stop(self) -> None:
        """Stop this server only (by its own process handle)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self) -> None:
        """Stop and remove the data directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresCluster:
    """A throwaway PostgreSQL cluster owned by the postgres user, trust auth on loopback."""

    def __init__(self) -> None:
        """initdb into a fresh temp dir (≤ 60 s)."""
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="authy2-pg-")
        self.data = os.path.join(self.dir, "data")
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._as_postgres(
            [str(PG_BIN / "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8"], 60
        )

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `authy2` database."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/authy2"

    def _as_postgres(self, argv: list[str], timeout: float) -> None:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        subprocess.run(
            [runuser, "-u", "postgres", "--", *argv],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                self.data,
                "-o",
                options,
                "-l",
                f"{self.dir}/pg.log",
                "-w",
                "-t",
                "30",
                action,
                *extra,
            ],
            60,
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._pg_ctl("start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash or failover."""
        self._pg_ctl("stop", "-m", "fast")

    def create_database(self) -> None:
        """CREATE DATABASE authy2."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE authy2")
        conn.close()

    def cleanup(self) -> None:
        """Stop (if running) and delete the cluster."""
        try:
            self._pg_ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def migrate(env: dict[str, str]) -> None:
    """Run `python manage.py db upgrade` (the README's command) against the env's database."""
    subprocess.run(
        [sys.executable, "manage.py", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
