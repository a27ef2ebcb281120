"""Fixtures: a migrated PostgreSQL test database, a Redis db number, apps, clients and helpers.

Isolation: after every test all tables are truncated and the Redis test db is flushed, so tests
may commit freely and real HTTP servers (gunicorn) see the same data the test wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

os.environ.setdefault("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/authy2_test")
os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["FLASK_ENV"] = "testing"

from app import create_app  # noqa: E402 - environment first
from app.extensions import db  # noqa: E402
from tests.helpers import AuthActions  # noqa: E402
from tests.smtp_sink import SmtpSink  # noqa: E402

TEST_DATABASE_URL = os.environ["TEST_DATABASE_URL"]
TEST_REDIS_URL = os.environ["TEST_REDIS_URL"]
LIST_TABLES_SQL = """
SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'
"""


def _ensure_database(url: str) -> None:
    """Create the test database if it does not exist (connecting to the maintenance db)."""
    parsed = make_url(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port or 5432,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{parsed.database}"')
    conn.close()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The testing app (Redis session store) on a schema freshly built by the migrations."""
    from flask_migrate import upgrade

    _ensure_database(TEST_DATABASE_URL)
    application = create_app("testing")
    with application.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE"))
        db.session.execute(text("CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
        db.session.remove()
    yield application


@pytest.fixture(scope="session")
def sql_app(app: Flask) -> Flask:
    """The same database with the SQL session store (REDIS_URL unset)."""
    return create_app("testing", {"REDIS_URL": None})


def _table_names(application: Flask) -> list[str]:
    with application.app_context():
        rows = db.session.execute(text(LIST_TABLES_SQL)).scalars()
        names = list(rows)
        db.session.remove()
    return names


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test, then empty every table and the Redis test db."""
    yield
    if "app" not in request.fixturenames and "sql_app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    tables = _table_names(application)
    with application.app_context():
        if tables:
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            db.session.commit()
        db.session.remove()
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client on the Redis-backed app."""
    return app.test_client()


@pytest.fixture
def sql_client(sql_app: Flask) -> FlaskClient:
    """A test client on the SQL-store app."""
    return sql_app.test_client()


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Register/login helpers bound to `client`."""
    return AuthActions(client)


@pytest.fixture
def user(auth: AuthActions) -> dict[str, Any]:
    """A registered user: {'email', 'password', 'id'}."""
    return auth.register()


@pytest.fixture
def logged_in(auth: AuthActions, user: dict[str, Any]) -> dict[str, Any]:
    """A registered user with a bearer token: {'email', 'password', 'id', 'token', 'headers', ...}."""
    session = auth.login(user["email"], user["password"])
    return {**user, **session}


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port, started."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def make_mail_app(smtp_port: int, **overrides: Any) -> Flask:
    """A testing app whose mail goes over SMTP to 127.0.0.1:smtp_port."""
    return create_app(
        "testing", {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "SMTP_TIMEOUT": 5, **overrides}
    )


def close_mail_app(application: Flask) -> None:
    """Let its mail dispatcher finish, stop it, and close the app's database connections."""
    from app.services.mail import get_dispatcher

    dispatcher = get_dispatcher(application)
    dispatcher.wait()
    dispatcher.close()
    with application.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def mail_app(app: Flask, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """A testing app (same database and Redis) that delivers mail to `smtp_sink`."""
    application = make_mail_app(smtp_sink.port)
    yield application
    close_mail_app(application)


@pytest.fixture
def mail_client(mail_app: Flask) -> FlaskClient:
    """A test client on `mail_app`."""
    return mail_app.test_client()
