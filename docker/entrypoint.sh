#!/bin/sh
# Container entry point: optionally migrate, then exec the command (gunicorn by default) as PID 1's
# child-less replacement, so SIGTERM from `docker stop` reaches gunicorn for a graceful shutdown.
set -eu
if [ "${AUTO_MIGRATE:-0}" = "1" ]; then
  python manage.py db upgrade
fi
if [ "$#" -eq 0 ]; then
  set -- gunicorn --config gunicorn.conf.py wsgi:app
fi
exec "$@"
