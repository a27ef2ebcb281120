"""One contract, two backends: the Redis and SQL session stores behave alike (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.sessions import SessionSettings
from app.sessions.redis_store import RedisSessionStore
from app.sessions.sql_store import SqlSessionStore
from tests.helpers import AuthActions


class Clock:
    """A controllable clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


SETTINGS = SessionSettings(idle_timeout=600, absolute_timeout=3600, touch_interval=60)


@pytest.fixture(params=["redis", "sql"])
def store_env(request, app, sql_app):
    """(store, clock, two user ids) inside an app context, for each backend."""
    flask_app = app if request.param == "redis" else sql_app
    users = [AuthActions(flask_app.test_client()).register()["id"] for _ in range(2)]
    clock = Clock()
    with flask_app.app_context():
        if request.param == "redis":
            store = RedisSessionStore(flask_app.extensions["authy2_redis"], SETTINGS, clock)
        else:
            store = SqlSessionStore(SETTINGS, clock)
        yield store, clock, users


def test_create_then_get_returns_the_record(store_env):
    store, _, (uid, _) = store_env
    token, record = store.create(uid, "password", "10.0.0.1", "UA")
    got = store.get(token)
    assert got is not None and got.id == record.id and got.user_id == uid
    assert got.ip == "10.0.0.1" and got.user_agent == "UA" and got.auth_method == "password"
    assert len(token) >= 43 and record.token_hash != token


def test_unknown_token_is_none(store_env):
    store, _, _ = store_env
    assert store.get("no-such-token") is None


def test_idle_timeout_expires_and_touch_extends(store_env):
    store, clock, (uid, _) = store_env
    token, _ = store.create(uid, "password", None, None)
    clock.advance(500)
    assert store.get(token) is not None  # touched at t=500
    clock.advance(500)
    assert store.get(token) is not None  # idle only 500s since the touch
    clock.advance(601)
    assert store.get(token) is None


def test_absolute_timeout_expires_even_when_active(store_env):
    store, clock, (uid, _) = store_env
    token, _ = store.create(uid, "password", None, None)
    for _ in range(7):
        clock.advance(500)
        store.get(token)
    clock.advance(200)  # t = 3700 > 3600
    assert store.get(token) is None


def test_list_for_user_only_lists_their_live_sessions(store_env):
    store, clock, (uid, other) = store_env
    store.create(uid, "password", None, None)
    clock.advance(1)
    _, newest = store.create(uid, "saml", None, None)
    store.create(other, "password", None, None)
    sessions = store.list_for_user(uid)
    assert [s.id for s in sessions][0] == newest.id
    assert len(sessions) == 2 and all(s.user_id == uid for s in sessions)


def test_revoke_only_own_session(store_env):
    store, _, (uid, other) = store_env
    token, record = store.create(uid, "password", None, None)
    assert store.revoke(other, record.id) is False
    assert store.get(token) is not None
    assert store.revoke(uid, record.id) is True
    assert store.get(token) is None
    assert store.revoke(uid, record.id) is False


def test_revoke_all_except_one(store_env):
    store, _, (uid, other) = store_env
    keep_token, keep = store.create(uid, "password", None, None)
    t2, _ = store.create(uid, "password", None, None)
    t3, _ = store.create(uid, "google", None, None)
    other_token, _ = store.create(other, "password", None, None)
    assert store.revoke_all_for_user(uid, except_session_id=keep.id) == 2
    assert store.get(keep_token) is not None
    assert store.get(t2) is None and store.get(t3) is None
    assert store.get(other_token) is not None
    assert store.revoke_all_for_user(uid) == 1
    assert store.list_for_user(uid) == []


def test_unknown_auth_method_is_refused(store_env):
    store, _, (uid, _) = store_env
    with pytest.raises(ValueError, match="unknown auth method"):
        store.create(uid, "telepathy", None, None)


def test_ping(store_env):
    store, _, _ = store_env
    store.ping()
