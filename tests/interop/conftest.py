"""Interop fixtures: the app under gunicorn with PUBLIC_BASE_URL (the OIDC issuer) = its own URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from app.services.seed import SEED_OIDC_CLIENT_ID, SEED_OIDC_CLIENT_SECRET, seed_all
from tests.e2e.conftest import LiveServer, free_port, server_env


@pytest.fixture(scope="module")
def oidc_server(app: Flask) -> Iterator[LiveServer]:
    """gunicorn whose issuer is its own loopback URL, so RP libraries can check `iss`."""
    port = free_port()
    server = LiveServer(server_env(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}"), port=port)
    yield server
    server.stop()


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    """The seed data (bob, Acme Corp, acme-portal-001), committed for the live server to see."""
    with app.app_context():
        seed_all()
        db.session.remove()
    return {
        "client_id": SEED_OIDC_CLIENT_ID,
        "client_secret": SEED_OIDC_CLIENT_SECRET,
        "redirect_uri": "http://127.0.0.1:8080/callback",
        "email": "bob@acme-corp.com",
        "password": "UserPass123!",
    }
