"""gunicorn settings for Authy2, read from the environment (used by the Docker image and bench/).

    gunicorn -c gunicorn.conf.py wsgi:app

GUNICORN_BIND (or PORT), GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT,
GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_MAX_REQUESTS, GUNICORN_ACCESS_LOG.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile


def _int(name: str, default: int) -> int:
    """An integer setting; a malformed value stops gunicorn with the variable's name."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 5000)}"
# bcrypt makes login CPU-bound: one process per core, plus one to use a core while another waits
# on PostgreSQL/Redis (bench/: login reached 0.92 of raw bcrypt with cores + 1, ~0.89 with cores).
workers = _int("GUNICORN_WORKERS", (os.cpu_count() or 1) + 1)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow forever (0 disables).
max_requests = _int("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = max_requests // 10
# The heartbeat file on tmpfs: a container's overlay filesystem can stall it and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs, not a temp file

# The app writes one structured line per request (app.access: method, path, status, duration_ms,
# request_id, user_id). gunicorn's own access log is off unless GUNICORN_ACCESS_LOG names a file
# or "-"; its format then also carries the request id and never the query string (%(U)s is the
# path alone), because query strings can hold tokens.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = (
    '{"remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,"bytes":"%(B)s",'
    '"duration_ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
)
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _log_format() -> str:
    """LOG_FORMAT as the app reads it: console in development, JSON elsewhere."""
    default = "console" if os.environ.get("FLASK_ENV", "development") == "development" else "json"
    return (os.environ.get("LOG_FORMAT") or default).lower()


if _log_format() == "json":
    # gunicorn's own lines (boot, worker exits, timeouts) as JSON too, like the app's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "app.logging_setup.JsonFormatter"},
            "plain": {"format": "%(message)s"},
        },
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "access_console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "WARNING", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {
                # Silent unless GUNICORN_ACCESS_LOG asks for it (the app already logs each request).
                "level": "INFO" if accesslog else "CRITICAL",
                "handlers": ["access_console"] if accesslog else [],
                "propagate": False,
            },
        },
    }

# Prometheus multiprocess mode: every worker writes its counters to files in one directory and
# /metrics sums them. The variable must be set before prometheus_client is imported (by the app,
# in the workers), which is why it is done here, in the master.
_own_multiproc_dir = None
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_multiproc_dir = tempfile.mkdtemp(prefix="authy2-prom-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_multiproc_dir
# Imported now, in the master, not inside child_exit: that hook runs from the SIGCHLD handler, and a
# second worker exiting mid-import re-enters it and leaves a half-imported module (master exits 1).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    from prometheus_client import multiprocess as _prom_multiprocess
else:
    _prom_multiprocess = None


def on_starting(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """Start with empty metric files: values from a previous run must not be added in."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def on_exit(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """Remove the metrics directory this config created (a configured one is left alone)."""
    if _own_multiproc_dir:
        shutil.rmtree(_own_multiproc_dir, ignore_errors=True)


def child_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn's Arbiter and Worker
    """Tell prometheus_client a worker is gone (its live gauges stop counting)."""
    if _prom_multiprocess is not None:
        _prom_multiprocess.mark_process_dead(worker.pid)
