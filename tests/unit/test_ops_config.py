"""Configuration for production shape: statement timeout, log format, metrics protection."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_config

STRONG = "s" * 48


@pytest.fixture
def prod_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The minimum a production config needs."""
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("ENCRYPTION_KEY", STRONG + "e")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@db/authy2")
    for name in ("METRICS_TOKEN", "METRICS_ENABLED", "LOG_FORMAT", "DB_STATEMENT_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_postgres_engine_gets_the_statement_timeout(prod_env):
    prod_env.setenv("DB_STATEMENT_TIMEOUT_MS", "2500")
    options = load_config("production").SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_pre_ping"] is True
    assert options["connect_args"] == {"options": "-c statement_timeout=2500"}


def test_statement_timeout_defaults_to_ten_seconds_and_zero_disables_it(prod_env):
    assert (
        "statement_timeout=10000"
        in load_config("production").SQLALCHEMY_ENGINE_OPTIONS["connect_args"]["options"]
    )
    prod_env.setenv("DB_STATEMENT_TIMEOUT_MS", "0")
    assert "connect_args" not in load_config("production").SQLALCHEMY_ENGINE_OPTIONS


def test_sqlite_gets_no_statement_timeout(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    assert "connect_args" not in load_config("development").SQLALCHEMY_ENGINE_OPTIONS


def test_malformed_statement_timeout_names_the_variable(prod_env):
    prod_env.setenv("DB_STATEMENT_TIMEOUT_MS", "soon")
    with pytest.raises(ConfigError, match="DB_STATEMENT_TIMEOUT_MS"):
        load_config("production")


def test_production_logs_json_and_hides_metrics_by_default(prod_env):
    config = load_config("production")
    assert config.LOG_FORMAT == "json" and config.METRICS_ENABLED is False


def test_production_metrics_need_a_token(prod_env):
    prod_env.setenv("METRICS_ENABLED", "true")
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_config("production")
    prod_env.setenv("METRICS_TOKEN", "t" * 40)
    assert load_config("production").METRICS_ENABLED is True


def test_a_metrics_token_turns_metrics_on(prod_env):
    prod_env.setenv("METRICS_TOKEN", "t" * 40)
    assert load_config("production").METRICS_ENABLED is True
