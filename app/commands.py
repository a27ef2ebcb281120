"""CLI commands, available as `flask <cmd>` and `python manage.py <cmd>`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

audit_cli = AppGroup("audit", help="Audit log tools.")


@audit_cli.command("verify")
@click.option(
    "--expect-head",
    "expect_head",
    metavar="HASH",
    default=None,
    help="A head hash printed by an earlier run; fail unless that row is still in the chain "
    "(detects deletion of the newest rows).",
)
def audit_verify(expect_head: str | None) -> None:
    """Walk the hash chain; exit 1 naming the first bad row. Prints the head to anchor later runs."""
    from app.services.audit import walk_chain

    report = walk_chain(expect_hash=expect_head.strip().lower() if expect_head else None)
    if report.problem is None:
        click.echo(f"audit chain OK: {report.count} rows verified")
        if report.head_id is None:
            click.echo("head: none (the log is empty)")
        else:
            click.echo(f"head: id={report.head_id} hash={report.head_hash}")
        return
    click.echo(f"audit chain BROKEN at row id {report.problem.row_id}: {report.problem.reason}", err=True)
    sys.exit(1)


@click.command("seed")
def seed_command() -> None:
    """Create the demo data (idempotent)."""
    from app.services.seed import seed_all

    for line in seed_all():
        click.echo(line)


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(audit_cli)
    app.cli.add_command(seed_command)
