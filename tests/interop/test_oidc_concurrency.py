"""Races against the live server (2 gunicorn workers): parallel refreshes and parallel code redemption."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import requests

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
