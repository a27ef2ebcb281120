"""Property-based fuzzing of every documented operation against the app under gunicorn.

Schemathesis reads /api/openapi.json from the live server and, for each operation, sends the
registry's examples, boundary values (coverage phase) and random valid and invalid inputs. Every
response must: not be a 5xx, have a documented status and content type, match the documented
schema, and carry the DESIGN §2 envelope.

CI runs a fixed budget with a fixed seed; `SCHEMATHESIS_MAX_EXAMPLES=500 SCHEMATHESIS_SEED=...`
runs a longer (or different) search locally.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import DEFAULT_PASSWORD

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261203"))
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
ENVELOPE_KEYS_OK = {"version", "success", "code", "message", "request_id", "data", "meta"}
ENVELOPE_KEYS_ERROR = {"version", "success", "code", "message", "request_id", "error"}

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def envelope_check(ctx: Any, response: Any, case: Any) -> bool:
    """Every /api response is the DESIGN §2 envelope, `code` equal to the status."""
    if not case.path.startswith("/api") or case.method.upper() == "HEAD":
        return True  # HEAD has no body by definition
    status = response.status_code
    documented = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    if status < 400 and documented and "application/json" not in documented.get("content", {}):
        return True  # a documented non-envelope success (a redirect, an XML document)
    try:
        body = response.json()
    except ValueError as exc:
        where = f"{case.method} {case.path}: {status}"
        raise AssertionError(f"{where} body is not JSON: {response.text[:200]!r}") from exc
    expected = ENVELOPE_KEYS_OK if status < 400 else ENVELOPE_KEYS_ERROR
    assert isinstance(body, dict) and set(body) == expected, f"not an envelope: {str(body)[:300]}"
    assert body["code"] == status, f"code {body['code']} != HTTP {status}"
    assert body["success"] is (status < 400)
    assert body["request_id"] == response.headers.get("x-request-id", [None])[0]
    if status >= 400:
        assert set(body["error"]) == {"type", "details"}
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    envelope_check,
]


class FuzzUser:
    """A registered account; hands out its shared session, or a fresh one for destructive calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
        resp = requests.post(
            f"{base_url}/api/v1/auth/register",
            json={"email": self.email, "password": DEFAULT_PASSWORD},
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
        self.user_id = resp.json()["data"]["user"]["id"]
        self.shared_token = self.login()
        self.org_id: str | None = None
        self.client_id: str | None = None
        self.org_cases = 0

    def login(self) -> str:
        """A new session token for this account."""
        resp = requests.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"email": self.email, "password": DEFAULT_PASSWORD},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]["session"]["token"]

    def token_for(self, method: str) -> str:
        """Unsafe calls (logout, revoke, delete, ...) get a throwaway session so others keep theirs."""
        return self.login() if method.upper() in UNSAFE else self.shared_token

    def _create(self, path: str, body: dict[str, Any], key: str, id_field: str) -> str:
        resp = requests.post(
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.shared_token}"},
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["data"][key][id_field]

    def organization(self) -> str:
        """The id of an organization this user owns (re-created after a fuzzed DELETE removed it)."""
        if self.org_id is None:
            name = f"Fuzz {uuid.uuid4().hex[:8]}"
            self.org_id = self._create("/api/v1/organizations", {"name": name}, "organization", "id")
            self.client_id = None
        return self.org_id

    def client(self) -> str:
        """The client_id of an OIDC client of that organization (re-created when deleted)."""
        if self.client_id is None:
            body = {"name": "Fuzz client", "redirect_uris": ["https://app.example.com/cb"]}
            path = f"/api/v1/organizations/{self.organization()}/clients"
            self.client_id = self._create(path, body, "client", "client_id")
        return self.client_id

    def use_real_ids(self, case: Any) -> None:
        """Most org-scoped cases target this user's own organization, client and membership, so the
        success paths (and their response schemas) are fuzzed too; the rest keep generated ids (404)."""
        params = case.path_parameters or {}
        if "org_id" not in params:
            return
        self.org_cases += 1
        if self.org_cases % 4 == 0:
            return
        params["org_id"] = self.organization()
        if "client_id" in params:
            params["client_id"] = self.client()
        if "user_id" in params:
            params["user_id"] = self.user_id

    def after(self, case: Any, status: int) -> None:
        """Forget what a successful fuzzed DELETE removed, so the next case re-creates it."""
        if case.method.upper() != "DELETE" or status != 200:
            return
        if case.operation.path == "/api/v1/organizations/{org_id}":
            self.org_id = self.client_id = None
        elif case.operation.path == "/api/v1/organizations/{org_id}/clients/{client_id}":
            self.client_id = None


def live_schema(live_server, *, with_security_parameters: bool) -> schemathesis.BaseSchema:
    """The live server's own document, with a fixed seed and example budget."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": live_server.url,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "database": "none",
                "with-security-parameters": with_security_parameters,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_url(live_server.url + "/api/openapi.json", config=config, timeout=10)


@pytest.fixture
def api_schema(live_server) -> schemathesis.BaseSchema:
    """Credentials come from FuzzUser, not from generated Authorization values."""
    return live_schema(live_server, with_security_parameters=False)


@pytest.fixture
def anonymous_schema(live_server) -> schemathesis.BaseSchema:
    """Generated (so, wrong) bearer tokens, cookies and CSRF headers."""
    return live_schema(live_server, with_security_parameters=True)


@pytest.fixture
def fuzz_user(live_server) -> FuzzUser:
    """A fresh account on the live server for this run."""
    return FuzzUser(live_server.url)


@pytest.fixture
def seen_statuses(api_schema) -> Iterator[dict[str, Counter[int]]]:
    """Statuses per operation; afterwards, every operation must have been reached past the auth.

    A run where the credentials never worked would otherwise pass with nothing but 401s.
    """
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    yield seen
    unreached = {label: dict(counts) for label, counts in seen.items() if set(counts) <= {401, 403}}
    assert not unreached, f"operations never got past authentication: {unreached}"
    if os.environ.get("SCHEMATHESIS_REPORT"):
        for label, counts in sorted(seen.items()):
            print(f"{label}: {dict(sorted(counts.items()))}")  # noqa: T201 - opt-in local report


schema = schemathesis.pytest.from_fixture("api_schema")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_to_its_openapi_document(case, fuzz_user, seen_statuses):
    headers = {}
    if case.operation.definition.raw.get("security"):
        headers["Authorization"] = f"Bearer {fuzz_user.token_for(case.method)}"
    fuzz_user.use_real_ids(case)
    response = case.call(headers=headers, timeout=15)
    fuzz_user.after(case, response.status_code)
    seen_statuses[case.operation.label][response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


@anonymous.parametrize()
@FUZZ_SETTINGS
def test_api_without_valid_credentials_conforms_and_refuses(case):
    response = case.call_and_validate(checks=CHECKS, timeout=15)
    if case.operation.definition.raw.get("security") and case.method.upper() == case.operation.method.upper():
        # Whatever token, cookie or CSRF header was generated, nothing authenticated succeeds.
        assert response.status_code >= 400, (case.method, case.path, response.status_code)
