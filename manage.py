"""Management CLI: `python manage.py db upgrade`, `... audit verify`, `... seed` and the rest."""

from __future__ import annotations

from flask.cli import FlaskGroup

from app import create_app


def _make_app():  # noqa: ANN202 - FlaskGroup passes no arguments and expects a Flask app
    """The app for the CLI (FLASK_ENV selects the config)."""
    return create_app()


cli = FlaskGroup(create_app=_make_app, help="Authy2 management commands.")

if __name__ == "__main__":
    cli()
