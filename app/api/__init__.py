"""Thin blueprints: parse + validate, call one service, commit, dump, answer with the envelope."""

from __future__ import annotations

from flask import Flask

from app.api import auth, docs, health, users

BLUEPRINTS = [health.bp, auth.bp, users.bp, docs.bp]


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to the app."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
