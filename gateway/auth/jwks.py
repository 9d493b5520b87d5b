"""The issuer's signing keys by ``kid``: cached, and refreshed on an unknown ``kid`` at a bounded rate.

Key rotation at the IdP then just works: a token signed with a new key triggers one refresh, and a
flood of made-up ``kid`` values cannot turn the gateway into a JWKS hammer (one fetch per
``min_refresh_seconds`` at most, one fetch per burst thanks to the lock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.auth.failure import IssuerUnreachable, Reason, TokenRejected

logger = logging.getLogger("gateway.auth")

JWK = Mapping[str, Any]


class JWKSCache:
    """Signing keys of one issuer, fetched through ``fetch`` (which returns the JWKS document)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[object]],
        *,
        cache_seconds: float,
        min_refresh_seconds: float,
        max_stale_seconds: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._max_stale_seconds = max(max_stale_seconds, cache_seconds)
        self._clock = clock
        self._keys: dict[str, JWK] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._refreshes = 0
        """Refresh attempts finished (success or not); a waiter that sees it move skips its own."""
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> JWK:
        """The JWK for ``kid``, refreshing once (rate-limited) when it is unknown or the cache is old.

        Raises:
            TokenRejected: ``unknown_kid``, or ``issuer_unavailable`` when no keys could ever be loaded.
        """
        found = self._keys.get(kid) if self._fresh() else None
        if found is None:
            await self._refresh(kid)
            # Stale keys are still used when a refresh failed: an IdP outage should not log
            # everyone out while their tokens are still valid -- but only for a bounded time.
            found = self._keys.get(kid) if self._usable() else None
            if found is None and self._keys and not self._usable():
                logger.error(
                    "JWKS keys are older than %ss and the IdP cannot be reached: refusing tokens (503) "
                    "until the JWKS can be fetched again",
                    self._max_stale_seconds,
                )
                raise TokenRejected(Reason.ISSUER_UNAVAILABLE, kid=kid)
        if found is None:
            raise TokenRejected(Reason.UNKNOWN_KID if self._keys else Reason.ISSUER_UNAVAILABLE, kid=kid)
        return found

    async def sole_key(self) -> JWK | None:
        """The issuer's one signing key, when its JWKS holds exactly one (else ``None``).

        OpenID Connect Core §10.1 lets an ID token omit ``kid`` only in that case: with one key
        there is nothing to choose, so this is not a guess.
        """
        await self.ensure_loaded()
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def ensure_loaded(self) -> None:
        """Load the keys if there are none yet (rate-limited like any refresh).

        Raises:
            IssuerUnreachable: no keys are loaded and none could be fetched.
        """
        if not self._keys:
            await self._refresh(None)
        if not self._keys:
            raise IssuerUnreachable("no signing keys loaded")

    def _usable(self) -> bool:
        """Keys fetched at most ``max_stale_seconds`` ago (the bound on an IdP outage)."""
        return self._loaded_at is not None and self._clock() - self._loaded_at < self._max_stale_seconds

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < self._cache_seconds

    async def _refresh(self, kid: str | None) -> None:
        refreshes_before = self._refreshes
        async with self._lock:
            if self._refreshes != refreshes_before:
                return  # a refresh finished while we waited for the lock: one fetch per burst
            if kid is not None and kid in self._keys and self._fresh():
                return
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_seconds:
                return
            self._attempted_at = now
            try:
                self._keys = _parse_jwks(await self._fetch())
                self._loaded_at = now
                logger.info("JWKS loaded: %d signing keys", len(self._keys))
            except IssuerUnreachable as exc:
                logger.warning("JWKS refresh failed: %s (keeping %d cached keys)", exc, len(self._keys))
            finally:
                self._refreshes += 1


def _parse_jwks(document: object) -> dict[str, JWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IssuerUnreachable("JWKS is not a JSON object with a 'keys' list")
    keys: dict[str, JWK] = {}
    for jwk in document["keys"]:
        # Keys without a kid cannot be selected (we never guess), and encryption keys never verify.
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use") == "enc":
            continue
        keys.setdefault(jwk["kid"], jwk)
    return keys
