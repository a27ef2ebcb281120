"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from app.models.audit import AuditLog
from app.models.base import Base
from app.models.identity import ExternalIdentity
from app.models.organization import Membership, Organization, Role
from app.models.session import AuthSession
from app.models.sso import SsoConnection, SsoDomain, SsoOneTimeId
from app.models.user import User

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "ExternalIdentity",
    "Membership",
    "Organization",
    "Role",
    "SsoConnection",
    "SsoDomain",
    "SsoOneTimeId",
    "User",
]
