"""A scripted user-agent (requests) that walks the provider's login and consent pages."""

from __future__ import annotations

from urllib.parse import urljoin

import requests

from tests.oidc_support import form_fields


def sign_in_and_consent(
    session: requests.Session, authorize_url: str, email: str, password: str, redirect_prefix: str
) -> str:
    """Follow the authorization request like a browser; return the final redirect to the client."""
    resp = session.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(6):
        if resp.status_code in (302, 303):
            location = urljoin(resp.url, resp.headers["Location"])
            if location.startswith(redirect_prefix):
                return location
            resp = session.get(location, allow_redirects=False, timeout=10)
            continue
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        fields = form_fields(resp.text)
        action = urljoin(resp.url, fields.pop("action"))
        if 'type="password"' in resp.text:
            data = {**fields, "email": email, "password": password}
        else:
            data = {**fields, "decision": "allow"}
        resp = session.post(action, data=data, allow_redirects=False, timeout=10)
        assert resp.status_code == 303, (resp.status_code, resp.text[:300])
    raise AssertionError("the provider did not redirect back to the client")
