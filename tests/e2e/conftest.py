"""Real HTTP: the app under gunicorn on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A gunicorn process serving wsgi:app."""

    def __init__(self, env: dict[str, str], workers: int = 2, port: int | None = None) -> None:
        # `port` lets a caller put the URL into env first (e.g. PUBLIC_BASE_URL as the OIDC issuer).
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # A file, not a pipe: nobody drains a pipe while tests run, and one access line per
        # request would fill it and block the workers.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_text()[-2000:]}")
            try:
                if requests.get(self.url + "/api/health", timeout=5).status_code in (200, 503):
                    return
            except requests.RequestException:
                # Refused before the bind, or a read timeout while a busy machine boots the workers.
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start in 30s")

    def log_text(self) -> str:
        """What the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def server_env(**extra: str) -> dict[str, str]:
    """The testing environment for a child server process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"FLASK_ENV": "testing"}, **extra)
    return env


@pytest.fixture(scope="module")
def live_server(app) -> Iterator[LiveServer]:
    """gunicorn on the test database and Redis (the `app` fixture migrated the schema)."""
    server = LiveServer(server_env())
    yield server
    server.stop()
