"""Authy2 load benchmarks: one command, loopback only, bounded in time, ratios from one run.

    python bench/run.py                 # everything (make bench)
    python bench/run.py --only a,b      # some of them
    python bench/run.py --duration 5    # shorter load phases

(a) login throughput vs raw bcrypt verifications/s at the same cost on the same cores (goal ≥ 0.9)
(b) authenticated GET /api/v1/auth/me vs a bare Flask JSON endpoint, p50/p99 (goal ≥ 0.6)
(c) GET /api/v1/auth/sessions with 1 vs 10,000 sessions in the system (and the organization member
    list with 1 vs 10,000 members when the organizations API is present) — should not grow
(d) audit log append rate and query latency at 10^6 rows

Every HTTP target is the app started exactly as the Docker image starts it (docker/entrypoint.sh ->
gunicorn -c gunicorn.conf.py) with the same GUNICORN_WORKERS/THREADS. Load comes from wrk when it is
installed (apt-get install wrk), else from a small threaded Python generator (slower; it says so).

Environment: BENCH_DATABASE_URL (default: the local authy2_bench PostgreSQL database, created if
missing), BENCH_REDIS_URL (default redis://127.0.0.1:6379/14; FLUSHED), BENCH_WORKERS (default:
cores + 1, as gunicorn.conf.py), BENCH_THREADS (1), BENCH_BCRYPT_ROUNDS (12).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402 - after the path
import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/authy2_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WORKERS = int(os.environ.get("BENCH_WORKERS", str((os.cpu_count() or 1) + 1)))  # gunicorn.conf.py's default
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
ROUNDS = int(os.environ.get("BENCH_BCRYPT_ROUNDS", "12"))
PASSWORD = "Bench-Horse-42!"  # noqa: S105 - a throwaway benchmark account
RESULTS = ROOT / "bench" / "results"


# --------------------------------------------------------------------------- infrastructure


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env() -> dict[str, str]:
    """Production settings against the bench database and Redis."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PROMETHEUS_MULTIPROC_DIR"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "FLASK_ENV": "production",
        "SECRET_KEY": "bench-" + "k" * 40,
        "ENCRYPTION_KEY": "bench-" + "e" * 40,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "BCRYPT_LOG_ROUNDS": str(ROUNDS),
        "SESSION_COOKIE_SECURE": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "METRICS_TOKEN": "bench-metrics-" + "m" * 30,
        "GUNICORN_WORKERS": str(WORKERS),
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_MAX_REQUESTS": "0",
    }


