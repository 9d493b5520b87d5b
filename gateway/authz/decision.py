"""Value types of the policy facade (re-exported by ``gateway.authz.service``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """The outcome of one check and the policy lines that decided it (as strings)."""

    allowed: bool
    rules: tuple[str, ...]
    reason: str
    denied: bool = False
    """A deny line matched (as opposed to: no line allowed). Deny beats every other grant."""


@dataclass(frozen=True)
class DocumentRef:
    """The fields of a document (or chunk) that policy looks at."""

    tenant: str
    collection: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    document_id: str = ""
