"""Helpers shared by the console tests (HTTP through Litestar's client, and the browser tests)."""

from __future__ import annotations

import re
import warnings
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select

from gateway.audit.models import AUDIT_TABLE as A
from gateway.deps import Services

with warnings.catch_warnings():
    # authlib, inside the provider, warns about its own deprecations on import: nothing of ours.
    warnings.simplefilter("ignore")
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    import oidc_provider_mock  # noqa: F401  (re-exported for the tests)

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def dev_login(client: TestClient[Any], subject: str) -> TestClient[Any]:
    """Log in through the development persona page (CSRF token and all)."""
    page = client.get("/console/login/dev/")
    assert page.status_code == 200, page.text
    r = client.post(
        "/console/login/dev/", data={"_csrf": csrf_of(page.text), "subject": subject}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return client


def audit_rows(services: Services, action: str, since: int = 0) -> list[dict[str, Any]]:
    query = select(A).where(A.c.action == action, A.c.sequence > since).order_by(A.c.sequence)
    with services.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def head(services: Services) -> int:
    entry = services.audit.head()
    return entry.sequence if entry is not None else 0
