"""Audit-log read API at a million rows: time each query shape with and without migration 0003's
indexes and print the ratios. Not a test; it needs a scratch PostgreSQL database it may wipe.

    BENCH_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/authy2_bench \\
        python bench/audit_queries.py [ROWS]

The rows are synthetic (their hashes do not chain); never point this at a real database.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2  # noqa: E402 - the path above must be set first
from sqlalchemy.engine import make_url  # noqa: E402

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/authy2_bench")
ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ORGS, ACTORS = 1000, 20_000
NEW_INDEXES = {
    "ix_audit_logs_org_action": "CREATE INDEX ix_audit_logs_org_action "
    "ON audit_logs (organization_id, action, id)",
    "ix_audit_logs_org_time": "CREATE INDEX ix_audit_logs_org_time "
    "ON audit_logs (organization_id, occurred_at)",
}
# The API's query shapes for the busiest org (org 1 holds ~10% of all rows), page 1 and a count.
SHAPES = {
    "org, newest page": "organization_id = %(org)s",
    "org + action": "organization_id = %(org)s AND action = 'org.member_added'",
    "org + rare action": "organization_id = %(org)s AND action = 'org.member_role_changed'",
    "org + action prefix": "organization_id = %(org)s AND action LIKE 'org.member%%'",
    "org + last day": "organization_id = %(org)s AND occurred_at >= %(since)s AND occurred_at < %(until)s",
    "org + a day in the past": "organization_id = %(org)s AND occurred_at >= %(old_since)s "
    "AND occurred_at < %(old_until)s",
    "org + actor": "organization_id = %(org)s AND actor_user_id = %(actor)s",
    "me (actor or target)": "(actor_user_id = %(actor)s "
    "OR (target_type = 'user' AND target_id = %(actor_s)s))",
}


def connect():
    """A psycopg2 connection to the bench database (created if missing)."""
    url = make_url(URL)
    admin = psycopg2.connect(dbname="postgres", user=url.username, host=url.host, port=url.port or 5432)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{url.database}"')
    admin.close()
    return psycopg2.connect(dbname=url.database, user=url.username, host=url.host, port=url.port or 5432)


def migrate() -> None:
    """Build the schema with the real migrations."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db

    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": URL})
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE"))
        db.session.execute(text("CREATE SCHEMA public"))
        db.session.commit()
        upgrade()


def populate(conn) -> None:
    """ROWS synthetic rows over a year; org 1 is 10% of the traffic, the rest spread evenly."""
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO audit_logs (occurred_at, action, actor_user_id, organization_id, target_type,
                                    target_id, ip, user_agent, request_id, details, prev_hash, hash)
            SELECT now() - interval '365 days' + (i * interval '365 days' / %(rows)s),
                   CASE WHEN i %% 997 = 0 THEN 'org.member_role_changed'
                        ELSE (ARRAY['auth.login.succeeded','auth.login.failed','org.member_added',
                                    'org.member_removed','org.updated','session.revoked'])[1 + i %% 6]
                   END,
                   md5('actor' || (i %% %(actors)s))::uuid,
                   CASE WHEN i %% 10 = 0 THEN md5('org1')::uuid
                        ELSE md5('org' || (i %% %(orgs)s))::uuid END,
                   'user', md5('target' || (i %% %(actors)s))::uuid::text,
                   '10.0.0.1', 'bench', md5(i::text), '{}',
                   md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text)
            FROM generate_series(1, %(rows)s) AS i
            """,
            {"rows": ROWS, "actors": ACTORS, "orgs": ORGS},
        )
    conn.commit()
    vacuum(conn)


def vacuum(conn) -> None:
    """VACUUM ANALYZE, as autovacuum would: statistics plus the visibility map index-only scans need."""
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE audit_logs")
    conn.autocommit = False


def timed(cur, sql: str, params: dict, repeat: int = 5) -> float:
    """Median wall time of `sql` in milliseconds (after one warm-up run)."""
    cur.execute(sql, params)
    cur.fetchall()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        cur.execute(sql, params)
        cur.fetchall()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(conn) -> dict[str, tuple[float, float]]:
    """(page ms, count ms) per query shape."""
    params: dict = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT md5('org1')::uuid::text, md5('actor7')::uuid::text, max(occurred_at) FROM audit_logs"
        )
        org, actor, newest = cur.fetchone()
        params.update(org=org, actor=actor, actor_s=actor, since=newest - timedelta(days=1), until=newest)
        params.update(old_since=newest - timedelta(days=200), old_until=newest - timedelta(days=199))
        results = {}
        for name, where in SHAPES.items():
            page = f"SELECT * FROM audit_logs WHERE {where} ORDER BY id DESC LIMIT 20 OFFSET 0"  # noqa: S608 - fixed text
            count = f"SELECT count(*) FROM audit_logs WHERE {where}"  # noqa: S608 - fixed text
            results[name] = (timed(cur, page, params), timed(cur, count, params))
    return results


def main() -> None:
    """Populate, measure with and without the 0003 indexes, print ratios."""
    print(f"building {ROWS:,} audit rows in {make_url(URL).database} ...")
    conn = connect()
    migrate()
    started = time.perf_counter()
    populate(conn)
    print(f"populated in {time.perf_counter() - started:.1f}s")
    with_indexes = measure(conn)
    with conn.cursor() as cur:
        for name in NEW_INDEXES:
            cur.execute(f"DROP INDEX {name}")
    conn.commit()
    vacuum(conn)
    without = measure(conn)
    with conn.cursor() as cur:
        for ddl in NEW_INDEXES.values():
            cur.execute(ddl)
    conn.commit()
    print(
        f"{'query shape':<24} {'page ms':>9} {'count ms':>9} | "
        f"{'without 0003: page':>18} {'count':>8} | ratio"
    )
    for name, (page, count) in with_indexes.items():
        page0, count0 = without[name]
        ratio = (page0 + count0) / max(page + count, 0.001)
        print(f"{name:<24} {page:>9.2f} {count:>9.2f} | {page0:>18.2f} {count0:>8.2f} | {ratio:5.1f}x")
    conn.close()


if __name__ == "__main__":
    main()
