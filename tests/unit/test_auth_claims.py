"""Claims → Principal: table-driven, the way policies will see it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.claims import MAX_GROUPS, principal_from_claims
from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.settings import OIDCSettings

WITH_TENANT_CLAIM = OIDCSettings(tenant_claim="org", default_tenant="shared")
WITHOUT_TENANT_CLAIM = OIDCSettings(default_tenant="shared")


@pytest.mark.parametrize(
    ("claims", "oidc", "expected"),
    [
        pytest.param({"sub": "alice"}, WITHOUT_TENANT_CLAIM, Principal("alice", "shared"), id="sub-only"),
        pytest.param(
            {"sub": "alice", "groups": ["staff", "finance"]},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared", frozenset({"staff", "finance"})),
            id="groups-as-list",
        ),
        pytest.param(
            {"sub": "alice", "groups": "staff, finance  ops"},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared", frozenset({"staff", "finance", "ops"})),
            id="groups-as-comma-and-space-string",
        ),
        pytest.param(
            {"sub": "alice", "groups": ""},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared"),
            id="groups-empty",
        ),
        pytest.param(
            {"sub": "alice", "groups": None},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared"),
            id="groups-null",
        ),
        pytest.param(
            {"sub": "alice", "groups": ["/eng/backend", "3f2b-a1c9", "team:ops", "x@corp"]},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared", frozenset({"/eng/backend", "3f2b-a1c9", "team:ops", "x@corp"})),
            id="keycloak-paths-guids-and-prefixes",
        ),
        pytest.param(
            {"sub": "alice", "org": "acme"},
            WITH_TENANT_CLAIM,
            Principal("alice", "acme"),
            id="tenant-claim-present",
        ),
        pytest.param(
            {"sub": "alice", "org": "acme"},
            WITHOUT_TENANT_CLAIM,
            Principal("alice", "shared"),
            id="tenant-claim-not-configured-is-ignored",
        ),
        pytest.param(
            {"sub": "auth0|5f7c8ec7c33c6c004bbafe82"},
            WITHOUT_TENANT_CLAIM,
            Principal("auth0|5f7c8ec7c33c6c004bbafe82", "shared"),
            id="sub-with-provider-prefix",
        ),
    ],
)
def test_claims_map_to_principal(claims: dict[str, Any], oidc: OIDCSettings, expected: Principal) -> None:
    assert principal_from_claims(claims, oidc) == expected


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({}, Reason.INVALID_SUBJECT, id="no-sub"),
        pytest.param({"sub": ""}, Reason.INVALID_SUBJECT, id="empty-sub"),
        pytest.param({"sub": 42}, Reason.INVALID_SUBJECT, id="numeric-sub"),
        pytest.param({"sub": "a" * 256}, Reason.INVALID_SUBJECT, id="overlong-sub"),
        pytest.param({"sub": "alice\nadmin"}, Reason.INVALID_SUBJECT, id="sub-with-newline"),
        pytest.param({"sub": "alice bob"}, Reason.INVALID_SUBJECT, id="sub-with-space"),
        pytest.param({"sub": "alice,admin"}, Reason.INVALID_SUBJECT, id="sub-with-comma"),
        pytest.param({"sub": "alice\u202egro"}, Reason.INVALID_SUBJECT, id="sub-with-bidi-override"),
        pytest.param({"sub": "a", "groups": {"staff": True}}, Reason.INVALID_GROUPS, id="groups-as-object"),
        pytest.param({"sub": "a", "groups": ["staff", 7]}, Reason.INVALID_GROUPS, id="non-string-group"),
        pytest.param({"sub": "a", "groups": ["staff", ""]}, Reason.INVALID_GROUPS, id="empty-group"),
        pytest.param({"sub": "a", "groups": ["x" * 129]}, Reason.INVALID_GROUPS, id="overlong-group"),
        pytest.param({"sub": "a", "groups": ["staff\x00admin"]}, Reason.INVALID_GROUPS, id="nul-in-group"),
        pytest.param({"sub": "a", "groups": ["admin,staff"]}, Reason.INVALID_GROUPS, id="comma-in-list-group"),
        pytest.param({"sub": "a", "groups": ["g*"]}, Reason.INVALID_GROUPS, id="wildcard-group"),
        pytest.param({"sub": "a", "groups": ["ünïcode"]}, Reason.INVALID_GROUPS, id="non-ascii-group"),
        pytest.param(
            {"sub": "a", "groups": [f"g{i}" for i in range(MAX_GROUPS + 1)]},
            Reason.INVALID_GROUPS,
            id="too-many",
        ),
        pytest.param({"sub": "a"}, Reason.MISSING_TENANT, id="tenant-claim-configured-but-absent"),
        pytest.param({"sub": "a", "org": None}, Reason.MISSING_TENANT, id="tenant-claim-null"),
        pytest.param({"sub": "a", "org": ""}, Reason.INVALID_TENANT, id="empty-tenant"),
        pytest.param({"sub": "a", "org": ["acme"]}, Reason.INVALID_TENANT, id="tenant-as-list"),
        pytest.param({"sub": "a", "org": "acme/../globex"}, Reason.INVALID_TENANT, id="tenant-path"),
        pytest.param({"sub": "a", "org": "acme\n"}, Reason.INVALID_TENANT, id="tenant-trailing-newline"),
        pytest.param({"sub": "a", "org": "t" * 65}, Reason.INVALID_TENANT, id="overlong-tenant"),
    ],
)
def test_garbage_claims_are_refused(claims: dict[str, Any], reason: Reason) -> None:
    with pytest.raises(TokenRejected) as refused:
        principal_from_claims(claims, WITH_TENANT_CLAIM)
    assert refused.value.reason is reason


def test_a_custom_groups_claim_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    oidc = OIDCSettings(groups_claim="roles_and_groups")
    principal = principal_from_claims({"sub": "a", "roles_and_groups": ["x"], "groups": ["y"]}, oidc)
    assert principal.groups == frozenset({"x"})
