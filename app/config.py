"""Configuration classes selected by FLASK_ENV, read from the environment (and `.env`)."""

from __future__ import annotations

import os
from typing import Any

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - a known placeholder production refuses
DEFAULT_ENCRYPTION_KEY = "dev-insecure-encryption-key-change-me"  # noqa: S105 - same
DEFAULT_CA_ENCRYPTION_KEY = "dev-insecure-ca-encryption-key-change-me"  # noqa: S105 - same


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run safely (e.g. production with a default secret)."""


def env_str(name: str, default: str | None = None) -> str | None:
    """Return an environment variable, treating an empty value as unset."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    """Return an integer environment variable or `default`; a malformed value is a ConfigError."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    """Return a boolean environment variable (1/true/yes/on) or `default`."""
    raw = env_str(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Return a comma-separated environment variable as a list of trimmed, non-empty items."""
    raw = env_str(name, default) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


def postgres_url_from_parts() -> str | None:
    """Build a PostgreSQL URL from POSTGRES_* variables when POSTGRES_HOST is set."""
    host = env_str("POSTGRES_HOST")
    if not host:
        return None
    user = env_str("POSTGRES_USER", "authy2")
    password = env_str("POSTGRES_PASSWORD", "")
    db = env_str("POSTGRES_DB", "authy2")
    port = env_str("POSTGRES_PORT", "5432")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql+psycopg2://{auth}{host}:{port}/{db}"


