"""The bad-input sweep: every /api route of the app's url_map, fed every kind of bad input.

Routes are read from the url_map when this module is collected, so endpoints added later are
swept automatically. Every case must answer the error envelope (never a 5xx) and change nothing:
row counts of every table are equal before and after (the only rows allowed to appear are audit
records of *failed* attempts, which are the point of an audit log).

A route whose unsafe method takes no body at all (it ignores one and succeeds) must be listed in
BODYLESS_ROUTES; otherwise a success on garbage input is reported as a failure here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from app import create_app
from app.api import openapi_registry
from app.extensions import db
from app.models.audit import AuditLog
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# (method, rule) pairs that take no body: junk in the body is ignored, so success is correct there.
BODYLESS_ROUTES = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/verify-email/resend")}
FAILURE_AUDIT_ACTIONS = {"auth.login.failed", "user.password_change_failed"}
LIST_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
)

_inventory_app = create_app("testing")
MAX_BODY = _inventory_app.config["MAX_CONTENT_LENGTH"]


def _not_json_contract(endpoint: str) -> bool:
    """The docs page, its script and assets and the OpenAPI document answer HTML/JS/plain JSON by
    design (registry `hidden`); test_openapi.py covers their errors (enveloped 404s)."""
    entry = openapi_registry.REGISTRY.get(endpoint)
    return isinstance(entry, openapi_registry.Op) and entry.hidden


def _api_routes(application: Flask) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, rule, argument names) for every /api rule, sorted for stable test ids."""
    routes = set()
    for rule in application.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        if _not_json_contract(rule.endpoint):
            continue
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routes.add((method, rule.rule, tuple(sorted(rule.arguments))))
    return sorted(routes, key=lambda r: (r[1], r[0]))


ROUTES = _api_routes(_inventory_app)
BODY_ROUTES = [r for r in ROUTES if r[0] not in SAFE_METHODS]
PARAM_ROUTES = [r for r in ROUTES if r[2]]

HOMOGLYPH_EMAIL = "bob@p\u0430ypal.com"  # Cyrillic 'а'
ZALGO = "Z" + "\u0336\u0337\u0338\u0335\u0334" * 3 + "algo"


def _junk_fields(value: Any) -> dict[str, Any]:
    """The same value in every field name the API's schemas use (plus unknown ones)."""
    names = ["email", "password", "name", "current_password", "new_password", "message", "subject"]
    return dict.fromkeys(names, value)


# name -> request kwargs for the test client
BODY_PAYLOADS: dict[str, dict[str, Any]] = {
    "malformed-json": {"data": '{"email": "a@example.com", ', "content_type": "application/json"},
    "trailing-garbage": {"data": '{"email": "a@example.com"} xyz', "content_type": "application/json"},
    "nan-literal": {"data": '{"email": NaN}', "content_type": "application/json"},
    "invalid-utf8": {"data": b'{"email": "\xff\xfe"}', "content_type": "application/json"},
    "wrong-content-type": {"data": '{"email": "a@example.com"}', "content_type": "text/plain"},
    "form-encoded": {
        "data": "email=a%40example.com&password=x",
        "content_type": "application/x-www-form-urlencoded",
    },
    "multipart": {"data": {"email": "a@example.com"}, "content_type": "multipart/form-data"},
    "empty-body": {"data": "", "content_type": "application/json"},
    "null-body": {"data": "null", "content_type": "application/json"},
    "array": {"json": [{"email": "a@example.com", "password": DEFAULT_PASSWORD}]},
    "scalar": {"data": "42", "content_type": "application/json"},
    "deep-nesting": {"data": "[" * 3000 + "]" * 3000, "content_type": "application/json"},
    "wrong-types": {
        "json": {
            "email": 12345,
            "password": ["x"],
            "name": {"a": 1},
            "current_password": None,
            "new_password": True,
            "message": 3.5,
        }
    },
    "very-long-strings": {"json": _junk_fields("a" * 200_000 + "@example.com")},
    "nul-bytes": {"json": _junk_fields("bob\x00@example.com")},
    "control-chars": {"json": _junk_fields("bob\x1b[31m@example.com")},
    "bidi-override": {"json": _junk_fields("\u202eadmin@example.com\u202c")},
    "rtl-marks": {"json": {**_junk_fields("\u200fbob@example.com"), "name": "\u200f\u2067x\u2069"}},
    "combining-zalgo": {"json": {**_junk_fields("a\u0301\u0301\u0301@example.com"), "name": ZALGO}},
    "homoglyph-email": {"json": {**_junk_fields(HOMOGLYPH_EMAIL), "password": DEFAULT_PASSWORD}},
    "unknown-fields-only": {"json": {"is_superadmin": True, "role": "owner", "__proto__": {"admin": 1}}},
    "huge-body": {"data": json.dumps({"name": "x" * (MAX_BODY + 10)}), "content_type": "application/json"},
    "huge-number": {"json": dict.fromkeys(["email", "password", "name"], 10**400)},
    "lone-surrogate": {
        "data": '{"email": "\\ud800@example.com", "name": "\\udfff"}',
        "content_type": "application/json",
    },
}

