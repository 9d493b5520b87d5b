"""The audit signing key (Ed25519, kept outside the database) and the public keys that verify it.

* The **signing key** signs anchors and export manifests. By default it is generated on first use
  into ``<data_dir>/audit/signing-key.pem`` (directory 0700, file 0600); a configured
  ``GATEWAY_AUDIT_KEY_FILE`` (a file a secrets manager mounts) is loaded and never generated.
* The **keyring** is what verifies: the current key's public half plus every retired key kept in a
  JWKS file (``GATEWAY_AUDIT_TRUSTED_KEYS_FILE``). Nothing in the database is ever trusted as a
  key, so someone who can write the database can delete anchors but not forge one.
* **Rotation** moves the current public key into the JWKS (status ``retired``) and writes a new
  private key in place; old anchors and manifests keep verifying.

Key ids are RFC 7638 JWK thumbprints; signatures are base64url without padding.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.audit.chain import rfc3339
from gateway.settings import Settings

logger = logging.getLogger(__name__)


class AuditKeyError(RuntimeError):
    """The signing key or the keyring cannot be loaded (missing, unreadable, not Ed25519)."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The OKP JWK (RFC 8037) of ``public``, with its thumbprint as ``kid``."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw(public))}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True)  # RFC 7638: required members, sorted
    return {**jwk, "kid": b64url(hashlib.sha256(canonical.encode()).digest()), "use": "sig", "alg": "EdDSA"}


@dataclass(frozen=True)
class AuditSigner:
    """The private key that signs anchors and manifests."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return public_jwk(self.public_key)["kid"]

    def sign(self, payload: bytes) -> str:
        """The Ed25519 signature of ``payload``, base64url."""
        return b64url(self.private_key.sign(payload))


class Keyring:
    """Public keys that verify audit signatures, by key id."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], status: Mapping[str, dict[str, Any]] | None = None):
        self._keys = dict(keys)
        self._status = dict(status or {})

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, key_id: str, payload: bytes, signature: str) -> bool:
        """True when ``signature`` is ``key_id``'s signature of ``payload`` and ``key_id`` is trusted."""
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            key.verify(_unb64url(signature), payload)
        except (InvalidSignature, ValueError):
            return False
        return True

    def with_current(self, public: Ed25519PublicKey) -> Keyring:
        """This keyring plus ``public`` marked as the current key."""
        kid = public_jwk(public)["kid"]
        return Keyring({**self._keys, kid: public}, {**self._status, kid: {"status": "current"}})

    def jwks(self) -> dict[str, Any]:
        """Every trusted key as a JWKS, each with its ``status`` (``current`` or ``retired``)."""
        keys = [{**public_jwk(k), **self._status.get(kid, {"status": "retired"})} for kid, k in self._keys.items()]
        return {"keys": sorted(keys, key=lambda k: (k["status"] != "current", k["kid"]))}

    @classmethod
    def from_jwks(cls, data: Mapping[str, Any]) -> Keyring:
        """Keys from a JWKS document (only OKP/Ed25519 entries; their ``kid`` is recomputed, never trusted)."""
        keys: dict[str, Ed25519PublicKey] = {}
        status: dict[str, dict[str, Any]] = {}
        for entry in data.get("keys", []):
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue
            public = Ed25519PublicKey.from_public_bytes(_unb64url(str(entry["x"])))
            kid = public_jwk(public)["kid"]
            keys[kid] = public
            status[kid] = {k: entry[k] for k in ("status", "retired_at") if k in entry}
        return cls(keys, status)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """A JWKS file, or a PEM public key, as a keyring (what ``verify-export --public-key`` reads).

        Raises:
            AuditKeyError: the file is neither.
        """
        data = path.read_bytes()
        if data.lstrip().startswith(b"{"):
            return cls.from_jwks(json.loads(data))
        try:
            public = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise AuditKeyError(f"{path} is neither a JWKS nor a PEM public key") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise AuditKeyError(f"{path} is not an Ed25519 public key")
        return cls({public_jwk(public)["kid"]: public})


def load_signer(settings: Settings, *, create: bool = True) -> AuditSigner:
    """The signing key; generated in the data dir on first use unless a key file is configured.

    Raises:
        AuditKeyError: a configured key file is missing or is not an Ed25519 private key.
    """
    path = settings.audit_key_file
    if not path.exists():
        if settings.audit.key_file is not None or not create:
            raise AuditKeyError(f"audit signing key {path} does not exist")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, _pem(Ed25519PrivateKey.generate()), replace=False)
        logger.info("generated an audit signing key in %s", path.parent)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("audit signing key %s had mode %o; tightened to 0600", path, mode)
        path.chmod(0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise AuditKeyError(f"{path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} is not an Ed25519 private key")
    return AuditSigner(key)


def load_keyring(settings: Settings) -> Keyring:
    """The retired keys of the trusted-keys file plus the current key (when there is one)."""
    trusted = settings.audit_trusted_keys_file
    ring = Keyring.from_jwks(json.loads(trusted.read_text())) if trusted.exists() else Keyring({})
    if settings.audit_key_file.exists():
        ring = ring.with_current(load_signer(settings, create=False).public_key)
    return ring


def rotate_key(settings: Settings) -> tuple[str, str]:
    """Retire the current key (its public half goes to the trusted-keys file) and write a new one.

    Returns:
        The old and the new key id.
    """
    old = load_signer(settings)
    trusted = settings.audit_trusted_keys_file
    jwks = json.loads(trusted.read_text()) if trusted.exists() else {"keys": []}
    retired = {**public_jwk(old.public_key), "status": "retired", "retired_at": rfc3339(datetime.now(UTC))}
    jwks["keys"] = [k for k in jwks["keys"] if k.get("kid") != old.key_id] + [retired]
    trusted.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The retired public key is written (and synced) before the private key is replaced: a crash
    # in between leaves the old key current and already trusted, never an unverifiable anchor.
    _write_private(trusted, json.dumps(jwks, indent=2).encode(), replace=True, mode=0o644)
    new = Ed25519PrivateKey.generate()
    _write_private(settings.audit_key_file, _pem(new), replace=True)
    return old.key_id, AuditSigner(new).key_id


def _pem(key: Ed25519PrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _write_private(path: Path, data: bytes, *, replace: bool, mode: int = 0o600) -> None:
    """Write ``data`` to a temporary file created with ``mode``, then move or link it into place.

    With ``replace=False`` two processes generating at once both keep whichever key landed first
    (``link`` refuses to overwrite); nobody ever reads a half-written file.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
