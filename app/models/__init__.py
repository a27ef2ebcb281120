"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from app.models.audit import AuditLog
from app.models.base import Base
from app.models.contact import ContactEnquiry
from app.models.identity import ExternalIdentity
from app.models.keys import CertificateAuthority, SigningKey
from app.models.mail import OutboxMessage
from app.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from app.models.organization import Membership, Organization, Role
from app.models.session import AuthSession
from app.models.sso import SsoConnection, SsoDomain, SsoOneTimeId
from app.models.throttle import LoginThrottle
from app.models.token import OneTimeToken
from app.models.user import User

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "CertificateAuthority",
    "ContactEnquiry",
    "ExternalIdentity",
    "LoginThrottle",
    "Membership",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthConsent",
    "OAuthToken",
    "OneTimeToken",
    "Organization",
    "OutboxMessage",
    "Role",
    "SigningKey",
    "SsoConnection",
    "SsoDomain",
    "SsoOneTimeId",
    "User",
]
