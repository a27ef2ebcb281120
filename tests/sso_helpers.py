"""Helpers for SSO tests: organizations and memberships straight in the database, SAML request parsing."""

from __future__ import annotations

import base64
import uuid
import zlib
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from app.extensions import db
from app.models.organization import Membership, Organization, Role


def make_org(app, slug: str, members: dict[str, str] | None = None) -> str:
    """Create an organization with `{user_id: role}` members; returns its id."""
    with app.app_context():
        org = Organization(name=slug.title(), slug=slug)
        db.session.add(org)
        db.session.flush()
        for user_id, role in (members or {}).items():
            db.session.add(Membership(organization_id=org.id, user_id=uuid.UUID(user_id), role=Role(role)))
        db.session.commit()
        org_id = str(org.id)
        db.session.remove()
    return org_id


def add_member(app, org_id: str, user_id: str, role: str = "member") -> None:
    """Add one membership."""
    with app.app_context():
        db.session.add(
            Membership(organization_id=uuid.UUID(org_id), user_id=uuid.UUID(user_id), role=Role(role))
        )
        db.session.commit()
        db.session.remove()


def authn_request_id(location: str) -> str:
    """The ID of the deflated, base64 AuthnRequest in an HTTP-Redirect binding URL."""
    params = parse_qs(urlsplit(location).query)
    xml = zlib.decompress(base64.b64decode(params["SAMLRequest"][0]), -15)
    return etree.fromstring(xml).get("ID")


def query(url: str) -> dict[str, str]:
    """A URL's query parameters (first values)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
