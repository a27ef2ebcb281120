"""Key material the app generates: JWT signing keys and the internal certificate authority."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_uuid, utcnow


class KeyStatus(enum.StrEnum):
    """An active key signs; a retired key only verifies until `publish_until`."""

    ACTIVE = "active"
    RETIRED = "retired"


class SigningKey(Base):
    """An asymmetric JWT signing key; the private part is encrypted with ENCRYPTION_KEY."""

    __tablename__ = "signing_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    kid: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    alg: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[KeyStatus] = mapped_column(
        Enum(KeyStatus, name="signing_key_status", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=KeyStatus.ACTIVE,
    )
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A retired key stays in the JWKS until every token it signed has expired.
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CertificateAuthority(Base):
    """The internal CA (one row): its certificate and its private key encrypted with CA_ENCRYPTION_KEY."""

    __tablename__ = "certificate_authorities"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text, nullable=False)
    private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, server_default=func.now()
    )
