"""``gateway policy load``: replace the policy store, audited in the same transaction."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord
from gateway.authz.rules import PolicyRule
from gateway.authz.service import PolicyService
from gateway.authz.store import PolicyStore
from gateway.authz.tenancy import rule_tenant
from gateway.commands.operator import Operator
from gateway.db import make_engine
from gateway.deps import MODEL_PATH, POLICY_DIR
from gateway.observability import new_request_id
from gateway.settings import Settings


def load_policy(settings: Settings, operator: Operator, extra: list[Path]) -> tuple[int, int]:
    """Replace every rule with the seed plus ``extra``; one audit row per tenant whose rules are
    touched (before or after) and one for ``*``, all committed with the change. (rules, version)

    Raises:
        AuditUnavailable: the rows could not be written; nothing was changed.
        PolicyUnavailable: the store could not be written; nothing was changed.
    """
    engine = make_engine(settings.resolved_database_url)
    try:
        service, audit, store = PolicyService(engine, MODEL_PATH), AuditLog(engine), PolicyStore(engine)
        old_version, before = store.load()
        files = [{"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for path in extra]
        request_id = new_request_id()
        with audit.transaction() as tx:
            rules = service.reload_seed(POLICY_DIR, actor=operator.subject, extra_files=extra, connection=tx.connection)
            for tenant in sorted({"*"} | {rule_tenant(r) for r in (*before, *rules)}):
                details = {**operator.details(), "files": files, **_counts(tenant, before, rules)}
                tx.append(
                    AuditRecord.of(
                        operator.principal(tenant), request_id=request_id, kind="admin", status="ok",
                        policy_version=old_version, action="policy.load", details=details,
                    )
                )  # fmt: skip
        service.reload()
        return len(service.list_rules()), service.version
    finally:
        engine.dispose()


def _counts(tenant: str, before: list[PolicyRule], after: list[PolicyRule]) -> dict[str, int]:
    old = {r for r in before if rule_tenant(r) == tenant}
    new = {r for r in after if rule_tenant(r) == tenant}
    return {"rules_before": len(old), "rules_after": len(new), "added": len(new - old), "removed": len(old - new)}