BAD_PATH_VALUES = {
    "not-a-uuid": "not-a-uuid",
    "nil-uuid": "00000000-0000-0000-0000-000000000000",
    "almost-uuid": "123e4567-e89b-12d3-a456-42661417400g",
    "sql-ish": "1' OR '1'='1",
    "very-long": "a" * 2000,
    "percent-nul": "%00",
    "bidi": "%E2%80%AEabc",
    "negative": "-1",
}


def _path(rule: str, args: tuple[str, ...], value: str) -> str:
    """The rule with every argument (`<name>` or `<converter:name>`) replaced by `value`."""
    path = rule
    for arg in args:
        path, count = re.subn(r"<(?:[^<>:]+:)?" + re.escape(arg) + ">", lambda _m: value, path)
        assert count == 1, (rule, arg)
    return path


def _row_counts(application: Flask) -> dict[str, Any]:
    """Rows per table, and the audit actions present."""
    with application.app_context():
        tables = db.session.execute(text(LIST_TABLES_SQL)).scalars().all()
        counts: dict[str, Any] = {}
        for t in tables:
            sql = f'SELECT count(*) FROM "{t}"'  # noqa: S608 - table names come from pg_tables
            counts[t] = db.session.execute(text(sql)).scalar()
        counts["audit_actions"] = dict(
            db.session.execute(select(AuditLog.action, func.count()).group_by(AuditLog.action)).all()
        )
        db.session.remove()
    return counts


