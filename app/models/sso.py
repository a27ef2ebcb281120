"""Enterprise single sign-on: one SAML or OIDC connection per organization."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, new_uuid, utcnow


class SsoType(enum.StrEnum):
    """The protocol of a connection."""

    SAML = "saml"
    OIDC = "oidc"


class SsoConnection(Base):
    """An organization's IdP. Secrets (OIDC client secret, SP private key) are stored encrypted."""

    __tablename__ = "sso_connections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    default_role: Mapped[str] = mapped_column(String(16), nullable=False, default="member")
    # Maps our fields (email, name, first_name, last_name) to the IdP's attribute or claim names.
    attribute_mapping: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # IdP-initiated (unsolicited) SAML responses are refused unless this is true.
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # SAML
    idp_entity_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    idp_sso_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    idp_x509_cert: Mapped[str | None] = mapped_column(Text, nullable=True)
    sp_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)
    sp_private_key_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    # OIDC
    oidc_issuer: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    oidc_discovery_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    oidc_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    oidc_client_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    oidc_scopes: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    domains: Mapped[list[SsoDomain]] = relationship(
        back_populates="connection", cascade="all, delete-orphan", passive_deletes=True
    )


class SsoDomain(Base):
    """An email domain routed to a connection (home-realm discovery); a domain routes to one org only."""

    __tablename__ = "sso_domains"
    __table_args__ = (Index("ix_sso_domains_connection_id", "connection_id"),)

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE"), nullable=False
    )

    connection: Mapped[SsoConnection] = relationship(back_populates="domains")


class SsoOneTimeId(Base):
    """Single-use ids (outstanding AuthnRequest ids, consumed assertion ids) when Redis is absent."""

    __tablename__ = "sso_one_time_ids"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
