"""Social login edges through the Flask client against an in-process provider: discovery outages,
abandoned flows bounded in the state cookie, and the earliest flows being forgotten first."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from tests.e2e.conftest import free_port
from tests.helpers import assert_envelope
from tests.providers import FakeOIDCProvider
from tests.sso_helpers import query


@pytest.fixture(scope="module")
def google() -> Iterator[FakeOIDCProvider]:
    provider = FakeOIDCProvider("g-client", "g-secret")
    yield provider
    provider.stop()


def google_app(discovery_url: str, **extra):
    return create_app(
        "testing",
        {
            "GOOGLE_CLIENT_ID": "g-client",
            "GOOGLE_CLIENT_SECRET": "g-secret",
            "GOOGLE_DISCOVERY_URL": discovery_url,
            **extra,
        },
    )


def session_keys(flask_app, client) -> list[str]:
    cookie = client.get_cookie("session")
    serializer = SecureCookieSessionInterface().get_signing_serializer(flask_app)
    return list(serializer.loads(cookie.value)) if cookie else []


def test_unreachable_discovery_is_503_envelope(app):
    dead = google_app(f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration")
    assert_envelope(dead.test_client().get("/api/v1/auth/external/google/login"), 503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize("redis_url", ["default", None], ids=["redis-state", "sql-state"])
def test_abandoned_flows_do_not_grow_the_state_cookie(app, google, redis_url):
    extra = {} if redis_url == "default" else {"REDIS_URL": None}
    flask_app = google_app(google.discovery_url, **extra)
    client = flask_app.test_client()
    locations = []
    for _ in range(12):
        resp = client.get("/api/v1/auth/external/google/login")
        assert resp.status_code == 302
        locations.append(resp.headers["Location"])
    keys = session_keys(flask_app, client)
    assert len([k for k in keys if k.startswith("authy2_fed:")]) == 4
    # State data (PKCE verifier, nonce) is kept server-side, never in the browser's cookie.
    assert not [k for k in keys if k.startswith("_state_")]
    assert "code_verifier" not in str(client.get_cookie("session").value)

    google.claims = {"sub": "g-edge", "email": "edge@gmail.example", "email_verified": True}
    # The newest flow completes; the oldest was forgotten and is refused as an unknown state.
    for location, expected in ((locations[-1], None), (locations[0], "invalid_state")):
        callback = requests.get(location, allow_redirects=False, timeout=10).headers["Location"]
        parts = urlsplit(callback)
        resp = client.get(f"{parts.path}?{parts.query}")
        assert resp.status_code == 302
        if expected is None:
            assert resp.headers["Location"] == flask_app.config["FRONTEND_URL"]
        else:
            assert query(resp.headers["Location"]) == {"error": expected}
