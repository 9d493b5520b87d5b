"""The Casbin facade: decisions, the ACL filter, explanations, policy administration and reload.

Model (``policies/model.conf``): tenants are Casbin domains; principals are ``user:``, ``group:``
and ``role:`` strings. Token groups count directly; ``g`` lines add memberships, in one tenant or
in every tenant (domain ``*``, matched with ``key_match``). Decisions are "some line allows and no
line denies", so a deny wins everywhere: a collection deny beats a document's own allow list, a
document's deny list beats every grant. Nothing is readable outside its own tenant.

Reload across processes: every change bumps ``policy_state.version`` in the same transaction as
the rule rows. Each process polls the version every ``poll_seconds`` and, when it changed, builds a
new enforcer and swaps the reference (in-flight decisions finish on the old one).

Failing closed: no policy loaded, a failed reload, or a version that could not be confirmed for
``stale_after`` seconds (``max(3 * poll_seconds, 1.5)``) all make every call raise
``PolicyUnavailable``. A stale policy might still grant what an administrator just revoked, so we
prefer refusing service to serving it indefinitely; the short grace period absorbs one or two
slow polls. Any exception while evaluating a decision is a deny, never an allow.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy

from gateway.auth.principal import Principal
from gateway.authz.compiler import compile_filter
from gateway.authz.decision import Decision, DocumentRef
from gateway.authz.explain import describe, explain_lines
from gateway.authz.filter import AclFilter
from gateway.authz.functions import Resource
from gateway.authz.memory import MemoryPolicyStore, PolicyStorePort
from gateway.authz.rules import ACTIONS, PolicyRule, is_valid_resource, read_policy_csv, read_seed_dir, validate_rule
from gateway.authz.snapshot import PolicySnapshot
from gateway.authz.store import PolicyStore
from gateway.errors import PolicyUnavailable

log = logging.getLogger(__name__)

__all__ = ["Decision", "DocumentRef", "PolicyRule", "PolicyService"]


_Change = Callable[[], bool]
_EVALUATION_FAILED = Decision(False, (), "policy evaluation failed (denied)")


class PolicyService:
    """Process-wide policy: thread-safe, reloaded when the shared version changes."""

    def __init__(
        self,
        engine: sqlalchemy.Engine | None,
        model_path: Path,
        *,
        poll_seconds: float = 1.0,
        store: PolicyStorePort | None = None,
    ) -> None:
        if store is None and engine is None:
            raise ValueError("PolicyService needs an engine or a store")
        self._store: PolicyStorePort = store if store is not None else PolicyStore(engine)  # type: ignore[arg-type]
        self._model_path = model_path
        self.poll_seconds = poll_seconds
        self.stale_after = max(3.0 * poll_seconds, 1.5)
        """Seconds without a confirmed version after which every call refuses."""
        self._snapshot: PolicySnapshot | None = None
        self._last_confirmed = 0.0
        self._polling = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def from_rules(cls, model_path: Path, rules: Sequence[PolicyRule]) -> PolicyService:
        """A loaded service over an in-memory rule list (no database, no poller)."""
        service = cls(None, model_path, store=MemoryPolicyStore(rules))
        service.reload()
        return service

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the policy and start the poller. A database that is down leaves ``loaded`` false;
        the poller keeps trying, and calls raise ``PolicyUnavailable`` meanwhile."""
        if self._thread is not None:
            return
        try:
            self._store.ensure_state_row()
            self.reload()
        except Exception:
            log.error("policy could not be loaded at start; refusing decisions until it can")
        self._stop.clear()
        self._polling = True
        self._thread = threading.Thread(target=self._poll_loop, name="policy-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 5.0)
        self._thread = None

    def reload(self) -> None:
        """Read the store and swap in a new enforcer; on failure, hold no policy at all."""
        with self._reload_lock:
            try:
                version, rules = self._store.load()
                snapshot = PolicySnapshot(self._model_path, rules, version)
            except Exception as exc:
                self._snapshot = None
                log.exception("policy reload failed; refusing decisions")
                raise PolicyUnavailable() from exc
            self._snapshot = snapshot
            self._last_confirmed = time.monotonic()
        log.info("policy version %d loaded (%d rules)", version, len(rules))

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()

    def poll_once(self) -> None:
        """Confirm the enforced version against the store; reload when it changed."""
        try:
            version = self._store.read_version()
        except Exception:
            log.warning("policy version check failed", exc_info=True)
            return
        current = self._snapshot
        if current is not None and current.version == version:
            self._last_confirmed = time.monotonic()
            return
        with contextlib.suppress(PolicyUnavailable):  # logged in reload; the next poll tries again
            self.reload()

    @property
    def loaded(self) -> bool:
        """A policy is held and (when polling) its version was confirmed recently."""
        return self._snapshot is not None and not self._is_stale()

    @property
    def version(self) -> int:
        """The policy version enforced in this process."""
        return self._current().version

    def _is_stale(self) -> bool:
        return self._polling and time.monotonic() - self._last_confirmed > self.stale_after

    def _current(self) -> PolicySnapshot:
        snapshot = self._snapshot
        if snapshot is None or self._is_stale():
            raise PolicyUnavailable()
        return snapshot

    # -- decisions -------------------------------------------------------------------------------

    def expand(self, principal: Principal) -> frozenset[str]:
        """Base principals plus every group and role reachable through ``g`` lines in the tenant."""
        return self._current().expand(principal)

    def compile_filter(self, principal: Principal) -> AclFilter:
        """The retrieval pre-filter for ``principal``, read from the same policy as ``can_read``."""
        snapshot = self._current()
        try:
            return compile_filter(snapshot, principal)
        except Exception:
            log.exception("filter compilation failed; the caller sees nothing")
            return AclFilter(principal.tenant, principal.base_principals(), frozenset(), deny_all=True)

    def can_read(self, principal: Principal, doc: DocumentRef) -> Decision:
        """Casbin's decision on reading one document."""
        return self._enforce(principal, _document(doc), "read", explain=False)

    def explain(self, principal: Principal, doc: DocumentRef) -> Decision:
        """``can_read`` with every deciding line, document ACL entries named (``doc.deny: group:x``)."""
        return self._enforce(principal, _document(doc), "read", explain=True)

    def decide(self, principal: Principal, resource: str, action: str) -> Decision:
        """May ``principal`` do ``action`` on ``resource`` (``collection:hr``, ``system:audit`` ...)?"""
        if action not in ACTIONS or not is_valid_resource(resource) or resource.endswith("*"):
            return Decision(False, (), f"unknown resource or action: {resource[:100]} {action[:20]}")
        return self._enforce(principal, Resource(principal.tenant, resource), action, explain=False)

    def _enforce(self, principal: Principal, resource: Resource, action: str, *, explain: bool) -> Decision:
        snapshot = self._current()
        try:
            allowed, line = snapshot.enforce(principal, resource, action)
            if explain:
                return explain_lines(snapshot, principal, resource, action, allowed)
            rules = describe(snapshot, principal, resource, line) if line else ()
            return Decision(allowed, rules, _reason(allowed, line))
        except Exception:
            log.exception("policy evaluation raised; denying")
            return _EVALUATION_FAILED

    # -- administration --------------------------------------------------------------------------

    def list_rules(self) -> list[PolicyRule]:
        """The stored rules currently enforced (built-in document ACL lines excluded)."""
        return list(self._current().rules)

    def add_rule(self, rule: PolicyRule, *, actor: str) -> bool:
        """Validate, persist (bumping the version in the same transaction) and reload locally."""
        changed = self._write(lambda: self._store.add(validate_rule(rule), actor))
        log.info("policy rule added by %s: %s (changed=%s)", actor, rule, changed)
        return changed

    def remove_rule(self, rule: PolicyRule, *, actor: str) -> bool:
        changed = self._write(lambda: self._store.remove(validate_rule(rule), actor))
        log.info("policy rule removed by %s: %s (changed=%s)", actor, rule, changed)
        return changed

    def load_seed_if_empty(self, seed_dir: Path) -> bool:
        """Load the seed CSVs when the store holds no rule at all."""
        rules = read_seed_dir(seed_dir)
        return self._write(lambda: self._store.seed_if_empty(rules, "seed"))

    def reload_seed(self, seed_dir: Path, *, actor: str, extra_files: Sequence[Path] = ()) -> None:
        """Replace every stored rule with the seed CSVs (plus ``extra_files``, e.g. a tenant's grants)."""
        rules = read_seed_dir(seed_dir) + [rule for path in extra_files for rule in read_policy_csv(path)]

        def replace() -> bool:
            self._store.replace_all(rules, actor)
            return True

        self._write(replace)
        log.warning("policy replaced with the seed by %s", actor)

    def _write(self, change: _Change) -> bool:
        try:
            changed = change()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            log.exception("policy store write failed")
            raise PolicyUnavailable() from exc
        if changed and (self._snapshot is not None or self._thread is not None):
            self.reload()
        return changed


def _document(doc: DocumentRef) -> Resource:
    return Resource(doc.tenant, f"collection:{doc.collection}", tuple(doc.allow), tuple(doc.deny))


def _reason(allowed: bool, line: list[str]) -> str:
    if allowed:
        return "allowed by policy"
    if line:
        return "denied by a deny rule"
    return "no rule allows this"
