"""Password hashing (bcrypt via Flask-Bcrypt) and the password policy of DESIGN §3."""

from __future__ import annotations

import functools
import string
from importlib import resources

from flask import current_app

from app.extensions import bcrypt

BCRYPT_MAX_BYTES = 72
MIN_LENGTH = 10
MAX_LENGTH = 128  # characters; the 72-byte bcrypt limit usually binds first


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files("app.security").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _character_classes(password: str) -> int:
    """How many of lower, upper, digit and other characters the password uses."""
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    return sum(classes)


def policy_problems(password: str) -> list[str]:
    """Return what is wrong with `password` as user-facing messages (empty when it is acceptable)."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        problems.append(
            f"Password must be at most {BCRYPT_MAX_BYTES} bytes when UTF-8 encoded "
            "(bcrypt ignores anything longer); use fewer or simpler characters."
        )
    if password and _character_classes(password) < 2:
        problems.append(
            "Password must mix at least two kinds of characters (lower-case, upper-case, digits, symbols)."
        )
    lowered = password.lower()
    stem = lowered.rstrip(string.digits + string.punctuation + " ")
    common = common_passwords()
    if lowered in common or (len(stem) >= 6 and stem in common):
        problems.append("Password is too common or based on a common password; choose another.")
    return problems


def hash_password(password: str) -> str:
    """bcrypt hash at BCRYPT_LOG_ROUNDS. Callers validate length first (bcrypt 5 raises past 72 bytes)."""
    # The cost comes from *this* app's config: Flask-Bcrypt keeps log_rounds on its one global
    # instance, so the last app created in the process would otherwise decide it for all of them.
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
    return bcrypt.generate_password_hash(password, rounds=rounds).decode("utf-8")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check `password` against `password_hash`; with no hash, burn the same time and fail."""
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        # bcrypt 5 raises on long input; a too-long password can never have been set.
        _burn_time(password[:1])
        return False
    if not password_hash:
        _burn_time(password)
        return False
    try:
        return bcrypt.check_password_hash(password_hash, password)
    except ValueError:
        return False


def _burn_time(password: str) -> None:
    """Hash against a dummy hash so unknown accounts answer with the same timing."""
    bcrypt.check_password_hash(_dummy_hash(current_app.config["BCRYPT_LOG_ROUNDS"]), password)


@functools.cache
def _dummy_hash(rounds: int) -> str:
    """A hash of a random throwaway password at the configured cost (computed once per cost)."""
    import secrets

    import bcrypt as raw_bcrypt

    return raw_bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), raw_bcrypt.gensalt(rounds)).decode()
