"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from app.models.audit import AuditLog
from app.models.base import Base
from app.models.contact import ContactEnquiry
from app.models.mail import OutboxMessage
from app.models.organization import Membership, Organization, Role
from app.models.session import AuthSession
from app.models.throttle import LoginThrottle
from app.models.token import OneTimeToken
from app.models.user import User

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "ContactEnquiry",
    "LoginThrottle",
    "Membership",
    "OneTimeToken",
    "Organization",
    "OutboxMessage",
    "Role",
    "User",
]
