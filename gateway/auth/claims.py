"""Claims → ``Principal``: subject, tenant and groups, each validated before policy ever sees it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.settings import OIDCSettings

MAX_SUBJECT_LENGTH = 255
MAX_GROUPS = 256

# Tenants name storage partitions and appear in filters: letters, digits, dot, underscore, dash.
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Group names as IdPs spell them: Keycloak paths ("/eng/backend"), Azure object ids (GUIDs), and
# plain names with ``.`` ``_`` ``-`` ``:`` ``@`` ``+``. No whitespace or commas (policy CSV
# separators), no control characters, at most 128 characters.
_GROUP = re.compile(r"[A-Za-z0-9/][A-Za-z0-9._:@+/-]{0,127}")
# A groups claim given as one string is split on commas and/or whitespace.
_GROUP_SEPARATORS = re.compile(r"[,\s]+")


def principal_from_claims(claims: Mapping[str, object], oidc: OIDCSettings) -> Principal:
    """Map verified claims to a principal.

    Args:
        claims: Claims of a verified token (or a userinfo response).
        oidc: Which claims hold groups and tenant, and the default tenant.

    Raises:
        TokenRejected: ``sub`` is missing or unusable, the groups are malformed, or the tenant is
            malformed or missing while ``oidc.tenant_claim`` is configured.
    """
    subject = _subject(claims.get("sub"))
    groups = _groups(claims.get(oidc.groups_claim))
    return Principal(subject=subject, tenant=_tenant(claims, oidc), groups=groups)


def _subject(value: object) -> str:
    # IdPs use many sub formats (UUIDs, "auth0|123", e-mail addresses), so only what would break
    # principal strings is refused: empty, too long, whitespace, commas, control/format characters.
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_SUBJECT_LENGTH
        or not value.isprintable()
        or any(c.isspace() or c == "," for c in value)
    ):
        raise TokenRejected(Reason.INVALID_SUBJECT)
    return value


def _tenant(claims: Mapping[str, object], oidc: OIDCSettings) -> str:
    if oidc.tenant_claim is None:
        return oidc.default_tenant
    value = claims.get(oidc.tenant_claim)
    if value is None:
        # A multi-tenant deployment: a token that names no tenant must not land in a default one.
        raise TokenRejected(Reason.MISSING_TENANT)
    if not isinstance(value, str) or not _TENANT.fullmatch(value):
        raise TokenRejected(Reason.INVALID_TENANT)
    return value


def _groups(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        names: list[object] = [n for n in _GROUP_SEPARATORS.split(value) if n]
    elif isinstance(value, list):
        names = list(value)
    else:
        raise TokenRejected(Reason.INVALID_GROUPS)
    if len(names) > MAX_GROUPS:
        raise TokenRejected(Reason.INVALID_GROUPS)
    groups: list[str] = []
    for name in names:
        # One bad entry refuses the whole token rather than silently dropping a group: a token whose
        # claims we cannot read faithfully is not one to make access decisions on.
        if not isinstance(name, str) or not _GROUP.fullmatch(name):
            raise TokenRejected(Reason.INVALID_GROUPS)
        groups.append(name)
    return frozenset(groups)


def valid_subject(value: str) -> bool:
    """Would a token's ``sub`` with this value be accepted?"""
    try:
        _subject(value)
    except TokenRejected:
        return False
    return True


def valid_group(value: str) -> bool:
    """Would a token's group with this name be accepted?"""
    return _GROUP.fullmatch(value) is not None
