"""Thin blueprints: parse + validate, call one service, commit, dump, answer with the envelope."""

from __future__ import annotations

from flask import Flask

from app.api import (
    account,
    auth,
    contact,
    docs,
    external,
    health,
    oauth2,
    oauth_clients,
    oauth_consents,
    organizations,
    sso,
    users,
)

BLUEPRINTS = [health.bp, auth.bp, users.bp, account.bp, contact.bp, organizations.bp]
BLUEPRINTS += [oauth2.bp, oauth_clients.bp, oauth_consents.bp]
BLUEPRINTS += [external.bp, sso.bp]
BLUEPRINTS += [docs.bp]


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to the app."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
