"""Authentication endpoints: register, login, logout, me, sessions."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.api.common import (
    clear_session_cookies,
    current_session,
    current_user,
    load,
    login_required,
    request_info,
    set_session_cookies,
)
from app.envelope import success
from app.extensions import db
from app.schemas.auth import LoginSchema, RegisterSchema, SessionSchema, UserSchema
from app.security.csrf import csrf_token_for
from app.security.ratelimit import login_email_limit, login_ip_limit, register_limit, sessions_limit
from app.services import auth as auth_service
from app.services import users as user_service

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")
# Built once: a marshmallow Schema() costs ~0.25 ms (it deep-copies its fields), which the profile
# of GET /auth/me showed as its largest CPU cost. Dump-only use is stateless, so sharing is safe.
USER_SCHEMA = UserSchema()
SESSION_SCHEMA = SessionSchema()


@bp.post("/register")
@register_limit
def register() -> Response:
    """Create an account with email and password. 201 with the user; 409 if the email is taken."""
    data = load(RegisterSchema())
    user = user_service.register_user(data["email"], data["password"], data.get("name"), request_info())
    db.session.commit()
    return success({"user": UserSchema().dump(user)}, "Registration successful", 201)


@bp.post("/login")
@login_ip_limit
@login_email_limit
def login() -> Response:
    """Log in with email and password; sets the session cookie and returns the token once."""
    data = load(LoginSchema())
    result = auth_service.login_with_password(data["email"], data["password"], request_info())
    db.session.commit()
    session = SessionSchema().dump({**result.session.__dict__, "current": True})
    session["token"] = result.token
    session["csrf_token"] = csrf_token_for(current_app.config["SECRET_KEY"], result.session.token_hash)
    response = success({"user": UserSchema().dump(result.user), "session": session}, "Login successful")
    set_session_cookies(response, result.token, result.session)
    return response


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Revoke the current session and clear the cookies."""
    auth_service.logout(current_user(), current_session(), request_info())
    db.session.commit()
    response = success(None, "Logged out")
    clear_session_cookies(response)
    return response


@bp.get("/me")
@login_required
def me() -> Response:
    """The authenticated user."""
    return success({"user": USER_SCHEMA.dump(current_user())}, "Current user")


@bp.get("/sessions")
@sessions_limit
@login_required
def list_sessions() -> Response:
    """The caller's live sessions; `current` marks the one making this request."""
    current_id = current_session().id
    records = auth_service.list_sessions(current_user())
    items = [SESSION_SCHEMA.dump({**r.__dict__, "current": r.id == current_id}) for r in records]
    return success({"sessions": items}, "Sessions", meta={"total": len(items)})


@bp.delete("/sessions/<session_id>")
@sessions_limit
@login_required
def revoke_session(session_id: str) -> Response:
    """Revoke one of the caller's sessions (404 for an id that is not theirs)."""
    auth_service.revoke_session(current_user(), session_id, request_info())
    db.session.commit()
    response = success(None, "Session revoked")
    if session_id == current_session().id:
        clear_session_cookies(response)
    return response
