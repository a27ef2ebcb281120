"""A user's remembered OIDC consents: list them, and revoke one (which also revokes its tokens)."""

from __future__ import annotations

from flask import Blueprint, Response

from app import errors
from app.api.common import current_user, login_required, request_info
from app.envelope import success
from app.extensions import db
from app.services import oauth2 as oauth2_service

bp = Blueprint("oauth_consents", __name__, url_prefix="/api/v1/users/me/consents")


@bp.get("")
@login_required
def list_consents() -> Response:
    """The applications the caller has approved, with the scopes approved."""
    items = [
        {
            "client_id": consent.client.client_id,
            "client_name": consent.client.name,
            "scope": consent.scope,
            "granted_at": consent.granted_at.isoformat(),
        }
        for consent in oauth2_service.list_consents(current_user())
    ]
    return success({"consents": items}, "Consents", meta={"total": len(items)})


@bp.delete("/<client_id>")
@login_required
def revoke_consent(client_id: str) -> Response:
    """Forget the consent for one application and revoke the tokens it holds for the caller."""
    if not oauth2_service.revoke_consent(current_user(), client_id, request_info()):
        raise errors.NotFound("Consent not found")
    db.session.commit()
    return success(None, "Consent revoked")
