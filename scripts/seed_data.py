"""Seed the demo data: `python -m scripts.seed_data` or `python scripts/seed_data.py` (idempotent)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app  # noqa: E402 - the path above must be set first
from app.services.seed import seed_all  # noqa: E402 - same


def main() -> None:
    """Create whatever demo data is missing and print what happened."""
    app = create_app()
    with app.app_context():
        for line in seed_all():
            print(line)


if __name__ == "__main__":
    main()
