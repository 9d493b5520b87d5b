"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: subject, tenant and the groups asserted by the identity provider.

    Principal strings used by policies and document ACLs are ``user:<sub>``, ``group:<name>``
    and ``role:<name>``; roles are never taken from a token, only from policy.
    """

    subject: str
    tenant: str = "default"
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def user_principal(self) -> str:
        return f"user:{self.subject}"

    def base_principals(self) -> frozenset[str]:
        """The principal strings the token itself vouches for (before policy expansion)."""
        return frozenset({self.user_principal, *(f"group:{g}" for g in self.groups)})
