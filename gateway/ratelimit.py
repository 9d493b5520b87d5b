"""Rate limits per subject and per tenant (the ``limits`` library).

Counters live in process memory by default, or in Redis (``GATEWAY_LIMITS_REDIS_URL``) so that
every gateway process draws from the same budget. A moving window: a burst at a window boundary
cannot double the rate. When the counter store is unreachable the request is refused (503): a
limit that silently stops limiting is not a control.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from gateway.auth.principal import Principal
from gateway.errors import RateLimited, ServiceUnavailable
from gateway.settings import LimitsSettings

log = logging.getLogger("gateway.ratelimit")

Budget = Literal["query", "control"]
"""``query``: search and ask. ``control``: every other authenticated route (``LimitsSettings``)."""


class RateLimitUnavailable(ServiceUnavailable):
    code = "rate_limit_unavailable"
    title = "Rate limit store unavailable"


class RequestLimiter:
    """``check(principal, budget)`` spends one request of the subject's and the tenant's budgets."""

    def __init__(self, settings: LimitsSettings, on_limited: Callable[[str], None] = lambda scope: None) -> None:
        """``on_limited(scope)`` is called for every refusal (the ``gateway_rate_limited_total`` metric)."""
        self._on_limited = on_limited
        self.subject_limits: list[RateLimitItem] = parse_many(settings.subject_rate)
        self.tenant_limits: list[RateLimitItem] = parse_many(settings.tenant_rate)
        self.control_subject_limits: list[RateLimitItem] = parse_many(settings.control_subject_rate)
        self.control_tenant_limits: list[RateLimitItem] = parse_many(settings.control_tenant_rate)
        self.shared = settings.redis_url is not None
        """True when the counters live in Redis (a network round trip per check)."""
        self.storage: Storage = _storage(settings)
        self._limiter = MovingWindowRateLimiter(self.storage)

    def check(self, principal: Principal, budget: Budget = "query") -> None:
        """Count one request against ``budget``.

        Raises:
            RateLimited: the subject or its tenant is over a limit (``retry_after`` in seconds).
            RateLimitUnavailable: the counter store did not answer.
        """
        if budget == "query":  # the keys of the first budget are kept as they were (live counters survive)
            self._spend(self.subject_limits, ("subject",), "subject", principal.tenant, principal.subject)
            self._spend(self.tenant_limits, ("tenant",), "tenant", principal.tenant)
        else:
            subject_key, tenant_key = ("control", "subject"), ("control", "tenant")
            self._spend(self.control_subject_limits, subject_key, "subject", principal.tenant, principal.subject)
            self._spend(self.control_tenant_limits, tenant_key, "tenant", principal.tenant)

    def _spend(self, items: list[RateLimitItem], key: tuple[str, ...], scope: str, *identifiers: str) -> None:
        for item in items:
            try:
                if self._limiter.hit(item, *key, *identifiers):
                    continue
                reset = self._limiter.get_window_stats(item, *key, *identifiers).reset_time
            except Exception as exc:  # any storage failure: refuse rather than stop limiting
                log.error("rate limit store failed; refusing requests until it answers", exc_info=exc)
                raise RateLimitUnavailable() from None
            self._on_limited(scope)
            raise RateLimited(math.ceil(max(reset - time.time(), 1.0)), scope=scope)

    def ping(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:
            return False


def _storage(settings: LimitsSettings) -> Storage:
    if settings.redis_url:
        store = storage_from_string(settings.redis_url, key_prefix=settings.key_prefix, wrap_exceptions=True)
    else:
        store = storage_from_string("memory://")
    if not isinstance(store, Storage):  # an async storage (``async+redis://``) cannot serve the sync pipeline
        raise ValueError("GATEWAY_LIMITS_REDIS_URL must be a synchronous storage URL (redis://, rediss://)")
    return store