class Server:
    """gunicorn with gunicorn.conf.py on a free loopback port; logs go to a temp file."""

    def __init__(self, argv: list[str], env: dict[str, str], health: str) -> None:
        """Start and wait (≤ 30 s) for `health` to answer 200."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="authy2-bench-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text()[-3000:])
            try:
                if requests.get(self.url + health, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {Path(self.log.name).read_text()[-3000:]}")

    def stop(self) -> None:
        """Graceful stop, bounded; then remove the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def prepare_database() -> None:
    """Create the bench database if missing and run the migrations."""
    url = make_url(DATABASE_URL)
    conn = psycopg2.connect(
        dbname="postgres", user=url.username, password=url.password, host=url.host, port=url.port or 5432
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{url.database}"')
    conn.close()
    subprocess.run(
        [sys.executable, "manage.py", "db", "upgrade"],
        cwd=ROOT,
        env=app_env(),
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- load generation


@dataclass
class Load:
    """What one load phase measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str

    def row(self) -> str:
        """One line for the report."""
        return (
            f"{self.rps:9.1f} req/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"({self.requests} requests, {self.errors} non-2xx, {self.tool})"
        )


def _wrk_ms(text: str) -> float:
    """'1.23ms' / '850.00us' / '1.02s' -> milliseconds."""
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str,
    duration: int,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    """wrk with one thread (the cores belong to the server), latency percentiles."""
    lua = ["wrk.method = " + json.dumps(method)]
    if body is not None:
        lua.append("wrk.body = " + json.dumps(body))
    for key, value in (headers or {}).items():
        lua.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    p50 = _wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return Load(rps, p50, p99, total, errors, "wrk")


def run_python_load(
    url: str,
    duration: int,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    """Fallback generator: `connections` threads with keep-alive connections (GIL-bound; slower than wrk)."""
    target = requests.utils.urlparse(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    payload = body.encode() if body is not None else None

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request(method, target.path, body=payload, headers=headers or {})
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 300:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            mine.append((time.perf_counter() - started) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 30)
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = (
        (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))])
        if latencies
        else (lambda q: 0.0)
    )
    return Load(len(latencies) / elapsed, pct(0.5), pct(0.99), len(latencies), errors[0], "python-threads")


def load(url: str, duration: int, connections: int, **kwargs: Any) -> Load:
    """wrk if installed, else the Python generator."""
    if shutil.which("wrk"):
        return run_wrk(url, duration, connections, **kwargs)
    return run_python_load(url, duration, connections, **kwargs)


# --------------------------------------------------------------------------- helpers


def register_and_login(base: str, email: str) -> dict[str, Any]:
    """Register (ignoring 409) and log in; returns data.session."""
    requests.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=30)
    resp = requests.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    resp.raise_for_status()
    return resp.json()["data"]["session"]


def _bcrypt_loop(args: tuple[bytes, float]) -> tuple[int, float]:
    """Verify one password against its bcrypt hash for `seconds`; return (count, elapsed)."""
    import bcrypt

    hashed, seconds = args
    started = time.perf_counter()
    count = 0
    while time.perf_counter() - started < seconds:
        bcrypt.checkpw(PASSWORD.encode(), hashed)
        count += 1
    return count, time.perf_counter() - started


def raw_bcrypt_rate(duration: float, processes: int) -> float:
    """bcrypt.checkpw per second at ROUNDS with one process per worker (the same cores).

    Each process times itself from its first hash, so process start-up is not counted against bcrypt.
    """
    import bcrypt

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(ROUNDS))
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_bcrypt_loop, [(hashed, duration)] * processes)
    return sum(count / elapsed for count, elapsed in results)


@dataclass
class Report:
    """Lines printed at the end and written to bench/results/latest.json."""

    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, line: str) -> None:
        """Print now and keep for the summary."""
        print(line, flush=True)
        self.lines.append(line)


# --------------------------------------------------------------------------- the benchmarks


def bench_login(app: Server, rep: Report, duration: int, rounds: int = 3) -> None:
    """(a) logins/s through the whole stack vs raw bcrypt verifications/s.

    The cores are shared with whatever else runs, so raw bcrypt is measured between login phases
    (raw, login, raw, login, ..., raw) and each login phase is compared with the mean of the raw
    phases on either side; the median of the per-round ratios is reported.
    """
    register_and_login(app.url, "bench-login@example.com")
    body = json.dumps({"email": "bench-login@example.com", "password": PASSWORD})
    cores = os.cpu_count() or 1  # the ceiling: every core verifying, whatever the worker count
    raws = [raw_bcrypt_rate(duration / 2, cores)]
    logins: list[Load] = []
    for _ in range(rounds):
        logins.append(
            load(
                app.url + "/api/v1/auth/login",
                duration,
                WORKERS * 2,
                method="POST",
                body=body,
                headers={"Content-Type": "application/json"},
            )
        )
        time.sleep(3)  # let the logins still queued in the workers finish before measuring bcrypt
        raws.append(raw_bcrypt_rate(duration / 2, cores))
    ratios = [login.rps / ((raws[i] + raws[i + 1]) / 2) for i, login in enumerate(logins)]
    ratio = statistics.median(ratios)
    raw = statistics.mean(raws)
    login_rps = statistics.mean(x.rps for x in logins)
    rep.data["a"] = {
        "raw_bcrypt_per_s": raws,
        "login": [vars(x) for x in logins],
        "round_ratios": ratios,
        "ratio": ratio,
        "goal": 0.9,
    }
    rep.add(
        f"(a) raw bcrypt verify (cost {ROUNDS}, {cores} procs = cores): mean {raw:.2f} /s "
        f"(phases: {', '.join(f'{x:.2f}' for x in raws)})"
    )
    rep.add(
        f"(a) POST /auth/login: mean {login_rps:.2f} req/s over {rounds} x {duration}s "
        f"({sum(x.requests for x in logins)} logins, {sum(x.errors for x in logins)} non-2xx; "
        f"p50 {statistics.median(x.p50_ms for x in logins):.0f} ms)"
    )
    per_round = ", ".join(f"{x:.2f}" for x in ratios)
    verdict = "MET" if ratio >= 0.9 else "NOT MET"
    rep.add(f"(a) ratio login / raw bcrypt = {ratio:.2f} (median of {per_round})   (goal >= 0.90: {verdict})")


def bench_me(app: Server, bare: Server, rep: Report, duration: int) -> None:
    """(b) authenticated /auth/me vs a bare Flask JSON endpoint under the same gunicorn settings."""
    session = register_and_login(app.url, "bench-me@example.com")
    conns = max(4, WORKERS * THREADS * 4)
    base = load(bare.url + "/ping", duration, conns)
    me = load(
        app.url + "/api/v1/auth/me", duration, conns, headers={"Authorization": f"Bearer {session['token']}"}
    )
    ratio = me.rps / base.rps
    rep.data["b"] = {"bare": vars(base), "me": vars(me), "ratio": ratio, "goal": 0.6}
    rep.add(f"(b) bare Flask GET /ping                  : {base.row()}")
    rep.add(f"(b) GET /api/v1/auth/me (bearer)          : {me.row()}")
    rep.add(f"(b) ratio me / bare = {ratio:.2f}   (goal >= 0.60: {'MET' if ratio >= 0.6 else 'NOT MET'})")


def _fill_sessions(count: int) -> None:
    """`count` live sessions for other users, written through the real Redis store."""
    from app.sessions.base import SessionSettings
    from app.sessions.redis_store import RedisSessionStore

    store = RedisSessionStore(
        redis.Redis.from_url(REDIS_URL, decode_responses=True), SessionSettings(8 * 3600, 7 * 24 * 3600)
    )
    users = [str(uuid.uuid4()) for _ in range(max(1, count // 10))]
    for i in range(count):
        store.create(users[i % len(users)], "password", "127.0.0.1", "bench")


def _org_api_present(base: str, token: str) -> str | None:
    """The id of a fresh organization owned by the caller, or None when the API does not exist."""
    resp = requests.post(
        f"{base}/api/v1/organizations",
        json={"name": "Bench Org", "slug": f"bench-{secrets.token_hex(4)}"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if resp.status_code in (404, 405):
        return None
    resp.raise_for_status()
    data = resp.json()["data"]
    return str((data.get("organization") or data)["id"])


def _fill_members(org_id: str, count: int) -> None:
    """`count` more members of the organization (users + memberships inserted in bulk)."""
    from sqlalchemy import create_engine, insert

    from app.models.organization import Membership, Role
    from app.models.user import User

    engine = create_engine(DATABASE_URL)
    now = datetime.now(UTC)
    users = [
        {
            "id": uuid.uuid4(),
            "email": f"member-{uuid.uuid4().hex}@bench.example",
            "email_verified": True,
            "is_active": True,
            "is_superadmin": False,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(User), users)
        conn.execute(
            insert(Membership),
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": uuid.UUID(org_id),
                    "user_id": u["id"],
                    "role": Role.MEMBER,
                    "created_at": now,
                }
                for u in users
            ],
        )
    engine.dispose()


def bench_scaling(app: Server, rep: Report, duration: int, big: int) -> None:
    """(c) list endpoints with 1 vs `big` rows in the system."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    probe = register_and_login(app.url, "bench-probe@example.com")
    auth = {"Authorization": f"Bearer {probe['token']}"}
    conns = max(4, WORKERS * THREADS * 4)
    small = load(app.url + "/api/v1/auth/sessions", duration, conns, headers=auth)
    started = time.monotonic()
    _fill_sessions(big)
    fill_s = time.monotonic() - started
    large = load(app.url + "/api/v1/auth/sessions", duration, conns, headers=auth)
    ratio = large.rps / small.rps
    rep.data["c_sessions"] = {"one": vars(small), "many": vars(large), "ratio": ratio, "rows": big}
    rep.add(f"(c) GET /auth/sessions, 1 session in system : {small.row()}")
    rep.add(f"(c) GET /auth/sessions, {big} other sessions : {large.row()}  (filled in {fill_s:.1f}s)")
    rep.add(f"(c) ratio {big} / 1 = {ratio:.2f}   (goal ~1.0: cost must not grow with the system)")

    org_id = _org_api_present(app.url, probe["token"])
    if org_id is None:
        rep.data["c_members"] = None
        rep.add("(c) org member list: n/a — the organizations API is not in this build")
        return
    url = f"{app.url}/api/v1/organizations/{org_id}/members"
    one = load(url, duration, conns, headers=auth)
    _fill_members(org_id, big - 1)
    many = load(url, duration, conns, headers=auth)
    ratio = many.rps / one.rps
    rep.data["c_members"] = {"one": vars(one), "many": vars(many), "ratio": ratio, "rows": big}
    rep.add(f"(c) GET members, 1 member                 : {one.row()}")
    rep.add(f"(c) GET members, {big} members            : {many.row()}")
    rep.add(f"(c) ratio {big} / 1 = {ratio:.2f}")


def _audit_rows_to(target: int) -> tuple[int, float]:
    """Extend the audit chain to `target` rows with valid hashes (bulk COPY); return (added, seconds)."""
    from app.models.audit import AuditLog
    from app.services.audit import GENESIS_HASH, compute_hash

    url = make_url(DATABASE_URL)
    conn = psycopg2.connect(
        dbname=url.database, user=url.username, password=url.password, host=url.host, port=url.port or 5432
    )
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_logs")
        have = cur.fetchone()[0]
        cur.execute("SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
    prev = row[0] if row else GENESIS_HASH
    missing = target - have
    if missing <= 0:
        conn.close()
        return 0, 0.0
    started = time.monotonic()
    actors = [uuid.uuid4() for _ in range(2000)]
    orgs = [uuid.uuid4() for _ in range(200)]
    actions = [
        "auth.login.succeeded",
        "auth.login.failed",
        "auth.logout",
        "session.revoked",
        "user.registered",
        "user.password_changed",
        "org.member_added",
        "user.profile_updated",
    ]
    base_time = datetime.now(UTC) - timedelta(days=365)
    columns = (
        "occurred_at",
        "action",
        "actor_user_id",
        "organization_id",
        "target_type",
        "target_id",
        "ip",
        "user_agent",
        "request_id",
        "details",
        "prev_hash",
        "hash",
    )
    batch = 50_000
    done = 0
    while done < missing:
        buf = []
        for i in range(min(batch, missing - done)):
            n = have + done + i
            rec = AuditLog(
                occurred_at=base_time + timedelta(seconds=n * 30),
                action=actions[n % len(actions)],
                actor_user_id=actors[n % len(actors)],
                organization_id=orgs[n % len(orgs)],
                target_type="session",
                target_id=f"s{n}",
                ip="127.0.0.1",
                user_agent="bench",
                request_id=f"bench-{n}",
                details={"method": "password"},
                prev_hash=prev,
            )
            rec.hash = compute_hash(rec)
            prev = rec.hash
            values = [
                rec.occurred_at.isoformat(),
                rec.action,
                str(rec.actor_user_id),
                str(rec.organization_id),
                rec.target_type,
                rec.target_id,
                rec.ip,
                rec.user_agent,
                rec.request_id,
                json.dumps(rec.details),
                rec.prev_hash,
                rec.hash,
            ]
            buf.append("\t".join(v.replace("\\", "\\\\").replace("\t", "\\t") for v in values))
        import io

        with conn.cursor() as cur:
            cur.copy_expert(
                f"COPY audit_logs ({', '.join(columns)}) FROM STDIN", io.StringIO("\n".join(buf) + "\n")
            )
        conn.commit()
        done += len(buf)
        print(f"    audit rows: {have + done}/{target}", flush=True)
    with conn.cursor() as cur:
        cur.execute("ANALYZE audit_logs")
    conn.commit()
    conn.close()
    return missing, time.monotonic() - started


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def bench_audit(rep: Report, rows: int, appends: int) -> None:
    """(d) append rate through audit.record (one transaction per event, as in requests) and query latency."""
    os.environ.update({k: v for k, v in app_env().items() if k not in ("PATH",)})
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models.audit import AuditLog
    from app.services import audit
    from app.services.context import RequestInfo

    added, seconds = _audit_rows_to(rows)
    if added:
        rep.add(f"(d) generated {added} audit rows with a valid chain in {seconds:.0f}s (bulk COPY)")
    app = create_app("production", {"LOG_LEVEL": "WARNING"})
    with app.app_context():
        total = db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
        ctx = RequestInfo(ip="127.0.0.1", user_agent="bench", request_id="bench-append")
        actor = uuid.uuid4()
        started = time.perf_counter()
        for _ in range(appends):
            audit.record(
                "auth.login.succeeded",
                ctx,
                actor_user_id=actor,
                target_type="session",
                target_id="s",
                details={"method": "password"},
            )
            db.session.commit()
        rate = appends / (time.perf_counter() - started)
        rep.add(f"(d) audit append at {total} rows: {rate:8.1f} appends/s (serial, one commit each)")

        actors = [
            r[0]
            for r in db.session.execute(
                select(AuditLog.actor_user_id)
                .where(AuditLog.actor_user_id.is_not(None))
                .distinct()
                .limit(200)
            )
        ]
        orgs = [
            r[0]
            for r in db.session.execute(
                select(AuditLog.organization_id)
                .where(AuditLog.organization_id.is_not(None))
                .distinct()
                .limit(100)
            )
        ]
        queries: dict[str, Callable[[int], Any]] = {
            "actor feed, newest 20 (users/me/audit-logs)": lambda i: db.session.execute(
                select(AuditLog)
                .where(AuditLog.actor_user_id == actors[i % len(actors)])
                .order_by(AuditLog.id.desc())
                .limit(20)
            ).all(),
            "actor feed total (meta.total)": lambda i: db.session.execute(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.actor_user_id == actors[i % len(actors)])
            ).scalar_one(),
            "org feed + action filter, newest 20": lambda i: db.session.execute(
                select(AuditLog)
                .where(
                    AuditLog.organization_id == orgs[i % len(orgs)], AuditLog.action == "auth.login.failed"
                )
                .order_by(AuditLog.id.desc())
                .limit(20)
            ).all(),
            "org feed since/until window, newest 20": lambda i: db.session.execute(
                select(AuditLog)
                .where(
                    AuditLog.organization_id == orgs[i % len(orgs)],
                    AuditLog.occurred_at >= datetime.now(UTC) - timedelta(days=90),
                    AuditLog.occurred_at < datetime.now(UTC),
                )
                .order_by(AuditLog.id.desc())
                .limit(20)
            ).all(),
        }
        rep.data["d"] = {"rows": total, "append_per_s": rate, "queries": {}}
        for name, run in queries.items():
            samples = []
            for i in range(200):
                t0 = time.perf_counter()
                run(i)
                samples.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
            p50, p99 = _percentiles(samples)
            rep.data["d"]["queries"][name] = {"p50_ms": p50, "p99_ms": p99}
            rep.add(f"(d) query {name:42s}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")


# --------------------------------------------------------------------------- main


def main() -> int:
    """Run the selected benchmarks and print the ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load phase (default 10)")
    parser.add_argument("--sessions", type=int, default=10_000, help="rows for (c) (default 10000)")
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="rows for (d) (default 10^6)")
    parser.add_argument("--appends", type=int, default=1000, help="appends timed in (d)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    rep = Report()
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"Authy2 bench: {WORKERS} gunicorn workers x {THREADS} threads, bcrypt cost {ROUNDS}, "
        f"{os.cpu_count()} cores, load tool: {'wrk' if shutil.which('wrk') else 'python-threads'}",
        flush=True,
    )
    prepare_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = app_env()
    app = bare = None
    try:
        if only & {"a", "b", "c"}:
            app = Server([str(ROOT / "docker" / "entrypoint.sh")], env, "/api/health")
        if "b" in only:
            bare = Server(
                [
                    str(Path(sys.executable).with_name("gunicorn")),
                    "-c",
                    "gunicorn.conf.py",
                    "bench.bare_app:app",
                ],
                env,
                "/ping",
            )
        if "a" in only:
            bench_login(app, rep, args.duration)
        if "b" in only:
            bench_me(app, bare, rep, args.duration)
        if "c" in only:
            bench_scaling(app, rep, args.duration, args.sessions)
    finally:
        for server in (app, bare):
            if server is not None:
                server.stop()
    if "d" in only:
        bench_audit(rep, args.audit_rows, args.appends)
    RESULTS.mkdir(exist_ok=True)
    load_after = os.getloadavg()
    rep.add(
        f"load average after: {' '.join(f'{x:.2f}' for x in load_after)} (other processes share these cores)"
    )
    stamp = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workers": WORKERS,
        "threads": THREADS,
        "bcrypt_rounds": ROUNDS,
        "cores": os.cpu_count(),
    }
    (RESULTS / "latest.json").write_text(json.dumps({**stamp, **rep.data}, indent=2, default=str))
    print("\n".join(["", "Summary", *rep.lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
