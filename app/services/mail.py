"""The outbox and its delivery: every mail is a row first, then sent over SMTP with retries.

Writers call `enqueue` inside their transaction (flush, never commit). When that transaction
commits, the ids are handed to a per-process background dispatcher that delivers them at once,
outside the request; whatever is not delivered then (SMTP down, process killed) stays `pending`
and `python manage.py mail send-pending` delivers it later. A failed send never fails the request
and never loses the row.

Transports: `smtp` when SMTP_HOST is set; otherwise `log` (development and testing: the whole
mail, links included, is written to the log) or `hold` (production: rows wait in the outbox,
because a production log must never carry password-reset links).
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from flask import Flask, current_app, has_app_context, render_template
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models.base import utcnow
from app.models.mail import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

SESSION_INFO_KEY = "authy2_outbox_ids"
DISPATCHER_KEY = "authy2_mail_dispatcher"
REDACTED = "[redacted after delivery: this message carried a single-use link]"
MAX_ERROR_LENGTH = 500
PRODUCT_NAME = "Authy2"


# --- composing -------------------------------------------------------------------------------


def render(template: str, **context: Any) -> tuple[str, str]:
    """(plain text, HTML) from app/templates/mail/<template>.txt and .html (HTML is autoescaped)."""
    context.setdefault("product_name", PRODUCT_NAME)
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    return text, html


def enqueue(
    *,
    kind: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    sensitive: bool = False,
) -> OutboxMessage:
    """Add a pending message to the outbox (flushed); it is dispatched after the caller commits."""
    message = OutboxMessage(
        kind=kind,
        recipient=recipient,
        reply_to=reply_to,
        subject=" ".join(subject.split())[:255],
        body_text=text,
        body_html=html,
        sensitive=sensitive,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(SESSION_INFO_KEY, []).append(message.id)
    return message


def mask_email(address: str) -> str:
    """`a***@example.com`: enough to tell messages apart in a log, not a full address."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[:1]}***@{domain}"


# --- transports ------------------------------------------------------------------------------


def transport_name(config: dict[str, Any] | Any) -> str:
    """`smtp`, `log` (no SMTP_HOST outside production) or `hold` (no SMTP_HOST in production)."""
    if config.get("SMTP_HOST"):
        return "smtp"
    return "hold" if config.get("ENV_NAME") == "production" else "log"


class DeliveryError(Exception):
    """A send failed; `permanent` ones are not retried (e.g. the recipient was refused)."""

    def __init__(self, description: str, permanent: bool) -> None:
        """`description` goes to `last_error`: it must never carry a secret."""
        super().__init__(description)
        self.description = description
        self.permanent = permanent


def _describe(exc: BaseException) -> str:
    """A short, secret-free account of an SMTP/network failure for `last_error`."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = [f"{code} {_decode(msg)}" for code, msg in exc.recipients.values()]
        text = "recipient refused: " + "; ".join(parts)
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {_decode(exc.smtp_error)}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{type(exc).__name__}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    password = current_app.config.get("SMTP_PASSWORD")
    if password:
        text = text.replace(password, "***")
    return " ".join(text.split())[:MAX_ERROR_LENGTH]


def _decode(value: bytes | str) -> str:
    """SMTP replies arrive as bytes."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _is_permanent(exc: BaseException) -> bool:
    """Only failures about this message (recipient or content refused with 5xx) are permanent.

    A 5xx for the sender or the login is a configuration problem shared by every message: those
    are retried, so fixing the configuration delivers them.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return isinstance(exc, smtplib.SMTPNotSupportedError)


def build_email(message: OutboxMessage, config: Any) -> EmailMessage:
    """The MIME message (text, plus an HTML alternative); Message-ID is stable across retries."""
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.recipient
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = f"<{message.id}@{domain}>"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def send_smtp(email: EmailMessage, config: Any) -> None:
    """Send one message through the configured SMTP server; raises DeliveryError on failure."""
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT"]
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if config["SMTP_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if config["SMTP_USE_TLS"] and not config["SMTP_USE_SSL"]:
                smtp.starttls(context=context)
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(email)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(_describe(exc), _is_permanent(exc)) from exc


def log_mail(message: OutboxMessage) -> None:
    """The development transport: the whole mail, link included, goes to the log."""
    logger.info(
        "MAIL (SMTP_HOST unset: logged, not sent)\nTo: %s\nReply-To: %s\nSubject: %s\n\n%s",
        message.recipient,
        message.reply_to or "-",
        message.subject,
        message.body_text,
    )


# --- delivery --------------------------------------------------------------------------------


@dataclass
class DeliveryStats:
    """What one delivery run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        """Messages tried in this run."""
        return self.sent + self.retrying + self.failed