class BaseConfig:
    """Settings shared by every environment; subclasses override what differs."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        """Read every setting from the environment at construction (not at import)."""
        self.SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
        self.ENCRYPTION_KEY = env_str("ENCRYPTION_KEY", DEFAULT_ENCRYPTION_KEY)
        self.CA_ENCRYPTION_KEY = env_str("CA_ENCRYPTION_KEY", DEFAULT_CA_ENCRYPTION_KEY)
        self.SQLALCHEMY_DATABASE_URI = self.database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS = self.engine_options()
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        self.REDIS_URL = self.redis_url()
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
        self.BCRYPT_LOG_ROUNDS = env_int("BCRYPT_LOG_ROUNDS", self.default_bcrypt_rounds())
        self.CORS_ORIGINS = env_list("CORS_ORIGINS", "http://localhost:3000")
        self.TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
        self.FRONTEND_URL = env_str("FRONTEND_URL", "http://localhost:3000")
        self.PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:5000")
        # Sessions (DESIGN §3). Idle: 8 hours without a request; absolute: 7 days after login.
        self.AUTH_SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 8 * 3600)
        self.AUTH_SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_TIMEOUT", 7 * 24 * 3600)
        # last_seen_at is written at most this often per session, to keep reads cheap.
        self.AUTH_SESSION_TOUCH_INTERVAL = env_int("SESSION_TOUCH_INTERVAL", 60)
        self.AUTH_COOKIE_NAME = env_str("SESSION_COOKIE_NAME", "authy2_session")
        self.AUTH_COOKIE_SAMESITE = env_str("SESSION_COOKIE_SAMESITE", "Lax")
        self.AUTH_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", self.default_cookie_secure())
        self.AUTH_COOKIE_DOMAIN = env_str("SESSION_COOKIE_DOMAIN")
        self.CSRF_COOKIE_NAME = env_str("CSRF_COOKIE_NAME", "csrf_token")
        self.CSRF_HEADER_NAME = env_str("CSRF_HEADER_NAME", "X-CSRF-Token")
        self.SESSION_COOKIE_SECURE = self.AUTH_COOKIE_SECURE
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.MAIL_FROM = env_str("MAIL_FROM", "Authy2 <no-reply@localhost>")
        self.CONTACT_RECIPIENT = env_str("CONTACT_RECIPIENT", "info@secuird.tech")
        # Mail (issue 5): SMTP delivery through the outbox; no SMTP_HOST = log (dev) or hold (prod).
        self.SMTP_HOST = env_str("SMTP_HOST")
        self.SMTP_USE_SSL = env_bool("SMTP_USE_SSL", False)
        self.SMTP_USE_TLS = env_bool("SMTP_USE_TLS", False)
        self.SMTP_PORT = env_int("SMTP_PORT", 465 if self.SMTP_USE_SSL else 587 if self.SMTP_USE_TLS else 25)
        self.SMTP_USERNAME = env_str("SMTP_USERNAME")
        self.SMTP_PASSWORD = env_str("SMTP_PASSWORD")
        self.SMTP_TIMEOUT = env_int("SMTP_TIMEOUT", 10)
        self.MAIL_DELIVER_IMMEDIATELY = env_bool("MAIL_DELIVER_IMMEDIATELY", True)
        self.MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 8)
        self.MAIL_RETRY_BASE_SECONDS = env_int("MAIL_RETRY_BASE_SECONDS", 30)
        self.MAIL_RETRY_MAX_SECONDS = env_int("MAIL_RETRY_MAX_SECONDS", 3600)
        self.EMAIL_VERIFICATION_TTL = env_int("EMAIL_VERIFICATION_TTL", 48 * 3600)
        self.PASSWORD_RESET_TTL = env_int("PASSWORD_RESET_TTL", 30 * 60)
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        # "json" (one object per line, for aggregators) or "console" (human-readable).
        self.LOG_FORMAT = (env_str("LOG_FORMAT", self.default_log_format()) or "json").lower()
        # GET /metrics: open in development; elsewhere only with METRICS_TOKEN (bearer) set.
        self.METRICS_TOKEN = env_str("METRICS_TOKEN")
        self.METRICS_ENABLED = env_bool("METRICS_ENABLED", self.default_metrics_enabled())
        # PostgreSQL cancels any statement running longer than this (0 disables), so a slow
        # database answers 503 instead of holding a worker until gunicorn kills it.
        self.DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 10_000)
        self.SQLALCHEMY_ENGINE_OPTIONS = self.with_statement_timeout(self.SQLALCHEMY_ENGINE_OPTIONS)
        self.SEED_ON_START = False
        # /api/openapi.json and the Swagger UI at /api/docs (off by default in production).
        self.DOCS_ENABLED = env_bool("DOCS_ENABLED", self.default_docs_enabled())
        # Federation (issue 7): social login providers. A provider is enabled when its client id and
        # secret are both set; endpoint URLs are overridable so tests can run against a local provider.
        self.GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID")
        self.GOOGLE_CLIENT_SECRET = env_str("GOOGLE_CLIENT_SECRET")
        self.GOOGLE_DISCOVERY_URL = env_str(
            "GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration"
        )
        self.GITHUB_CLIENT_ID = env_str("GITHUB_CLIENT_ID")
        self.GITHUB_CLIENT_SECRET = env_str("GITHUB_CLIENT_SECRET")
        self.GITHUB_AUTHORIZE_URL = env_str(
            "GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize"
        )
        self.GITHUB_TOKEN_URL = env_str("GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token")
        self.GITHUB_API_BASE_URL = env_str("GITHUB_API_BASE_URL", "https://api.github.com/")
        self.MICROSOFT_CLIENT_ID = env_str("MICROSOFT_CLIENT_ID")
        self.MICROSOFT_CLIENT_SECRET = env_str("MICROSOFT_CLIENT_SECRET")
        self.MICROSOFT_TENANT = env_str("MICROSOFT_TENANT", "common")
        self.MICROSOFT_DISCOVERY_URL = env_str("MICROSOFT_DISCOVERY_URL")
        # Seconds an outgoing SAML AuthnRequest / OIDC login stays answerable.
        self.SSO_REQUEST_TTL = env_int("SSO_REQUEST_TTL", 600)
        # Who may route an email domain to their org's IdP: "verified-email" (the domain of the
        # admin's own verified address; superadmins any) or "open" (anyone; tests only).
        self.SSO_DOMAIN_CLAIM_POLICY = env_str("SSO_DOMAIN_CLAIM_POLICY", self.default_sso_policy())
        # Let IdP issuer/discovery URLs be http or point at internal addresses (SSRF guard off).
        self.SSO_ALLOW_PRIVATE_ISSUERS = env_bool("SSO_ALLOW_PRIVATE_ISSUERS", self.ENV_NAME != "production")
        # OpenID provider (issue 6). The issuer is PUBLIC_BASE_URL; lifetimes are in seconds.
        self.OAUTH2_CODE_LIFETIME = min(env_int("OAUTH2_CODE_LIFETIME", 60), 60)
        self.OAUTH2_ACCESS_TOKEN_LIFETIME = env_int("OAUTH2_ACCESS_TOKEN_LIFETIME", 3600)
        self.OAUTH2_ID_TOKEN_LIFETIME = env_int("OAUTH2_ID_TOKEN_LIFETIME", 3600)
        self.OAUTH2_REFRESH_TOKEN_LIFETIME = env_int("OAUTH2_REFRESH_TOKEN_LIFETIME", 30 * 24 * 3600)
        # Two tabs refreshing at once both get the same new pair within this window.
        self.OAUTH2_REFRESH_GRACE_SECONDS = env_int("OAUTH2_REFRESH_GRACE_SECONDS", 10)
        self.configure_security()

    def configure_security(self) -> None:
        """Rate limits and account lockout (README "Security"); limit strings use the `limits` syntax."""
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", self.default_ratelimit_enabled())
        # Empty means "REDIS_URL, else memory://" (decided in the factory).
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI")
        self.RATELIMIT_STRATEGY = env_str("RATELIMIT_STRATEGY", "moving-window")
        self.RATELIMIT_LOGIN_IP = env_str("RATELIMIT_LOGIN_IP", "10 per minute")
        self.RATELIMIT_LOGIN_EMAIL = env_str("RATELIMIT_LOGIN_EMAIL", "5 per minute")
        self.RATELIMIT_REGISTER = env_str("RATELIMIT_REGISTER", "5 per minute; 20 per hour")
        self.RATELIMIT_PASSWORD_CHANGE = env_str("RATELIMIT_PASSWORD_CHANGE", "5 per minute")
        self.RATELIMIT_SESSIONS = env_str("RATELIMIT_SESSIONS", "60 per minute")
        self.RATELIMIT_CONTACT = env_str("RATELIMIT_CONTACT", "5 per hour")
        self.RATELIMIT_VERIFY_EMAIL_RESEND = env_str("RATELIMIT_VERIFY_EMAIL_RESEND", "3 per hour")
        self.RATELIMIT_PASSWORD_FORGOT = env_str("RATELIMIT_PASSWORD_FORGOT", "10 per hour")
        # Account lockout: LOCKOUT_THRESHOLD failures within LOCKOUT_WINDOW seconds lock the
        # address for LOCKOUT_DURATION seconds (short on purpose: a lock must not become a DoS).
        self.LOCKOUT_ENABLED = env_bool("LOCKOUT_ENABLED", self.default_ratelimit_enabled())
        self.LOCKOUT_THRESHOLD = env_int("LOCKOUT_THRESHOLD", 5)
        self.LOCKOUT_WINDOW = env_int("LOCKOUT_WINDOW", 15 * 60)
        self.LOCKOUT_DURATION = env_int("LOCKOUT_DURATION", 5 * 60)

    def default_ratelimit_enabled(self) -> bool:
        """Rate limits and lockout are on unless RATELIMIT_ENABLED / LOCKOUT_ENABLED say otherwise."""
        return True

    def default_bcrypt_rounds(self) -> int:
        """bcrypt cost factor when BCRYPT_LOG_ROUNDS is unset."""
        return 12

    def default_sso_policy(self) -> str:
        """Domain claims need proof of control unless SSO_DOMAIN_CLAIM_POLICY says otherwise."""
        return "verified-email"

    def default_cookie_secure(self) -> bool:
        """Whether cookies carry the Secure flag when SESSION_COOKIE_SECURE is unset."""
        return False

    def default_docs_enabled(self) -> bool:
        """Whether the API docs are served when DOCS_ENABLED is unset."""
        return True

    def default_log_format(self) -> str:
        """Log format when LOG_FORMAT is unset: JSON everywhere but development."""
        return "json"

    def default_metrics_enabled(self) -> bool:
        """Whether /metrics exists when METRICS_ENABLED is unset: only behind a token."""
        return self.METRICS_TOKEN is not None

    def with_statement_timeout(self, options: dict[str, Any]) -> dict[str, Any]:
        """Add `-c statement_timeout` to the connect options of a PostgreSQL engine."""
        url = self.SQLALCHEMY_DATABASE_URI or ""
        if self.DB_STATEMENT_TIMEOUT_MS <= 0 or not url.startswith("postgresql"):
            return options
        connect_args = dict(options.get("connect_args", {}))
        extra = f"-c statement_timeout={self.DB_STATEMENT_TIMEOUT_MS}"
        connect_args["options"] = f"{connect_args['options']} {extra}" if "options" in connect_args else extra
        return {**options, "connect_args": connect_args}

    def database_url(self) -> str | None:
        """The SQLAlchemy URL: DATABASE_URL, else one built from POSTGRES_*, else None."""
        return env_str("DATABASE_URL") or postgres_url_from_parts()

    def redis_url(self) -> str | None:
        """REDIS_URL, or None to use the SQL session store."""
        return env_str("REDIS_URL")

    def engine_options(self) -> dict[str, Any]:
        """Engine options: pre-ping so a restarted database is survived by the next request."""
        return {"pool_pre_ping": True}

    def validate(self) -> None:
        """Raise ConfigError when the configuration is unsafe or incomplete."""
        if not self.SQLALCHEMY_DATABASE_URI:
            raise ConfigError("DATABASE_URL (or POSTGRES_HOST) must be set")

    def as_dict(self) -> dict[str, Any]:
        """All upper-case settings, for app.config.from_mapping."""
        names = {n for n in dir(self) if n.isupper()}
        return {n: getattr(self, n) for n in names}


class DevelopmentConfig(BaseConfig):
    """Local development: SQLite at instance/db_file.db and the SQL session store by default."""

    ENV_NAME = "development"
    DEBUG = True

    def default_log_format(self) -> str:
        """Readable lines on a developer's terminal."""
        return "console"

    def default_metrics_enabled(self) -> bool:
        """/metrics is open in development."""
        return True

    def database_url(self) -> str | None:
        """Default to SQLite in the instance folder (the path is made absolute by the factory)."""
        return super().database_url() or "sqlite:///db_file.db"

    def engine_options(self) -> dict[str, Any]:
        """SQLite needs no pool pre-ping; PostgreSQL does."""
        url = self.database_url() or ""
        return {} if url.startswith("sqlite") else super().engine_options()


