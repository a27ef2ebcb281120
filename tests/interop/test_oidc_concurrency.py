"""Races against the live server (2 gunicorn workers): parallel refreshes and parallel code redemption."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask

from app.extensions import db
from app.services.seed import SEED_OIDC_CLIENT_ID, SEED_OIDC_CLIENT_SECRET, seed_all
from tests.e2e.conftest import ROOT, LiveServer, free_port, server_env
from tests.interop.user_agent import sign_in_and_consent
from tests.oidc_support import pkce_pair, query_of


def _code(base: str, seeded: dict[str, Any], scope: str = "openid offline_access") -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    url = (
        base
        + "/oauth2/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": seeded["client_id"],
                "redirect_uri": seeded["redirect_uri"],
                "scope": scope,
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    callback = sign_in_and_consent(
        requests.Session(), url, seeded["email"], seeded["password"], seeded["redirect_uri"]
    )
    return query_of(callback)["code"], verifier


def _redeem(base: str, seeded: dict[str, Any], code: str, verifier: str) -> requests.Response:
    return requests.post(
        base + "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": seeded["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=(seeded["client_id"], seeded["client_secret"]),
        timeout=20,
    )


def test_two_tabs_refreshing_at_once_both_get_the_same_new_pair(oidc_server, seeded):
    base = oidc_server.url
    code, verifier = _code(base, seeded)
    tokens = _redeem(base, seeded, code, verifier).json()

    def refresh(_: int) -> requests.Response:
        return requests.post(
            base + "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(seeded["client_id"], seeded["client_secret"]),
            timeout=20,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = list(pool.map(refresh, range(2)))
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    # The surviving pair keeps working.
    again = requests.post(
        base + "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=(seeded["client_id"], seeded["client_secret"]),
        timeout=20,
    )
    assert again.status_code == 200


def test_parallel_redemptions_of_one_code_yield_at_most_one_live_token(oidc_server, seeded):
    base = oidc_server.url
    code, verifier = _code(base, seeded)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: _redeem(base, seeded, code, verifier), range(2)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    loser = next(r for r in results if r.status_code == 400).json()
    assert loser["error"] == "invalid_grant"
    # The second redemption revoked what the first issued (RFC 6749 §4.1.2).
    info = requests.get(
        base + "/oauth2/userinfo", headers={"Authorization": "Bearer " + winner["access_token"]}, timeout=20
    )
    assert info.status_code == 401


PARALLEL = 8


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def wide_server(request: pytest.FixtureRequest, app: Flask, tmp_path_factory) -> Iterator[LiveServer]:
    """gunicorn with 2 workers x 4 threads (8 requests really at once), on PostgreSQL or SQLite.

    The SQLite variant is the development default (one writer, no row locks, no FK cascades):
    its schema comes from the migrations and its data from `manage.py seed`, like a dev setup.
    """
    port = free_port()
    extra = {"PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "GUNICORN_THREADS": "4"}
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "authy2.db"
        extra["TEST_DATABASE_URL"] = f"sqlite:///{path}"
        env = server_env(**extra)
        for command in (["db", "upgrade"], ["seed"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
            )
    server = LiveServer(server_env(**extra), port=port)
    server.database = request.param  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def wide_seeded(wide_server: LiveServer, app: Flask) -> dict[str, Any]:
    """The seed data in whichever database `wide_server` uses."""
    if wide_server.database == "postgresql":  # type: ignore[attr-defined]
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


def _fire(count: int, send: Callable[[], requests.Response]) -> list[requests.Response]:
    """Send `count` requests released together by a barrier."""
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _refresh(base: str, seeded: dict[str, Any], refresh_token: str) -> requests.Response:
    return requests.post(
        base + "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(seeded["client_id"], seeded["client_secret"]),
        timeout=30,
    )


def test_eight_parallel_redemptions_of_one_code_issue_exactly_one_token_set(wide_server, wide_seeded):
    seeded = wide_seeded
    base = wide_server.url
    code, verifier = _code(base, seeded)
    results = _fire(PARALLEL, lambda: _redeem(base, seeded, code, verifier))
    winners = [r for r in results if r.status_code == 200]
    losers = [r for r in results if r.status_code != 200]
    assert len(winners) == 1, [r.text for r in results]
    assert all(r.status_code == 400 and r.json()["error"] == "invalid_grant" for r in losers)
    # A second redemption revokes what the first issued (RFC 6749 §4.1.2): nothing stays usable.
    access = winners[0].json()["access_token"]
    info = requests.get(base + "/oauth2/userinfo", headers={"Authorization": "Bearer " + access}, timeout=20)
    assert info.status_code == 401
    assert _refresh(base, seeded, winners[0].json()["refresh_token"]).status_code == 400


def test_eight_parallel_refreshes_rotate_once_and_share_one_new_pair(wide_server, wide_seeded):
    seeded = wide_seeded
    base = wide_server.url
    code, verifier = _code(base, seeded)
    first = _redeem(base, seeded, code, verifier)
    assert first.status_code == 200, first.text
    old = first.json()["refresh_token"]
    results = _fire(PARALLEL, lambda: _refresh(base, seeded, old))
    assert [r.status_code for r in results] == [200] * PARALLEL, [r.text for r in results]
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in results}
    assert len(pairs) == 1, pairs
    access, new_refresh = pairs.pop()
    assert new_refresh != old
    info = requests.get(base + "/oauth2/userinfo", headers={"Authorization": "Bearer " + access}, timeout=20)
    assert info.status_code == 200
    # The single new refresh token rotates normally afterwards.
    assert _refresh(base, seeded, new_refresh).status_code == 200
