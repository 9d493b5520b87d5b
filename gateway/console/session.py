"""Server-side console sessions: an opaque id in a cookie, everything else in a Litestar store.

The cookie holds 32 random bytes and nothing else; the store is keyed by the SHA-256 of that id, so
a copy of the store (a file under the data dir, a Redis dump) holds no usable session id. A session
expires after ``idle_timeout_seconds`` without a request (the store entry's expiry, renewed on every
request, *and* an explicit check) and ``absolute_timeout_seconds`` after it was created. Logging in
always starts a new session (a new id), so an id planted before login is worth nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore

from gateway.auth.principal import Principal
from gateway.settings import Settings

COOKIE = "gateway_console"
SECURE_COOKIE = "__Host-gateway_console"
"""Over HTTPS the ``__Host-`` prefix also pins the cookie to this host, path ``/``, Secure."""


@dataclass
class ConsoleSession:
    """What the server keeps about one browser session."""

    csrf: str
    created_at: float
    last_seen: float
    subject: str | None = None
    tenant: str | None = None
    groups: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    """Login in progress: ``state``, ``nonce``, PKCE ``verifier`` and the ``redirect_uri`` used."""

    @property
    def principal(self) -> Principal | None:
        if self.subject is None or self.tenant is None:
            return None
        return Principal(subject=self.subject, tenant=self.tenant, groups=frozenset(self.groups))


def new_session(now: float | None = None) -> ConsoleSession:
    now = time.time() if now is None else now
    return ConsoleSession(csrf=secrets.token_urlsafe(32), created_at=now, last_seen=now)


class SessionStore:
    """Sessions in a Litestar ``Store`` (memory, file under the data dir, or Redis)."""

    def __init__(self, store: Store, *, idle_seconds: int, absolute_seconds: int) -> None:
        self._store = store
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    async def load(self, session_id: str | None) -> ConsoleSession | None:
        """The live session for this cookie value; expired or unknown ids give ``None`` (and are dropped)."""
        if not session_id or len(session_id) > 128:
            return None
        raw = await self._store.get(_key(session_id))
        if raw is None:
            return None
        session = ConsoleSession(**json.loads(raw))
        now = time.time()
        if now - session.last_seen > self.idle_seconds or now - session.created_at > self.absolute_seconds:
            await self._store.delete(_key(session_id))
            return None
        return session

    async def save(self, session_id: str, session: ConsoleSession) -> None:
        """Store (and renew) the session; it lives ``idle_seconds`` more, never past its absolute end."""
        session.last_seen = time.time()
        remaining = int(session.created_at + self.absolute_seconds - session.last_seen) + 1
        expires = max(1, min(self.idle_seconds, remaining))
        await self._store.set(_key(session_id), json.dumps(asdict(session)), expires_in=expires)

    async def create(self, session: ConsoleSession) -> str:
        """Store a new session under a fresh id; returns the id (the cookie's value)."""
        session_id = secrets.token_urlsafe(32)
        await self.save(session_id, session)
        return session_id

    async def delete(self, session_id: str | None) -> None:
        if session_id:
            await self._store.delete(_key(session_id))


def _key(session_id: str) -> str:
    return "console-session:" + hashlib.sha256(session_id.encode()).hexdigest()


def provide_session_store(settings: Settings) -> SessionStore:
    """The configured store (only ``gateway.deps``-style choice the console makes, from settings)."""
    cfg = settings.console
    store: Store
    if cfg.session_store == "memory":
        store = MemoryStore()
    elif cfg.session_store == "redis" and cfg.redis_url is not None:
        from litestar.stores.redis import RedisStore  # noqa: PLC0415 - needs the optional redis client

        store = RedisStore.with_client(url=cfg.redis_url.get_secret_value(), namespace="gateway-console")
    else:
        path = settings.data_dir / "console-sessions"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = FileStore(path)
    return SessionStore(store, idle_seconds=cfg.idle_timeout_seconds, absolute_seconds=cfg.absolute_timeout_seconds)


def session_cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def as_dict(session: ConsoleSession) -> dict[str, Any]:
    return asdict(session)
