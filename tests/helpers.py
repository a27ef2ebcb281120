"""Test helpers: an AuthActions class and envelope assertions."""

from __future__ import annotations

import itertools
import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DEFAULT_PASSWORD = "Correct-Horse-42"
_counter = itertools.count(1)


def assert_envelope(resp: TestResponse, status: int, error_type: str | None = None) -> dict[str, Any]:
    """Assert the DESIGN §2 envelope for `status` (and error type) and return the body."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["version"] == "1.0"
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] and resp.headers["X-Request-ID"] == body["request_id"]
    if status < 400:
        assert body["success"] is True
        assert "data" in body and "meta" in body
        assert "error" not in body
    else:
        assert body["success"] is False
        assert set(body["error"]) == {"type", "details"}
        assert "data" not in body
        if error_type is not None:
            assert body["error"]["type"] == error_type, body
    return body


class AuthActions:
    """Register and log in through the API, like the flaskr tutorial's AuthActions."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    @staticmethod
    def unique_email(prefix: str = "user") -> str:
        return f"{prefix}{next(_counter)}@example.com"

    def register(
        self, email: str | None = None, password: str = DEFAULT_PASSWORD, **extra: Any
    ) -> dict[str, Any]:
        email = email or self.unique_email()
        resp = self.client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})
        body = assert_envelope(resp, 201)
        return {"email": email, "password": password, "id": body["data"]["user"]["id"]}

    def login(self, email: str, password: str = DEFAULT_PASSWORD, **kwargs: Any) -> dict[str, Any]:
        resp = self.client.post("/api/v1/auth/login", json={"email": email, "password": password}, **kwargs)
        body = assert_envelope(resp, 200)
        session = body["data"]["session"]
        return {
            "token": session["token"],
            "session_id": session["id"],
            "csrf_token": session["csrf_token"],
            "headers": {"Authorization": f"Bearer {session['token']}"},
        }
