"""WSGI entry point: `gunicorn wsgi:app`, `flask run` (auto-discovered) and `python wsgi.py`."""

from __future__ import annotations

import os

from app import create_app

app = create_app()

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        debug=app.config["ENV_NAME"] == "development" and os.environ.get("FLASK_DEBUG") == "1",
    )
