"""Configuration: environment selection and production's refusal of default secrets."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError, load_config


@pytest.fixture
def prod_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1/authy2_test")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("ENCRYPTION_KEY", "e" * 48)
    monkeypatch.setenv("CA_ENCRYPTION_KEY", "c" * 48)
    return monkeypatch


@pytest.mark.parametrize("name", ["SECRET_KEY", "ENCRYPTION_KEY", "CA_ENCRYPTION_KEY"])
def test_production_refuses_missing_secret_naming_it(prod_env, name):
    prod_env.delenv(name)
    with pytest.raises(ConfigError, match=name):
        create_app("production")


@pytest.mark.parametrize("name", ["SECRET_KEY", "ENCRYPTION_KEY", "CA_ENCRYPTION_KEY"])
def test_production_refuses_default_secret(prod_env, name):
    from app import config

    prod_env.setenv(name, getattr(config, f"DEFAULT_{name}"))
    with pytest.raises(ConfigError, match=name):
        load_config("production")


def test_production_starts_with_real_secrets_and_secure_cookies(prod_env):
    app = create_app("production")
    assert app.config["AUTH_COOKIE_SECURE"] is True
    assert app.config["BCRYPT_LOG_ROUNDS"] == 12


def test_development_defaults_to_sqlite_in_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app("development")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/db_file.db")
    from app.sessions.sql_store import SqlSessionStore

    assert isinstance(app.extensions["authy2_session_store"], SqlSessionStore)


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="FLASK_ENV"):
        load_config("staging")


def test_postgres_parts_build_the_url(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_HOST", "db")
    monkeypatch.setenv("POSTGRES_USER", "u")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p")
    monkeypatch.setenv("POSTGRES_DB", "d")
    assert load_config("development").SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://u:p@db:5432/d"
