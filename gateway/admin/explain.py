"""Access explain: can this person read this document, and why (the deciding rule chain).

One service for ``POST /v1/admin/explain`` and the console: the same checks, the same decision on
the request's one policy view, and one audit row per explanation (``policy.explain``), written
before the answer: an explanation discloses who can read what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.admin.scope import AdminScope
from gateway.audit.log import AuditLog
from gateway.auth.claims import valid_group, valid_subject
from gateway.auth.principal import Principal
from gateway.errors import InvalidRequest, NotFound
from gateway.ingest.flow import document_ref
from gateway.ingest.service import DocumentService


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    rules: tuple[str, ...]
    reason: str
    principals: tuple[str, ...]
    document_id: str
    policy_version: int


class AccessExplain:
    def __init__(self, documents: DocumentService, audit: AuditLog) -> None:
        self._documents, self._audit = documents, audit

    @staticmethod
    def principal(scope: AdminScope, subject: str, groups: Sequence[str]) -> Principal:
        """The person asked about, in the scope's tenant (400 unless it looks like a token's)."""
        if not valid_subject(subject) or not all(valid_group(g) for g in groups):
            raise InvalidRequest("subject and groups must look like the ones tokens carry")
        return Principal(subject=subject, tenant=scope.tenant, groups=frozenset(groups))

    def explain(self, scope: AdminScope, who: Principal, document_id: str) -> Explanation:
        """Raises ``NotFound`` (audited as refused) for a document absent from the scope's tenant."""
        row = self._documents.find(scope.tenant, document_id)
        if row is None:
            absent = {"reason": "absent", "document_id": document_id}
            self._audit.append(scope.record(kind="admin", status="refused", action="policy.explain", details=absent))
            raise NotFound("no such document")
        decision = scope.view.explain(who, document_ref(row))
        details: dict[str, object] = {
            "subject": who.subject,
            "document_id": row.document_id,
            "allowed": decision.allowed,
        }
        self._audit.append(scope.record(kind="admin", status="ok", action="policy.explain", details=details))
        return Explanation(
            allowed=decision.allowed,
            rules=tuple(decision.rules),
            reason=decision.reason,
            principals=tuple(sorted(scope.view.expand(who))),
            document_id=row.document_id,
            policy_version=scope.view.version,
        )
