"""The OpenSearch client (authentication, TLS) and the one place transport errors are translated.

Every call into the cluster goes through :func:`unavailable_on_error` (a context manager) or
:func:`with_backoff`, so any failure — unreachable, timeout, 5xx, a refused query, a malformed
response — becomes ``SearchUnavailable``. Nothing here ever degrades to an unfiltered search.
"""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opensearchpy import (
    ConnectionError as OSConnectionError,
)
from opensearchpy import (
    OpenSearch,
    OpenSearchException,
    TransportError,
    Urllib3AWSV4SignerAuth,
)

from gateway.errors import SearchUnavailable
from gateway.settings import OpenSearchSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
"""Statuses worth retrying: throttling (429) and an overloaded or restarting node."""


def _aws_auth(settings: OpenSearchSettings, credentials: Any | None) -> Urllib3AWSV4SignerAuth:
    if credentials is None:
        try:
            # Optional dependency: only SigV4 deployments install boto3 (the credential chain).
            boto3 = importlib.import_module("boto3")
        except ImportError as exc:
            raise SearchUnavailable("SigV4 signing (GATEWAY_OPENSEARCH_AWS_REGION) needs boto3 installed") from exc
        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise SearchUnavailable("no AWS credentials found for SigV4 signing")
    return Urllib3AWSV4SignerAuth(credentials, settings.aws_region, settings.aws_service)


def client_options(settings: OpenSearchSettings, *, aws_credentials: Any | None = None) -> dict[str, Any]:
    """Keyword arguments for ``OpenSearch(...)``: one of SigV4, basic auth; client cert; TLS."""
    if not settings.url:
        raise SearchUnavailable("GATEWAY_OPENSEARCH_URL is not set")
    options: dict[str, Any] = {
        "hosts": [settings.url],
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": True,
        "timeout": settings.timeout_seconds,
        # Retries live in one place (``with_backoff`` and the bulk loop, with exponential backoff);
        # the transport's own retries have no backoff and would multiply with ours.
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.aws_region:
        options["http_auth"] = _aws_auth(settings, aws_credentials)
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        options["http_auth"] = (settings.username, password)
    if settings.ca_certs:
        options["ca_certs"] = str(settings.ca_certs)
    if settings.client_cert:
        options["client_cert"] = str(settings.client_cert)
        if settings.client_key:
            options["client_key"] = str(settings.client_key)
    if not settings.verify_certs:
        log.warning("OpenSearch TLS certificate verification is OFF (GATEWAY_OPENSEARCH_VERIFY_CERTS=false)")
    return options


def build_client(settings: OpenSearchSettings, *, aws_credentials: Any | None = None) -> OpenSearch:
    """A configured client; TLS verification stays on unless the settings turn it off."""
    return OpenSearch(**client_options(settings, aws_credentials=aws_credentials))


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a transport error (``None`` for connection errors and timeouts)."""
    if isinstance(exc, TransportError) and isinstance(exc.status_code, int):
        return exc.status_code
    return None


def is_retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 502-504 are transient; a 400 or 403 is not."""
    return isinstance(exc, OSConnectionError) or status_of(exc) in RETRYABLE_STATUS


@contextmanager
def unavailable_on_error(action: str) -> Iterator[None]:
    """Translate any client or response error inside the block into ``SearchUnavailable``.

    The cause is logged; the caller-facing detail names only the action (no ``str(exc)``).
    """
    try:
        yield
    except SearchUnavailable:
        raise
    except (OpenSearchException, OSError, KeyError, TypeError, ValueError) as exc:
        log.warning("OpenSearch %s failed: %r", action, exc)
        raise SearchUnavailable(f"search backend failed during {action}") from exc


def with_backoff(
    action: str,
    call: Callable[[], T],
    *,
    attempts: int,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying transient errors with exponential backoff and jitter."""
    tries = max(attempts, 1)
    for attempt in range(tries):
        try:
            return call()
        except OpenSearchException as exc:
            if not is_retryable(exc) or attempt == tries - 1:
                log.warning("OpenSearch %s failed: %r", action, exc)
                raise SearchUnavailable(f"search backend failed during {action}") from exc
            delay = base_delay * 2**attempt
            log.info("OpenSearch %s: transient error %r, retry in %.2fs", action, exc, delay)
            sleep(delay * (1 + random.random() / 2))  # noqa: S311 (jitter, not security)
    raise AssertionError("unreachable")  # pragma: no cover
