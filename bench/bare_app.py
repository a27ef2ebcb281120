"""The baseline for benchmark (b): a bare Flask app answering a small JSON body, nothing else.

Served by the same gunicorn.conf.py (same workers/threads) as the real app:
    gunicorn -c gunicorn.conf.py bench.bare_app:app
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping():  # noqa: ANN201 - a Flask view
    """A JSON body of about the size /api/v1/auth/me returns."""
    return jsonify(
        {
            "version": "1.0",
            "success": True,
            "code": 200,
            "message": "pong",
            "data": {"user": {"id": "00000000-0000-4000-8000-000000000000", "email": "bench@example.com"}},
        }
    )
