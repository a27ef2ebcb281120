"""CLI commands, available as `flask <cmd>` and `python manage.py <cmd>`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

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
@with_appcontext
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


mail_cli = AppGroup("mail", help="The mail outbox: deliver, inspect, requeue.")


@mail_cli.command("send-pending")
@click.option("--loop", is_flag=True, help="Keep running (a worker container): deliver, sleep, repeat.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to sleep between runs in --loop mode.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most messages to try per run.",
)
@click.option(
    "--ignore-schedule",
    is_flag=True,
    help="Also try pending messages whose next retry is not due yet (e.g. SMTP is back).",
)
def mail_send_pending(loop: bool, interval: float, limit: int, ignore_schedule: bool) -> None:
    """Deliver the pending messages that are due (safe to run in several workers at once)."""
    import signal
    import time

    from flask import current_app

    from app.services import mail

    if mail.transport_name(current_app.config) == "hold":
        click.echo("SMTP_HOST is not set: nothing can be delivered (messages stay pending).", err=True)
        sys.exit(2)
    stopping = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stopping["now"] = True

    if loop:
        # A container stop (SIGTERM) finishes the current message and exits cleanly.
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        click.echo(
            f"mail worker: delivering every {interval:g}s (transport: "
            f"{mail.transport_name(current_app.config)})"
        )
    while True:
        stats = mail.run_delivery(limit=limit, ignore_schedule=ignore_schedule)
        if stats.attempted or not loop:
            click.echo(f"mail: {stats.sent} sent, {stats.retrying} to retry, {stats.failed} failed")
        if not loop or stopping["now"]:
            break
        deadline = time.monotonic() + interval
        while not stopping["now"] and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))
        if stopping["now"]:
            break


@mail_cli.command("status")
def mail_status() -> None:
    """How many outbox messages are pending, sent and failed."""
    from app.services import mail

    counts = mail.outbox_counts()
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@mail_cli.command("requeue-failed")
def mail_requeue_failed() -> None:
    """Give every failed message a fresh set of attempts (after fixing SMTP or an address)."""
    from app.extensions import db
    from app.services import mail

    count = mail.requeue_failed()
    db.session.commit()
    click.echo(f"mail: {count} failed message(s) requeued")


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(audit_cli)
    app.cli.add_command(seed_command)
    app.cli.add_command(openapi_command)
    app.cli.add_command(mail_cli)
    from app.cli_oidc import register as register_oidc

    register_oidc(app)
