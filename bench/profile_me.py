"""Profile the hot path of benchmark (b): authenticated GET /api/v1/auth/me, in process.

    python bench/profile_me.py [--requests 2000] [--html out.html]

Uses the same production settings and bench database/Redis as bench/run.py; prints pyinstrument's
call tree so the expensive frames of one request are visible without the HTTP server around them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import PASSWORD, app_env, prepare_database  # noqa: E402


def main() -> int:
    """Log in once, then profile N requests to /auth/me."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--html", help="also write an HTML report here")
    args = parser.parse_args()
    prepare_database()
    os.environ.update({k: v for k, v in app_env().items() if k != "PATH"})
    from pyinstrument import Profiler

    from app import create_app

    app = create_app("production", {"LOG_LEVEL": "WARNING"})
    client = app.test_client()
    email = "bench-profile@example.com"
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.get_json()['data']['session']['token']}"}
    for _ in range(50):  # warm up pools and caches
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for _ in range(args.requests):
        client.get("/api/v1/auth/me", headers=headers)
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(
        f"{args.requests} requests in {elapsed:.2f}s = {args.requests / elapsed:.0f} req/s in process "
        f"({elapsed / args.requests * 1000:.2f} ms each, profiler on)"
    )
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
