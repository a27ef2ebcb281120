"""CLI for the OpenID provider: `keys rotate|list|reencrypt`, `ca init|show`, `clients create|list`."""

from __future__ import annotations

import sys

import click
from cryptography import x509
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

keys_cli = AppGroup("keys", help="JWT signing keys.")
ca_cli = AppGroup("ca", help="The internal certificate authority.")
clients_cli = AppGroup("clients", help="OIDC clients (operators).")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Add a new active signing key; retired keys stay in the JWKS until their tokens expire."""
    from app.extensions import db
    from app.services.keys import rotate_signing_keys

    key = rotate_signing_keys()
    db.session.commit()
    click.echo(f"new active signing key: kid={key.kid}")


@keys_cli.command("list")
def keys_list() -> None:
    """Show signing keys (never their private parts)."""
    from app.extensions import db
    from app.models.keys import SigningKey

    for key in db.session.execute(select(SigningKey).order_by(SigningKey.created_at)).scalars():
        until = key.publish_until.isoformat() if key.publish_until else "-"
        click.echo(
            f"{key.kid}\t{key.alg}\t{key.status}\tcreated={key.created_at.isoformat()}\tpublished_until={until}"
        )


@keys_cli.command("reencrypt")
def keys_reencrypt() -> None:
    """Re-encrypt stored private keys under the first ENCRYPTION_KEY / CA_ENCRYPTION_KEY."""
    from app.extensions import db
    from app.security.crypto import DecryptionError
    from app.services.keys import reencrypt_all

    try:
        count = reencrypt_all()
    except DecryptionError as exc:
        click.echo(f"cannot re-encrypt: {exc}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"re-encrypted {count} private keys")


@ca_cli.command("init")
def ca_init() -> None:
    """Create the internal CA (idempotent) and print its certificate fingerprint."""
    from app.extensions import db
    from app.services.keys import certificate_fingerprint, init_ca

    ca, created = init_ca()
    db.session.commit()
    cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    click.echo(f"CA {'created' if created else 'already initialised'}: {ca.name}")
    click.echo(f"SHA-256 fingerprint: {certificate_fingerprint(cert)}")


@ca_cli.command("show")
def ca_show() -> None:
    """Print the CA certificate (PEM) and its details; exit 1 if not initialised."""
    from app.services.keys import certificate_fingerprint, get_ca

    ca = get_ca()
    if ca is None:
        click.echo("the CA is not initialised: run `python manage.py ca init`", err=True)
        sys.exit(1)
    cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    click.echo(f"subject: {cert.subject.rfc4514_string()}")
    click.echo(f"not after: {cert.not_valid_after_utc.isoformat()}")
    click.echo(f"SHA-256 fingerprint: {certificate_fingerprint(cert)}")
    click.echo(ca.certificate_pem.rstrip())


@clients_cli.command("create")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
)
@click.option("--scope", default=None)
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "none"]),
    default="client_secret_basic",
)
@click.option("--client-id", default=None, help="Defaults to a random id.")
@click.option("--no-require-pkce", is_flag=True, help="Allow confidential clients without PKCE.")
def clients_create(
    org_slug: str,
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    grant_types: tuple[str, ...],
    scope: str | None,
    auth_method: str,
    client_id: str | None,
    no_require_pkce: bool,
) -> None:
    """Register a client; prints the secret once."""
    from app import errors
    from app.extensions import db
    from app.models.organization import Organization
    from app.services.context import SYSTEM
    from app.services.oauth_clients import create_client

    org = db.session.execute(select(Organization).where(Organization.slug == org_slug)).scalar_one_or_none()
    if org is None:
        click.echo(f"no organization with slug {org_slug!r}", err=True)
        sys.exit(1)
    data: dict = {
        "name": name,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "token_endpoint_auth_method": auth_method,
        "require_pkce": not no_require_pkce,
    }
    if grant_types:
        data["grant_types"] = list(grant_types)
    if scope:
        data["scope"] = scope
    try:
        created = create_client(org, data, SYSTEM, client_id=client_id)
    except errors.AppError as exc:
        db.session.rollback()
        click.echo(f"error: {exc.message} {exc.details or ''}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"client_id: {created.client.client_id}")
    if created.secret:
        click.echo(f"client_secret: {created.secret}  (shown once; store it now)")


@clients_cli.command("list")
def clients_list() -> None:
    """List clients (never secrets)."""
    from app.extensions import db
    from app.models.oauth import OAuthClient

    for client in db.session.execute(select(OAuthClient).order_by(OAuthClient.created_at)).scalars():
        state = "active" if client.is_active else "disabled"
        click.echo(f"{client.client_id}\t{client.name}\t{client.token_endpoint_auth_method}\t{state}")


def register(app: Flask) -> None:
    """Attach the OIDC provider's commands."""
    app.cli.add_command(keys_cli)
    app.cli.add_command(ca_cli)
    app.cli.add_command(clients_cli)
