"""The audit keyring: what it trusts, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.anchors import sign_anchor
from gateway.audit.keys import AuditKeyError, AuditSigner, Keyring, public_jwk
from gateway.audit.log import AuditEntry

SIGNER = AuditSigner(Ed25519PrivateKey.generate())
RING = Keyring({SIGNER.key_id: SIGNER.public_key})


def test_a_signature_verifies_only_for_its_payload_and_key() -> None:
    signature = SIGNER.sign(b"payload")
    assert RING.verify(SIGNER.key_id, b"payload", signature)
    assert not RING.verify(SIGNER.key_id, b"payload!", signature)
    assert not RING.verify("someone-else", b"payload", signature)
    assert not RING.verify(SIGNER.key_id, b"payload", "not base64 !")


@pytest.mark.parametrize("field", ["sequence", "row_hash", "kind", "anchored_at", "details"])
def test_changing_any_signed_field_of_an_anchor_breaks_it(field: str) -> None:
    anchor = sign_anchor(SIGNER, AuditEntry(7, "a" * 64), "periodic", {"n": 1})
    assert anchor.verified_by(RING)
    changed = {"sequence": 8, "row_hash": "b" * 64, "kind": "shutdown", "anchored_at": "2020-01-01T00:00:00.000000Z"}
    forged = anchor.__class__(**{**anchor.to_json(), field: changed.get(field, {"n": 2})})
    assert not forged.verified_by(RING)


def test_a_jwks_kid_is_recomputed_never_trusted() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    jwk = {**public_jwk(other), "kid": SIGNER.key_id}  # claims to be our key
    ring = Keyring.from_jwks({"keys": [jwk]})
    assert SIGNER.key_id not in ring.key_ids
    assert not ring.verify(SIGNER.key_id, b"x", SIGNER.sign(b"x"))


def test_a_non_ed25519_public_key_file_is_refused(tmp_path: Path) -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    (tmp_path / "junk.pem").write_text("hello")
    for name in ("ec.pem", "junk.pem"):
        with pytest.raises(AuditKeyError):
            Keyring.from_file(tmp_path / name)


def test_the_jwks_lists_the_current_key_first() -> None:
    retired = Keyring.from_jwks(
        {"keys": [{**public_jwk(Ed25519PrivateKey.generate().public_key()), "status": "retired"}]}
    )
    keys = retired.with_current(SIGNER.public_key).jwks()["keys"]
    assert [k["status"] for k in keys] == ["current", "retired"]
    assert keys[0]["kid"] == SIGNER.key_id and keys[0]["crv"] == "Ed25519" and "d" not in keys[0]
