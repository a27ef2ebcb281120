"""Field encryption with rotation (MultiFernet over HKDF-derived keys) and keyed hashes."""

from __future__ import annotations

import pytest

from app.security.crypto import DecryptionError, FieldCipher, keyed_hashes, matches_keyed_hash


def test_cipher_roundtrip_and_ciphertext_hides_plaintext():
    cipher = FieldCipher("a-secret-key-of-some-length", "test")
    token = cipher.encrypt(b"-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE" not in token
    assert cipher.decrypt(token) == b"-----BEGIN PRIVATE KEY-----"


def test_rotation_first_key_encrypts_all_keys_decrypt():
    old = FieldCipher("old-secret", "test").encrypt(b"payload")
    rotating = FieldCipher("new-secret, old-secret", "test")
    assert rotating.decrypt(old) == b"payload"
    rotated = rotating.rotate(old)
    assert FieldCipher("new-secret", "test").decrypt(rotated) == b"payload"
    with pytest.raises(DecryptionError):
        FieldCipher("new-secret", "test").decrypt(old)


def test_purposes_do_not_share_keys():
    token = FieldCipher("same-secret", "signing-keys").encrypt(b"x")
    with pytest.raises(DecryptionError):
        FieldCipher("same-secret", "ca").decrypt(token)


def test_cipher_needs_a_secret_and_rejects_garbage():
    with pytest.raises(ValueError):
        FieldCipher(" , ", "test")
    with pytest.raises(DecryptionError):
        FieldCipher("k", "test").decrypt("not-a-fernet-token")


def test_keyed_hash_survives_key_rotation_and_rejects_wrong_values():
    stored = keyed_hashes("old-secret", "client", "s3cret")[0]
    assert len(stored) == 64 and stored != "s3cret"
    assert matches_keyed_hash("new-secret,old-secret", "client", "s3cret", stored)
    assert not matches_keyed_hash("new-secret,old-secret", "client", "s3cret!", stored)
    assert not matches_keyed_hash("new-secret", "client", "s3cret", stored)
    assert not matches_keyed_hash("old-secret", "client", "s3cret", None)
