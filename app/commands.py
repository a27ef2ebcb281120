"""CLI commands, available as `flask <cmd>` and `python manage.py <cmd>`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

audit_cli = AppGroup("audit", help="Audit log tools.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 naming the first bad row."""
    from app.services.audit import verify_chain

    count, problem = verify_chain()
    if problem is None:
        click.echo(f"audit chain OK: {count} rows verified")
        return
    click.echo(f"audit chain BROKEN at row id {problem.row_id}: {problem.reason}", err=True)
    sys.exit(1)


@click.command("seed")
def seed_command() -> None:
    """Create the demo data (idempotent)."""
    from app.services.seed import seed_all

    for line in seed_all():
        click.echo(line)


@click.command("openapi")
def openapi_command() -> None:
    """Print the OpenAPI document (`python manage.py openapi > openapi.json`)."""
    import json

    from flask import current_app

    from app.api.docs import build_spec

    click.echo(json.dumps(build_spec(current_app), indent=2, sort_keys=True, ensure_ascii=False))


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(audit_cli)
    app.cli.add_command(seed_command)
    app.cli.add_command(openapi_command)
