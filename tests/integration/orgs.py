"""Helpers for the organization tests: a populated org with one user per role, plus an outsider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

from tests.helpers import AuthActions, assert_envelope

ORGS = "/api/v1/organizations"


@dataclass
class Actor:
    """A registered, logged-in user."""

    id: str
    email: str
    headers: dict[str, str]

    def with_request_id(self, request_id: str) -> dict[str, str]:
        """Headers that also carry an X-Request-ID."""
        return {**self.headers, "X-Request-ID": request_id}


@dataclass
class OrgWorld:
    """One org with an owner, an admin and a member, and an outsider who belongs elsewhere."""

    org_id: str
    owner: Actor
    admin: Actor
    member: Actor
    outsider: Actor
    extra: dict[str, Actor] = field(default_factory=dict)

    def url(self, suffix: str = "") -> str:
        """The org's URL plus `suffix`."""
        return f"{ORGS}/{self.org_id}{suffix}"


def new_actor(auth: AuthActions, prefix: str = "user") -> Actor:
    """Register and log in a fresh user."""
    user = auth.register(auth.unique_email(prefix))
    session = auth.login(user["email"])
    return Actor(user["id"], user["email"], session["headers"])


def create_org(client: FlaskClient, actor: Actor, name: str = "Test Org", **extra: Any) -> dict[str, Any]:
    """Create an org as `actor`; returns the organization object."""
    resp = client.post(ORGS, json={"name": name, **extra}, headers=actor.headers)
    return assert_envelope(resp, 201)["data"]["organization"]


def add_member(client: FlaskClient, org_id: str, by: Actor, who: Actor, role: str = "member") -> None:
    """Add `who` to the org as `by` (must succeed)."""
    resp = client.post(
        f"{ORGS}/{org_id}/members", json={"email": who.email, "role": role}, headers=by.headers
    )
    assert_envelope(resp, 201)


def build_world(client: FlaskClient, auth: AuthActions) -> OrgWorld:
    """Owner creates the org and adds an admin and a member; the outsider owns another org."""
    owner, admin, member, outsider = (new_actor(auth, p) for p in ("owner", "admin", "member", "outsider"))
    org = create_org(client, owner)
    add_member(client, org["id"], owner, admin, "admin")
    add_member(client, org["id"], owner, member, "member")
    create_org(client, outsider, "Outsider Org")
    return OrgWorld(org["id"], owner, admin, member, outsider)
