"""Federation building blocks: the state cookie's flags, secret encryption, the SQL single-use id store."""

from __future__ import annotations

import datetime as dt

import pytest

from app import create_app, errors
from app.extensions import db
from app.models.sso import SsoOneTimeId
from app.security.sso_secrets import decrypt_sso_secret, encrypt_sso_secret
from app.services import sso


def test_flask_session_cookie_carrying_oauth_state_is_secure_in_production(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1/authy2_test")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("ENCRYPTION_KEY", "e" * 48)
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    # Lax, not Strict: the provider's redirect back is a cross-site top-level GET that must carry it.
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_sso_secret_round_trip_and_wrong_key(app):
    with app.app_context():
        token = encrypt_sso_secret("top-secret")
        assert "top-secret" not in token
        assert decrypt_sso_secret(token) == "top-secret"
    other = create_app("testing", {"ENCRYPTION_KEY": "another-key-entirely-" * 3})
    with other.app_context(), pytest.raises(errors.ServiceUnavailable):
        decrypt_sso_secret(token)


def test_sql_single_use_store_without_redis(sql_app):
    with sql_app.app_context():
        assert sso.put_once("t:1", "v", 60) is True
        assert sso.put_once("t:1", "w", 60) is False
        assert sso.take("t:1") == "v"
        assert sso.take("t:1") is None
        db.session.add(
            SsoOneTimeId(key="t:old", value="x", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.flush()
        assert sso.take("t:old") is None
        # An expired key may be stored again (the old row is purged first).
        assert sso.put_once("t:old", "y", 60) is True
        db.session.commit()
        db.session.remove()


def test_redis_single_use_store(app):
    with app.app_context():
        assert sso.put_once("t:r", "v", 60) is True
        assert sso.put_once("t:r", "w", 60) is False
        assert sso.take("t:r") == "v"
        assert sso.take("t:r") is None