def backoff_seconds(attempts: int, config: Any) -> int:
    """Exponential backoff after `attempts` failures: base, 2*base, 4*base, ... capped."""
    base, cap = config["MAIL_RETRY_BASE_SECONDS"], config["MAIL_RETRY_MAX_SECONDS"]
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


def _claim_next(
    ids: list[uuid.UUID] | None, ignore_schedule: bool, skip: set[uuid.UUID]
) -> OutboxMessage | None:
    """Lock the next due pending message; concurrent workers skip each other's rows (PostgreSQL)."""
    stmt = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    if not ignore_schedule:
        stmt = stmt.where(OutboxMessage.next_attempt_at <= utcnow())
    if skip:
        stmt = stmt.where(OutboxMessage.id.not_in(skip))
    stmt = stmt.order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return db.session.execute(stmt).scalar_one_or_none()


def deliver(message: OutboxMessage) -> OutboxStatus:
    """Try one message once and record the outcome on the row (flushed, not committed)."""
    config = current_app.config
    transport = transport_name(config)
    message.attempts += 1
    try:
        if transport == "smtp":
            send_smtp(build_email(message, config), config)
        else:
            log_mail(message)
    except DeliveryError as exc:
        message.last_error = exc.description
        if exc.permanent or message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
            message.status = OutboxStatus.FAILED
            logger.error(
                "mail %s to %s failed for good after %d attempt(s): %s",
                message.id,
                mask_email(message.recipient),
                message.attempts,
                exc.description,
            )
        else:
            delay = backoff_seconds(message.attempts, config)
            message.next_attempt_at = utcnow() + timedelta(seconds=delay)
            logger.warning(
                "mail %s to %s not delivered (attempt %d), retrying in %ds: %s",
                message.id,
                mask_email(message.recipient),
                message.attempts,
                delay,
                exc.description,
            )
    else:
        message.status = OutboxStatus.SENT
        message.sent_at = utcnow()
        message.last_error = None
        if message.sensitive:
            # The token link is only needed until it is delivered; do not keep it in the database.
            message.body_text = REDACTED
            message.body_html = None
        logger.info(
            "mail %s (%s) %s %s",
            message.id,
            message.kind,
            "delivered to" if transport == "smtp" else "written to the log for",
            mask_email(message.recipient),
        )
    db.session.flush()
    return message.status


def run_delivery(
    ids: Iterable[uuid.UUID] | None = None, limit: int = 100, ignore_schedule: bool = False
) -> DeliveryStats:
    """Deliver due pending messages (only `ids` when given), one transaction per message.

    This runs outside any request (dispatcher thread, CLI worker), so unlike other services it
    commits: each message is claimed, sent and marked in its own short transaction, which keeps a
    crash from re-sending a whole batch and lets concurrent workers share the queue.
    """
    stats = DeliveryStats()
    if transport_name(current_app.config) == "hold":
        logger.warning("mail: SMTP_HOST is not set; %s", "messages stay pending in the outbox")
        return stats
    wanted = list(ids) if ids is not None else None
    done: set[uuid.UUID] = set()
    try:
        while stats.attempted < limit:
            message = _claim_next(wanted, ignore_schedule, done)
            if message is None:
                db.session.rollback()
                break
            done.add(message.id)
            status = deliver(message)
            db.session.commit()
            if status is OutboxStatus.SENT:
                stats.sent += 1
            elif status is OutboxStatus.FAILED:
                stats.failed += 1
            else:
                stats.retrying += 1
    finally:
        db.session.rollback()
    return stats


