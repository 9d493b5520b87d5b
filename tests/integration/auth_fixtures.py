"""Test doubles for authentication: a real HTTP identity provider (discovery + JWKS) and signing keys.

``FakeIdP`` is a real ``ThreadingHTTPServer`` on 127.0.0.1; its JWKS can be swapped at any time
(key rotation) and it counts every request per path, so tests can assert what was (never) fetched.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
INTROSPECTION_PATH = "/introspect"
INTROSPECTION_CLIENT = ("gateway-rs", "introspection-secret")
AUDIENCE = "gateway"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key, the algorithm it signs with, and its public JWK (with ``kid``)."""

    kid: str
    alg: str
    private: PrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        public = json.loads(get_default_algorithms()[self.alg].to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: Mapping[str, Any], **headers: Any) -> str:
        """A compact JWS over ``claims``; ``headers`` override/extend the header (``None`` removes one)."""
        header = {k: v for k, v in {"kid": self.kid, **headers}.items() if v is not None}
        return jwt.encode(dict(claims), self.private, algorithm=self.alg, headers=header)


def make_key(kid: str, alg: str) -> SigningKey:
    """A fresh key for ``alg`` (RS*/PS* → RSA 2048, ES256 → P-256, EdDSA → Ed25519)."""
    private: PrivateKey
    if alg.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(alg)
    return SigningKey(kid=kid, alg=alg, private=private)


def claims_for(issuer: str, **overrides: Any) -> dict[str, Any]:
    """Valid access-token claims for ``issuer``; an override of ``None`` removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "groups": ["staff", "finance"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@dataclass
class FakeIdP:
    """A minimal identity provider over real HTTP: discovery document and a swappable JWKS."""

    keys: list[SigningKey]
    server: ThreadingHTTPServer | None = None
    hits: Counter[str] = field(default_factory=Counter)
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)
    """Raw JWKs served besides ``keys`` (to serve deliberately odd keys)."""
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Opaque tokens this IdP issued, and what RFC 7662 introspection answers for each."""

    @property
    def issuer(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def rotate(self, *keys: SigningKey) -> None:
        """Serve exactly ``keys`` from now on."""
        self.keys = list(keys)

    def document(self, path: str) -> dict[str, Any] | None:
        if path == DISCOVERY_PATH:
            return {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + JWKS_PATH,
                "introspection_endpoint": self.issuer + INTROSPECTION_PATH,
            }
        if path == JWKS_PATH:
            return {"keys": [k.jwk for k in self.keys] + self.extra_jwks}
        return None

    def introspect(self, authorization: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """RFC 7662 §2: the caller authenticates as a client; unknown tokens are simply inactive."""
        expected = "Basic " + base64.b64encode(":".join(INTROSPECTION_CLIENT).encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        token = (form.get("token") or [""])[0]
        return 200, self.tokens.get(token, {"active": False})


@contextmanager
def serve(idp: FakeIdP) -> Iterator[FakeIdP]:
    """Run ``idp`` on 127.0.0.1 (random port) in a thread for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            idp.hits[self.path] += 1
            document = idp.document(self.path)
            body = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            idp.hits[self.path] += 1
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            status, document = (
                idp.introspect(self.headers.get("Authorization", ""), form)
                if self.path == INTROSPECTION_PATH
                else (404, {})
            )
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    idp.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=idp.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        idp.server.shutdown()
        idp.server.server_close()
        thread.join(timeout=5)
