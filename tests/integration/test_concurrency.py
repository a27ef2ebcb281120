"""Races the database must decide: two registrations of one address give one 201 and one 409."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.extensions import db
from app.models.user import User
from tests.helpers import DEFAULT_PASSWORD


def test_concurrent_registrations_of_one_email(app):
    barrier = threading.Barrier(2)
    results: list[int] = []

    def register(email: str) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD})
        results.append(resp.status_code)

    for _ in range(5):
        results.clear()
        threads = [
            threading.Thread(target=register, args=("race@example.com",)),
            threading.Thread(target=register, args=("RACE@example.com",)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [201, 409]
        with app.app_context():
            assert db.session.execute(select(func.count()).select_from(User)).scalar() == 1
            db.session.execute(User.__table__.delete())
            db.session.commit()
