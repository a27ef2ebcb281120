"""Helpers for the OpenID provider tests: orgs, clients, PKCE pairs and page-form scraping."""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask

from app.extensions import db
from app.models.organization import Membership, Organization, Role
from app.services.context import SYSTEM
from app.services.oauth_clients import create_client

REDIRECT_URI = "http://127.0.0.1:8080/callback"
POST_LOGOUT_URI = "http://127.0.0.1:8080/logged-out"
_counter = itertools.count(1)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_org(app: Flask, members: dict[str, str] | None = None) -> dict[str, Any]:
    """A fresh organization; `members` maps user id -> role."""
    n = next(_counter)
    with app.app_context():
        org = Organization(name=f"Org {n}", slug=f"org-{n}-{secrets.token_hex(3)}")
        db.session.add(org)
        db.session.flush()
        for user_id, role in (members or {}).items():
            db.session.add(Membership(organization_id=org.id, user_id=user_id, role=Role(role)))
        db.session.commit()
        data = {"id": str(org.id), "slug": org.slug}
        db.session.remove()
    return data


def make_client(app: Flask, org: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """Register a client directly through the service; returns client_id, secret and settings."""
    org = org or make_org(app)
    data: dict[str, Any] = {
        "name": settings.pop("name", "Test RP"),
        "redirect_uris": settings.pop("redirect_uris", [REDIRECT_URI]),
        "post_logout_redirect_uris": settings.pop("post_logout_redirect_uris", [POST_LOGOUT_URI]),
        **settings,
    }
    with app.app_context():
        organization = db.session.get(Organization, __import__("uuid").UUID(org["id"]))
        created = create_client(organization, data, SYSTEM)
        db.session.commit()
        result = {
            "client_id": created.client.client_id,
            "client_secret": created.secret,
            "redirect_uri": data["redirect_uris"][0] if data["redirect_uris"] else None,
            "org": org,
        }
        db.session.remove()
    return result


def form_fields(page: str) -> dict[str, str]:
    """The action and hidden/named inputs of the first form on a page."""
    action = re.search(r'<form[^>]*action="([^"]*)"', page)
    fields = {"action": html.unescape(action.group(1)) if action else ""}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        fields[name] = html.unescape(value)
    return fields


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect (first value of each)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}
