"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from app.models.audit import AuditLog
from app.models.base import Base
from app.models.keys import CertificateAuthority, SigningKey
from app.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from app.models.organization import Membership, Organization, Role
from app.models.session import AuthSession
from app.models.user import User

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "CertificateAuthority",
    "Membership",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthConsent",
    "OAuthToken",
    "Organization",
    "Role",
    "SigningKey",
    "User",
]
