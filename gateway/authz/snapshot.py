"""One immutable, loaded policy: a Casbin enforcer plus the version it was read at.

Reloads never touch a snapshot in use; they build a new one and the service swaps the reference.
Casbin's role manager caches per-domain state lazily (even ``has_link`` writes to it), so every
use of a snapshot's enforcer holds the snapshot's lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import casbin
from casbin import persist
from casbin.core_enforcer import CoreEnforcer
from casbin.util import key_match

from gateway.auth.principal import Principal
from gateway.authz.functions import Resource, Subject, make_functions
from gateway.authz.rules import DOC_ACL_RULES, DOC_ALLOW, DOC_DENY, PII_RESTRICTED, PolicyRule, validate_rule


class RulesAdapter(persist.Adapter):  # type: ignore[misc]  # casbin ships no type hints
    """A read-only Casbin adapter over a list of rules already read (from the store or a CSV)."""

    def __init__(self, rules: Iterable[PolicyRule]) -> None:
        self._rules = tuple(rules)

    def load_policy(self, model: Any) -> None:
        for rule in self._rules:
            model.model[rule.ptype][rule.ptype].policy.append(list(rule.fields))


VIEW_CACHE_SIZE = 4096
"""Principal views kept per snapshot (least recently used are dropped)."""


class PolicySnapshot:
    """The enforcer for one policy version. Thread-safe; never mutated after construction."""

    def __init__(
        self,
        model_path: Path,
        rules: Sequence[PolicyRule],
        version: int,
        *,
        restricted_readers: frozenset[str] = frozenset(),
    ) -> None:
        """Build the enforcer; every rule is validated first and a bad one fails the whole load.

        Failing closed matters here: silently skipping a malformed *deny* line would widen access.
        ``restricted_readers``: the principals that may read PII-bearing documents (empty: everyone).
        """
        self.version = version
        self.restricted_readers = frozenset(restricted_readers)
        self.rules: tuple[PolicyRule, ...] = tuple(validate_rule(rule) for rule in rules)
        self._lock = threading.Lock()
        enforcer = casbin.Enforcer(str(model_path), RulesAdapter((*self.rules, *DOC_ACL_RULES)))
        # A g line in domain * joins the links of every tenant (key_match("acme", "*") is true).
        if not enforcer.add_named_domain_matching_func("g", key_match):
            raise RuntimeError("the model has no g role definition with domains")
        self._role_manager = enforcer.get_role_manager()
        self._max_depth = int(self._role_manager.max_hierarchy_level) - 1
        self._functions = make_functions(self._role_manager.has_link)
        for name, fn in self._functions.items():
            enforcer.add_function(name, fn)
        self._enforcer = enforcer
        self._model_path = model_path
        self._p_lines = [rule.fields for rule in (*self.rules, *DOC_ACL_RULES) if rule.ptype == "p"]
        self._views: OrderedDict[tuple[str, frozenset[str]], casbin.Enforcer] = OrderedDict()
        # The same expression and functions enforce_ex uses, to list every matching line.
        self._expression = CoreEnforcer._get_expression(
            enforcer.get_model()["m"]["m"].value, enforcer.fm.get_functions()
        )
        self._p_tokens = enforcer.get_model()["p"]["p"].tokens
        self._r_tokens = enforcer.get_model()["r"]["r"].tokens

    def enforce(self, principal: Principal, resource: Resource, action: str) -> tuple[bool, list[str]]:
        """Casbin's own decision and the line it reports, on the principal's view of the policy.

        Exceptions propagate to the caller (which denies).
        """
        with self._lock:
            subject = self._subject(principal)
            allowed, line = self._view(principal.tenant, subject).enforce_ex(
                Subject(subject), principal.tenant, resource, action
            )
        return allowed is True, list(line)

    def enforce_full(self, principal: Principal, resource: Resource, action: str) -> tuple[bool, list[str]]:
        """The same decision on the whole policy (what ``enforce`` must always equal; used by tests)."""
        with self._lock:
            allowed, line = self._enforcer.enforce_ex(
                Subject(self._subject(principal)), principal.tenant, resource, action
            )
        return allowed is True, list(line)

    def _subject(self, principal: Principal) -> frozenset[str]:
        """``r.sub``: the token's principals, plus ``pii:restricted`` when the caller reaches none of
        the PII readers through its ``g`` links (caller holds the lock).

        Every decision goes through here (the enforcer, the view, explanations) and ``expand``
        starts from it (the compiled filter, the PII answer filter), so the search backends and
        Casbin see the same restriction by construction.
        """
        base = principal.base_principals()
        if not self.restricted_readers or self.restricted_readers & self._reach(base, principal.tenant):
            return base
        return base | {PII_RESTRICTED}

    def _view(self, tenant: str, base: frozenset[str]) -> casbin.Enforcer:
        """An enforcer holding only the ``p`` lines that can match this principal (caller holds the lock).

        Why: pycasbin evaluates the matcher once per policy line, so a decision costs O(lines)
        (bench/policy_recheck.py: 7-9 ms per hit at 600 lines). Every ordinary line needs
        ``member(r.sub, p.sub, r.dom)`` and ``p.dom`` in {tenant, *}; dropping the lines for which
        Casbin's own ``member`` (the same function, the same role manager) is false cannot change
        the effect, so the view decides exactly as the full enforcer. The document-ACL lines are
        always kept. The hypothesis test checks view == full on every generated case.
        """
        key = (tenant, base)
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
            return view
        subject, member = Subject(base), self._functions["member"]
        memo: dict[str, bool] = {}

        def relevant(line: tuple[str, ...]) -> bool:
            sub, dom = line[0], line[1]
            if dom not in ("*", tenant):
                return False
            if sub in (DOC_ALLOW, DOC_DENY):
                return True
            if sub not in memo:
                memo[sub] = member(subject, sub, tenant)
            return memo[sub]

        lines = [PolicyRule("p", line) for line in self._p_lines if relevant(line)]
        view = casbin.Enforcer(str(self._model_path), RulesAdapter(lines))
        for name, fn in self._functions.items():
            view.add_function(name, fn)
        self._views[key] = view
        if len(self._views) > VIEW_CACHE_SIZE:
            self._views.popitem(last=False)
        return view

    def matching_lines(self, principal: Principal, resource: Resource, action: str) -> list[PolicyRule]:
        """Every policy line whose matcher is true for this request (for explanations)."""
        found: list[PolicyRule] = []
        with self._lock:
            request = (Subject(self._subject(principal)), principal.tenant, resource, action)
            params = dict(zip(self._r_tokens, request, strict=True))
            for pvals in self._enforcer.get_model()["p"]["p"].policy:
                if self._expression.eval({**params, **dict(zip(self._p_tokens, pvals, strict=True))}) is True:
                    found.append(PolicyRule("p", tuple(pvals)))
        return found

    def expand(self, principal: Principal) -> frozenset[str]:
        """Base principals plus every group/role reachable through g links in the tenant or ``*``.

        Breadth-first, to the same depth Casbin's ``has_link`` searches, so the filter compiler
        and the enforcer agree on membership even for very long chains.
        """
        with self._lock:
            return frozenset(self._reach(self._subject(principal), principal.tenant))

    def _reach(self, base: frozenset[str], tenant: str) -> set[str]:
        """``base`` and every group/role its g links reach in ``tenant`` (caller holds the lock)."""
        reached = set(base)
        frontier = set(reached)
        for _ in range(self._max_depth):
            nxt = {
                role for name in frontier for role in self._role_manager.get_roles(name, tenant) if role not in reached
            }
            if not nxt:
                break
            reached |= nxt
            frontier = nxt
        return reached

    def grants(self) -> list[PolicyRule]:
        """The stored ``p`` lines (built-in document ACL lines excluded)."""
        return [rule for rule in self.rules if rule.ptype == "p" and rule.fields[0] not in (DOC_ALLOW, DOC_DENY)]
