"""The Casbin facade: the loaded policy, its reload across processes, and policy administration.

Model (``policies/model.conf``): tenants are Casbin domains; principals are ``user:``, ``group:``
and ``role:`` strings. Token groups count directly; ``g`` lines add memberships, in one tenant or
in every tenant (domain ``*``, matched with ``key_match``). Decisions are "some line allows and no
line denies", so a deny wins everywhere: a collection deny beats a document's own allow list, a
document's deny list beats every grant. Nothing is readable outside its own tenant.

Decisions are taken on a :class:`~gateway.authz.view.PolicyView`: ``current()`` returns the view of
the loaded snapshot, and a request takes one and passes it down (one policy per request).

Reload across processes: every change bumps ``policy_state.version`` in the same transaction as
the rule rows. Each process polls the version every ``poll_seconds`` and, when it changed, builds a
new enforcer and swaps the reference (in-flight requests finish on the view they took).

Failing closed, but not on one hiccup: a failed reload or version check keeps enforcing the last
good policy, at most ``stale_after`` seconds after its version was last confirmed
(``GATEWAY_POLICY_MAX_STALE_SECONDS``, never less than three polls); after that, and when no policy
was ever loaded, every call raises ``PolicyUnavailable``. The bound is the price of availability: a
revocation committed during a store outage is enforced at most that much later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy
from sqlalchemy import Connection

from gateway.auth.principal import Principal
from gateway.authz.decision import Decision, DocumentRef
from gateway.authz.filter import AclFilter
from gateway.authz.memory import MemoryPolicyStore, PolicyStorePort
from gateway.authz.rules import PolicyRule, read_policy_csv, read_seed_dir, validate_rule
from gateway.authz.snapshot import PolicySnapshot
from gateway.authz.store import PolicyStore
from gateway.authz.view import PolicyView
from gateway.errors import PolicyUnavailable

log = logging.getLogger(__name__)

__all__ = ["Decision", "DocumentRef", "PolicyRule", "PolicyService", "PolicyView"]


_Change = Callable[[], bool]


class PolicyService:
    """Process-wide policy: thread-safe, reloaded when the shared version changes."""

    def __init__(
        self,
        engine: sqlalchemy.Engine | None,
        model_path: Path,
        *,
        poll_seconds: float = 1.0,
        max_stale_seconds: float = 10.0,
        store: PolicyStorePort | None = None,
        restricted_readers: frozenset[str] = frozenset(),
    ) -> None:
        """``restricted_readers``: who may read PII-bearing documents (the PII policy's ``[ingest]
        readers``); every other caller gets ``pii:restricted`` (see ``PolicySnapshot``). Empty: off."""
        if store is None and engine is None:
            raise ValueError("PolicyService needs an engine or a store")
        self._store: PolicyStorePort = store if store is not None else PolicyStore(engine)  # type: ignore[arg-type]
        self._model_path = model_path
        self.restricted_readers = frozenset(restricted_readers)
        self.poll_seconds = poll_seconds
        self.stale_after = max(3.0 * poll_seconds, max_stale_seconds)
        """Seconds without a confirmed version after which every call refuses."""
        self._snapshot: PolicySnapshot | None = None
        self._view: PolicyView | None = None
        self._last_confirmed = 0.0
        self._polling = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def from_rules(
        cls, model_path: Path, rules: Sequence[PolicyRule], *, restricted_readers: frozenset[str] = frozenset()
    ) -> PolicyService:
        """A loaded service over an in-memory rule list (no database, no poller)."""
        service = cls(None, model_path, store=MemoryPolicyStore(rules), restricted_readers=restricted_readers)
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
        """Read the store and swap in a new enforcer.

        On failure the last good snapshot stays in force, unconfirmed: it expires ``stale_after``
        seconds after its version was last confirmed, unless a later reload or poll succeeds.
        """
        with self._reload_lock:
            try:
                version, rules = self._store.load()
                snapshot = PolicySnapshot(self._model_path, rules, version, restricted_readers=self.restricted_readers)
            except Exception as exc:
                log.exception(
                    "policy reload failed; the last good policy stays in force for at most %ss", self.stale_after
                )
                raise PolicyUnavailable() from exc
            self._snapshot = snapshot
            self._view = PolicyView(snapshot)
            self._last_confirmed = time.monotonic()
        log.info("policy version %d loaded (%d rules)", version, len(rules))

    def refresh(self) -> None:
        """Reload after a committed change; a failure is logged and left to the poller."""
        with contextlib.suppress(PolicyUnavailable):
            self.reload()

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
        return self.current().version

    @property
    def unconfirmed_seconds(self) -> float:
        """Seconds since the enforced version was last confirmed against the store (an alert signal)."""
        if self._snapshot is None:
            return float("inf")
        return max(0.0, time.monotonic() - self._last_confirmed) if self._polling else 0.0

    def _is_stale(self) -> bool:
        return self._polling and time.monotonic() - self._last_confirmed > self.stale_after

    def current(self) -> PolicyView:
        """The view every decision of one request should be taken on.

        Raises:
            PolicyUnavailable: no policy loaded, or the loaded one is older than ``stale_after``.
        """
        view = self._view
        if view is None or self._is_stale():
            raise PolicyUnavailable()
        return view

    # -- decisions on the current view (one-off checks; a request takes ``current()`` once) ----

    def expand(self, principal: Principal) -> frozenset[str]:
        return self.current().expand(principal)

    def compile_filter(self, principal: Principal) -> AclFilter:
        return self.current().compile_filter(principal)

    def can_read(self, principal: Principal, doc: DocumentRef) -> Decision:
        return self.current().can_read(principal, doc)

    def explain(self, principal: Principal, doc: DocumentRef) -> Decision:
        return self.current().explain(principal, doc)

    def decide(self, principal: Principal, resource: str, action: str) -> Decision:
        return self.current().decide(principal, resource, action)

    # -- administration --------------------------------------------------------------------------

    def list_rules(self) -> list[PolicyRule]:
        """The stored rules currently enforced (built-in document ACL lines excluded)."""
        return self.current().rules()

    def add_rule(self, rule: PolicyRule, *, actor: str, connection: Connection | None = None) -> bool:
        """Validate and persist, bumping the version in the same transaction.

        With ``connection`` the change joins the caller's transaction (which also holds its audit
        row) and the caller calls :meth:`refresh` after committing; without, it commits and reloads.
        """
        rule = validate_rule(rule)
        changed = self._write(lambda: self._store.add(rule, actor, connection), connection)
        log.info("policy rule added by %s: %s (changed=%s)", actor, rule, changed)
        return changed

    def remove_rule(self, rule: PolicyRule, *, actor: str, connection: Connection | None = None) -> bool:
        rule = validate_rule(rule)
        changed = self._write(lambda: self._store.remove(rule, actor, connection), connection)
        log.info("policy rule removed by %s: %s (changed=%s)", actor, rule, changed)
        return changed

    def load_seed_if_empty(self, seed_dir: Path, *, connection: Connection | None = None) -> bool:
        """Load the seed CSVs when the store holds no rule at all."""
        rules = read_seed_dir(seed_dir)
        return self._write(lambda: self._store.seed_if_empty(rules, "seed", connection), connection)

    def reload_seed(
        self,
        seed_dir: Path,
        *,
        actor: str,
        extra_files: Sequence[Path] = (),
        connection: Connection | None = None,
    ) -> list[PolicyRule]:
        """Replace every stored rule with the seed CSVs (plus ``extra_files``, e.g. a tenant's grants).

        Returns the rules now stored (what the caller audits).
        """
        rules = read_seed_dir(seed_dir) + [rule for path in extra_files for rule in read_policy_csv(path)]

        def replace() -> bool:
            self._store.replace_all(rules, actor, connection)
            return True

        self._write(replace, connection)
        log.warning("policy replaced with the seed by %s", actor)
        return rules

    def _write(self, change: _Change, connection: Connection | None) -> bool:
        try:
            changed = change()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            log.exception("policy store write failed")
            raise PolicyUnavailable() from exc
        if changed and connection is None and (self._snapshot is not None or self._thread is not None):
            self.refresh()
        return changed
