"""Create or upgrade the schema by running the Alembic migrations (never create_all)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask_migrate import upgrade  # noqa: E402 - the path above must be set first

from app import create_app  # noqa: E402 - same


def main() -> None:
    """Upgrade the configured database to the newest revision."""
    app = create_app()
    with app.app_context():
        upgrade()
        print(f"database upgraded: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


if __name__ == "__main__":
    main()
