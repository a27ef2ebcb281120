"""Account mail flows under /api/v1/auth: email verification and password reset."""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.common import current_user, load, login_required, request_info
from app.envelope import success
from app.extensions import db
from app.schemas.account import PasswordForgotSchema, PasswordResetSchema, VerifyEmailSchema
from app.security.ratelimit import password_forgot_limit, verify_email_resend_limit
from app.services import account as account_service

bp = Blueprint("account", __name__, url_prefix="/api/v1/auth")

FORGOT_MESSAGE = "If an account exists for this address, we have emailed a link to reset its password"


@bp.post("/verify-email")
def verify_email() -> Response:
    """Confirm an email address with the token from the verification mail (single use)."""
    data = load(VerifyEmailSchema())
    user = account_service.verify_email(data["token"], request_info())
    db.session.commit()
    return success({"email_verified": user.email_verified}, "Email address verified")


@bp.post("/verify-email/resend")
@verify_email_resend_limit
@login_required
def resend_verification() -> Response:
    """Mail a new verification link to the caller's address; 409 if already verified."""
    account_service.resend_verification(current_user(), request_info())
    db.session.commit()
    return success(None, "Verification email sent", 202)


@bp.post("/password/forgot")
@password_forgot_limit
def forgot_password() -> Response:
    """Mail a reset link if the account exists; the answer is identical either way (202)."""
    data = load(PasswordForgotSchema())
    account_service.request_password_reset(data["email"], request_info())
    db.session.commit()
    return success(None, FORGOT_MESSAGE, 202)


@bp.post("/password/reset")
def reset_password() -> Response:
    """Set a new password with the token from the reset mail; every session is revoked."""
    data = load(PasswordResetSchema())
    revoked = account_service.reset_password(data["token"], data["new_password"], request_info())
    db.session.commit()
    return success({"sessions_revoked": revoked}, "Password has been reset; please log in")