def _assert_nothing_changed(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal row counts everywhere; audit rows may only grow by failure records."""
    before_audit = before.pop("audit_actions")
    after_audit = after.pop("audit_actions")
    new_actions = {
        a: n - before_audit.get(a, 0) for a, n in after_audit.items() if n != before_audit.get(a, 0)
    }
    assert set(new_actions) <= FAILURE_AUDIT_ACTIONS, new_actions
    grown = sum(new_actions.values())
    before["audit_logs"] = before.get("audit_logs", 0) + grown
    assert before == after


def _headers(authenticated: bool, client) -> dict[str, str]:
    """Bearer headers of a fresh user, or none."""
    if not authenticated:
        return {}
    auth = AuthActions(client)
    return auth.login(auth.register()["email"])["headers"]


def _check(app: Flask, resp, *, must_be_4xx: bool, case: str) -> None:
    """Envelope always; never a 5xx; a 4xx where the input cannot be valid."""
    assert resp.status_code < 500, (case, resp.status_code, resp.get_data(as_text=True)[:300])
    if resp.status_code in (301, 302, 307, 308):
        return
    body = assert_envelope(resp, resp.status_code)
    if must_be_4xx:
        assert 400 <= resp.status_code < 500, (
            f"{case}: answered {resp.status_code} to garbage; if this route takes no body, add it to "
            "BODYLESS_ROUTES in tests/integration/test_bad_input_sweep.py",
            body,
        )
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
@pytest.mark.parametrize("payload", list(BODY_PAYLOADS), ids=list(BODY_PAYLOADS))
@pytest.mark.parametrize(("method", "rule", "args"), BODY_ROUTES, ids=[f"{m} {r}" for m, r, _ in BODY_ROUTES])
def test_bad_bodies_answer_4xx_envelope_and_change_nothing(
    app, client, method, rule, args, payload, authenticated
):
    headers = _headers(authenticated, client)
    path = _path(rule, args, "00000000-0000-4000-8000-000000000000")
    before = _row_counts(app)
    resp = client.open(path, method=method, headers=headers, **BODY_PAYLOADS[payload])
    must_be_4xx = bool(args) or (method, rule) not in BODYLESS_ROUTES
    _check(app, resp, must_be_4xx=must_be_4xx, case=f"{method} {rule} {payload}")
    if must_be_4xx or resp.status_code >= 400:
        # A bodyless route that succeeded did its (body-free) job, e.g. logout; nothing to compare.
        _assert_nothing_changed(before, _row_counts(app))


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
@pytest.mark.parametrize("value", list(BAD_PATH_VALUES), ids=list(BAD_PATH_VALUES))
@pytest.mark.parametrize(
    ("method", "rule", "args"), PARAM_ROUTES, ids=[f"{m} {r}" for m, r, _ in PARAM_ROUTES]
)
def test_invalid_path_parameters_answer_4xx_envelope(app, client, method, rule, args, value, authenticated):
    headers = _headers(authenticated, client)
    before = _row_counts(app)
    resp = client.open(
        _path(rule, args, BAD_PATH_VALUES[value]),
        method=method,
        headers=headers,
        json={} if method != "GET" else None,
    )
    _check(app, resp, must_be_4xx=True, case=f"{method} {rule} {value}")
    _assert_nothing_changed(before, _row_counts(app))


QUERY_JUNK = "?page=-1&per_page=%00&since=%E2%80%AE&until=9999999999999999999999&action=%FF&q=" + "x" * 3000


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
@pytest.mark.parametrize(
    ("method", "rule", "args"),
    [r for r in ROUTES if r[0] == "GET"],
    ids=[f"{m} {r}" for m, r, _ in ROUTES if m == "GET"],
)
def test_junk_query_strings_never_cause_5xx(app, client, method, rule, args, authenticated):
    headers = _headers(authenticated, client)
    before = _row_counts(app)
    resp = client.get(_path(rule, args, "not-a-uuid") + QUERY_JUNK, headers=headers)
    _check(app, resp, must_be_4xx=bool(args), case=f"GET {rule} query")
    _assert_nothing_changed(before, _row_counts(app))


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer \x00", "Basic abc", "Bearer " + "x" * 5000, "bearer a b c"]
)
@pytest.mark.parametrize(("method", "rule", "args"), ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES])
def test_malformed_authorization_headers_never_cause_5xx(app, client, method, rule, args, header):
    resp = client.open(_path(rule, args, "not-a-uuid"), method=method, headers={"Authorization": header})
    assert resp.status_code < 500
    assert_envelope(resp, resp.status_code)


@pytest.mark.parametrize("payload", list(BODY_PAYLOADS), ids=list(BODY_PAYLOADS))
def test_rate_limit_keys_survive_bad_bodies(app, payload):
    """With limits and lockout on, the per-account key reads the body: junk must not break it."""
    limited = create_app(
        "testing",
        {"RATELIMIT_ENABLED": True, "LOCKOUT_ENABLED": True, "RATELIMIT_LOGIN_EMAIL": "1000 per minute"},
    )
    client = limited.test_client()
    for method, rule, args in BODY_ROUTES:
        resp = client.open(_path(rule, args, "x"), method=method, **BODY_PAYLOADS[payload])
        assert resp.status_code < 500, (method, rule, resp.get_data(as_text=True)[:300])
        assert_envelope(resp, resp.status_code)
