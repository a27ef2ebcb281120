# syntax=docker/dockerfile:1
# Authy2 API image: gunicorn serving wsgi:app as an unprivileged user.
#   docker build -t authy2 .        (docker-compose.yml builds it as the `api` service)

# ---- build stage: compile wheels for the runtime dependencies only (no dev/test packages) ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements/base.txt requirements/production.txt requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r requirements/production.txt

# ---- runtime stage: the venv, the code, a non-root user ----
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_ENV=production \
    LOG_FORMAT=json \
    PORT=5000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/authy2-prometheus
RUN groupadd --system --gid 10001 authy2 \
 && useradd --system --uid 10001 --gid authy2 --home-dir /app --shell /usr/sbin/nologin authy2
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Code stays root-owned and read-only to the app user; only instance/ and the metrics dir are writable.
COPY . /app
RUN chmod 0755 /app/docker/entrypoint.sh \
 && mkdir -p /app/instance /tmp/authy2-prometheus \
 && chown authy2:authy2 /app/instance /tmp/authy2-prometheus
USER 10001:10001
EXPOSE 5000
# /api/health is 200 only when PostgreSQL and the session store answer (503 names the one that does not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '5000'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