class TestingConfig(BaseConfig):
    """pytest: a dedicated PostgreSQL database and Redis db number, cheap bcrypt."""

    ENV_NAME = "testing"
    TESTING = True

    def default_bcrypt_rounds(self) -> int:
        """Cheap hashing keeps the suite fast; production uses 12+."""
        return 4

    def default_ratelimit_enabled(self) -> bool:
        """Off in tests (the suite logs in many times); limiter tests turn them on via overrides."""
        return False

    def default_sso_policy(self) -> str:
        """Tests route made-up domains; the domain-claim tests set "verified-email" explicitly."""
        return "open"

    def database_url(self) -> str | None:
        """TEST_DATABASE_URL, defaulting to a local authy2_test database."""
        return env_str("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/authy2_test")

    def redis_url(self) -> str | None:
        """TEST_REDIS_URL, defaulting to Redis db 15 on localhost."""
        return env_str("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class ProductionConfig(BaseConfig):
    """Production: secrets required, Secure cookies, PostgreSQL."""

    ENV_NAME = "production"

    def default_cookie_secure(self) -> bool:
        """Cookies are Secure in production unless explicitly disabled."""
        return True

    def default_docs_enabled(self) -> bool:
        """The API docs are not published in production unless DOCS_ENABLED says so."""
        return False

    def validate(self) -> None:
        """Refuse to start with a missing or default secret, naming the variable."""
        super().validate()
        for name, default in (
            ("SECRET_KEY", DEFAULT_SECRET_KEY),
            ("ENCRYPTION_KEY", DEFAULT_ENCRYPTION_KEY),
            ("CA_ENCRYPTION_KEY", DEFAULT_CA_ENCRYPTION_KEY),
        ):
            value = getattr(self, name)
            if not value or value == default:
                raise ConfigError(f"{name} must be set to a strong random value in production")
            if len(value) < 32:
                raise ConfigError(f"{name} is too short: use at least 32 random characters")
        if self.METRICS_ENABLED and not self.METRICS_TOKEN:
            raise ConfigError("METRICS_TOKEN must be set when METRICS_ENABLED is on in production")


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None) -> BaseConfig:
    """Instantiate and validate the config class for `name` (default: FLASK_ENV, else development)."""
    key = (name or env_str("FLASK_ENV", "development") or "development").strip().lower()
    if key not in CONFIGS:
        raise ConfigError(f"FLASK_ENV must be one of {', '.join(CONFIGS)}, got {key!r}")
    config = CONFIGS[key]()
    config.validate()
    return config
