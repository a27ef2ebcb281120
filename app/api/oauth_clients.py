"""OIDC client management for organization admins: /api/v1/organizations/:id/clients."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from app import errors
from app.api.common import current_user, load, login_required, pagination_args, request_info
from app.envelope import pagination_meta, success
from app.extensions import db
from app.schemas.oauth_clients import ClientCreateSchema, ClientSchema, ClientUpdateSchema
from app.services import oauth_clients as client_service

bp = Blueprint("oauth_clients", __name__, url_prefix="/api/v1/organizations")


def _org_id(raw: str) -> uuid.UUID:
    """Parse the org id path segment; a malformed id is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise errors.NotFound("Organization not found") from exc


def _dump(client: object, secret: str | None = None) -> dict:
    data = ClientSchema().dump(client)
    if secret is not None:
        data["client_secret"] = secret
    return {"client": data}


@bp.post("/<org_id>/clients")
@login_required
def create_client(org_id: str) -> Response:
    """Register an OIDC client; the response carries client_secret once."""
    data = load(ClientCreateSchema())
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    created = client_service.create_client(org, data, request_info(), actor=current_user())
    db.session.commit()
    return success(_dump(created.client, created.secret), "Client created; store the secret now", 201)


@bp.get("/<org_id>/clients")
@login_required
def list_clients(org_id: str) -> Response:
    """The organization's clients (paginated)."""
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    page, per_page = pagination_args()
    rows, total = client_service.list_org_clients(org, page, per_page)
    items = [ClientSchema().dump(row) for row in rows]
    return success({"clients": items}, "Clients", meta=pagination_meta(page, per_page, total))


@bp.get("/<org_id>/clients/<client_id>")
@login_required
def get_client(org_id: str, client_id: str) -> Response:
    """One client of the organization."""
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    return success(_dump(client_service.get_org_client(org, client_id)), "Client")


@bp.patch("/<org_id>/clients/<client_id>")
@login_required
def update_client(org_id: str, client_id: str) -> Response:
    """Change a client's settings (deactivating it revokes its tokens)."""
    data = load(ClientUpdateSchema())
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    client = client_service.get_org_client(org, client_id)
    client_service.update_client(client, data, request_info(), current_user())
    db.session.commit()
    return success(_dump(client), "Client updated")


@bp.delete("/<org_id>/clients/<client_id>")
@login_required
def delete_client(org_id: str, client_id: str) -> Response:
    """Delete a client with its codes, tokens and consents."""
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    client = client_service.get_org_client(org, client_id)
    client_service.delete_client(client, request_info(), current_user())
    db.session.commit()
    return success(None, "Client deleted")


@bp.post("/<org_id>/clients/<client_id>/rotate-secret")
@login_required
def rotate_secret(org_id: str, client_id: str) -> Response:
    """Issue a new secret (shown once); the old one stops working immediately."""
    org = client_service._require_org_admin(_org_id(org_id), current_user())
    client = client_service.get_org_client(org, client_id)
    rotated = client_service.rotate_secret(client, request_info(), current_user())
    db.session.commit()
    return success(_dump(rotated.client, rotated.secret), "Secret rotated; store it now")