def requeue_failed() -> int:
    """Put every `failed` message back in the queue with fresh attempts (flushed, not committed)."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow())
    )
    db.session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def outbox_counts() -> dict[str, int]:
    """How many messages are pending, sent and failed."""
    from sqlalchemy import func

    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    counts = {status.value: 0 for status in OutboxStatus}
    counts.update({OutboxStatus(status).value: int(n) for status, n in rows})
    return counts


# --- immediate dispatch after commit ---------------------------------------------------------


class Dispatcher:
    """One background thread per process that delivers freshly committed messages.

    Sending happens off the request thread so that an SMTP outage (or its timeout) never slows a
    response, and so that forgot-password answers in the same time whether or not it mailed.
    The queue is in memory only: what it does not finish stays pending for the worker.
    """

    def __init__(self, app: Flask) -> None:
        """Bound to one app; the thread starts on first use (after any fork)."""
        self.app = app
        self._lock = threading.Lock()
        self._queue: queue.Queue[list[uuid.UUID] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def submit(self, ids: list[uuid.UUID]) -> None:
        """Queue these committed message ids for delivery."""
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                if self._pid != os.getpid():
                    # A forked child must not inherit its parent's queue or (dead) thread.
                    self._queue = queue.Queue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="authy2-mail", daemon=True)
                self._thread.start()
        self._queue.put(list(ids))

    def _run(self) -> None:
        """Deliver batches forever; errors are logged, never raised (the rows stay pending)."""
        while True:
            ids = self._queue.get()
            if ids is None:
                self._queue.task_done()
                return
            try:
                with self.app.app_context():
                    try:
                        run_delivery(ids=ids)
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - the worker will retry; the thread must survive
                logger.exception("mail dispatcher: delivery run failed; messages stay pending")
            finally:
                self._queue.task_done()

    def close(self) -> None:
        """Stop the thread once it has finished what is queued (it restarts on the next submit)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                self._queue.put(None)
                self._thread.join(timeout=30)
            self._thread = None

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far was tried (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def get_dispatcher(app: Flask) -> Dispatcher:
    """The app's dispatcher."""
    return app.extensions[DISPATCHER_KEY]


def _after_commit(session: Session) -> None:
    """Hand the ids enqueued in the committed transaction to the dispatcher."""
    ids = session.info.pop(SESSION_INFO_KEY, None)
    if not ids or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app for the thread
    if not app.config["MAIL_DELIVER_IMMEDIATELY"] or transport_name(app.config) == "hold":
        return
    dispatcher = app.extensions.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.submit(ids)


def _after_rollback(session: Session) -> None:
    """A rolled-back transaction sends nothing."""
    session.info.pop(SESSION_INFO_KEY, None)


def init_app(app: Flask) -> None:
    """Attach the dispatcher, hook commits, and say at start-up where mail goes."""
    app.extensions[DISPATCHER_KEY] = Dispatcher(app)
    if not event.contains(FlaskSession, "after_commit", _after_commit):
        event.listen(FlaskSession, "after_commit", _after_commit)
        event.listen(FlaskSession, "after_rollback", _after_rollback)
    transport = transport_name(app.config)
    if transport == "smtp":
        logger.info(
            "mail: delivering through SMTP %s:%s (STARTTLS=%s, SSL=%s)",
            app.config["SMTP_HOST"],
            app.config["SMTP_PORT"],
            app.config["SMTP_USE_TLS"],
            app.config["SMTP_USE_SSL"],
        )
        if app.config.get("SMTP_USERNAME") and not (app.config["SMTP_USE_TLS"] or app.config["SMTP_USE_SSL"]):
            logger.warning(
                "mail: SMTP_USERNAME is set without SMTP_USE_TLS/SSL: the password travels in clear"
            )
    elif transport == "log":
        logger.warning(
            "mail: SMTP_HOST is not set, so outgoing mail is WRITTEN TO THIS LOG instead of being "
            "sent (links included). Set SMTP_HOST to send real mail."
        )
    else:
        logger.warning(
            "mail: SMTP_HOST is not set in production: mail is kept in the outbox (pending) and NOT "
            "delivered until SMTP_HOST is configured and `python manage.py mail send-pending` runs."
        )
