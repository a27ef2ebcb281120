"""Real HTTP: the app under gunicorn on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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

    def __init__(self, env: dict[str, str], workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
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
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if requests.get(self.url + "/api/health", timeout=1).status_code in (200, 503):
                    return
            except (requests.ConnectionError, requests.Timeout):
                # A busy machine may accept the connection before a worker can answer.
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start in 30s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


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
