"""Signing keys, the internal CA, the seed and the operator CLI (keys, ca, clients)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models.keys import CertificateAuthority, KeyStatus, SigningKey
from app.models.oauth import OAuthClient
from app.services import keys as key_service
from app.services.oauth_clients import check_client_secret
from app.services.seed import seed_all


def test_signing_key_private_part_is_encrypted_at_rest(app):
    with app.app_context():
        key = key_service.active_signing_key()
        db.session.commit()
        assert "PRIVATE KEY" not in key.private_key_encrypted
        assert key_service.private_key_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")
        jwks = key_service.jwks()
        assert [k["kid"] for k in jwks["keys"]] == [key.kid]
        assert "d" not in jwks["keys"][0]
        db.session.remove()


def test_rotation_retires_old_key_but_keeps_it_published_until_tokens_expire(app):
    with app.app_context():
        first = key_service.active_signing_key()
        second = key_service.rotate_signing_keys()
        db.session.commit()
        db.session.refresh(first)
        assert first.status == KeyStatus.RETIRED and second.status == KeyStatus.ACTIVE
        assert first.publish_until is not None and first.retired_at is not None
        assert {k["kid"] for k in key_service.jwks()["keys"]} == {first.kid, second.kid}
        first.publish_until = first.retired_at  # its tokens have all expired
        db.session.commit()
        assert {k["kid"] for k in key_service.jwks()["keys"]} == {second.kid}
        assert key_service.active_signing_key().kid == second.kid
        db.session.remove()


def test_reencrypt_after_encryption_key_rotation(app):
    with app.app_context():
        kid = key_service.active_signing_key().kid
        key_service.init_ca()
        db.session.commit()
        db.session.remove()
    old_key = app.config["ENCRYPTION_KEY"]
    rotating = create_app("testing", {"ENCRYPTION_KEY": f"brand-new-encryption-key-0123456789,{old_key}"})
    with rotating.app_context():
        assert key_service.reencrypt_all() == 2
        db.session.commit()
        db.session.remove()
    key_service._pem_cache.clear()  # force real decryption below
    only_new = create_app("testing", {"ENCRYPTION_KEY": "brand-new-encryption-key-0123456789"})
    with only_new.app_context():
        key = db.session.execute(select(SigningKey).where(SigningKey.kid == kid)).scalar_one()
        assert key_service.private_key_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")
        db.session.remove()
    key_service._pem_cache.clear()


def test_ca_issues_certificates_signed_by_its_encrypted_key(app):
    subject_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with app.app_context():
        pem = key_service.issue_certificate("sp.acme-corp.example", subject_key.public_key(), days=30)
        ca = db.session.execute(select(CertificateAuthority)).scalar_one()
        assert "PRIVATE KEY" not in ca.private_key_encrypted
        ca_cert = key_service.ca_certificate()
        db.session.commit()
        db.session.remove()
    cert = x509.load_pem_x509_certificate(pem.encode())
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sp.acme-corp.example"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 31
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_ca_accepts_pem_and_ec_public_keys_and_validates_input(app):
    import pytest

    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    from cryptography.hazmat.primitives import serialization

    ec_pem = ec_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with app.app_context():
        assert "BEGIN CERTIFICATE" in key_service.issue_certificate("ec-sp", ec_pem.decode())
        with pytest.raises(ValueError):
            key_service.issue_certificate("", ec_key)
        with pytest.raises(ValueError):
            key_service.issue_certificate("x", ec_key, days=0)
        db.session.rollback()
        db.session.remove()


def test_ca_key_is_not_readable_with_the_signing_key_secret(app):
    import pytest

    from app.security.crypto import DecryptionError, FieldCipher

    with app.app_context():
        ca, created = key_service.init_ca()
        assert created and key_service.init_ca()[1] is False
        db.session.commit()
        with pytest.raises(DecryptionError):
            FieldCipher(app.config["ENCRYPTION_KEY"], "ca").decrypt(ca.private_key_encrypted)
        db.session.remove()


def test_cli_keys_ca_and_clients(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0 and "new active signing key" in result.output
    assert "active" in runner.invoke(args=["keys", "list"]).output
    result = runner.invoke(args=["ca", "show"])
    assert result.exit_code == 1
    assert "CA created" in runner.invoke(args=["ca", "init"]).output
    shown = runner.invoke(args=["ca", "show"])
    assert shown.exit_code == 0 and "BEGIN CERTIFICATE" in shown.output and "PRIVATE" not in shown.output
    assert "re-encrypted" in runner.invoke(args=["keys", "reencrypt"]).output
    with app.app_context():
        seed_all()
        db.session.remove()
    created = runner.invoke(
        args=[
            "clients",
            "create",
            "--org",
            "acme-corp",
            "--name",
            "Ops app",
            "--redirect-uri",
            "https://ops.example/cb",
        ]
    )
    assert created.exit_code == 0, created.output
    assert "client_secret:" in created.output
    bad = runner.invoke(
        args=["clients", "create", "--org", "acme-corp", "--name", "x", "--redirect-uri", "http://evil/cb"]
    )
    assert bad.exit_code == 1
    missing = runner.invoke(args=["clients", "create", "--org", "no-such-org", "--name", "x"])
    assert missing.exit_code == 1
    assert "acme-portal-001" in runner.invoke(args=["clients", "list"]).output


def test_seed_registers_acme_portal_client_idempotently(app):
    with app.app_context():
        seed_all()
        seed_all()
        clients = (
            db.session.execute(select(OAuthClient).where(OAuthClient.client_id == "acme-portal-001"))
            .scalars()
            .all()
        )
        assert len(clients) == 1
        client = clients[0]
        assert check_client_secret(client, "acme_secret_portal_2024")
        assert not check_client_secret(client, "acme_secret_portal_2025")
        assert client.secret_hash != "acme_secret_portal_2024"
        assert "http://localhost:8080/callback" in client.redirect_uris
        from app.models.organization import Organization

        org = db.session.get(Organization, client.organization_id)
        assert org.slug == "acme-corp"
        db.session.remove()
