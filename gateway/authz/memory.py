"""An in-memory policy store with the database store's interface, for tests and benchmarks.

``connection`` is accepted and ignored: there is no transaction to share in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from gateway.authz.rules import PolicyRule


class PolicyStorePort(Protocol):
    """What ``PolicyService`` needs from a policy store (``PolicyStore`` or ``MemoryPolicyStore``)."""

    def ensure_state_row(self) -> None: ...
    def read_version(self) -> int: ...
    def load(self) -> tuple[int, list[PolicyRule]]: ...
    def add(self, rule: PolicyRule, actor: str, connection: Any = None) -> bool: ...
    def remove(self, rule: PolicyRule, actor: str, connection: Any = None) -> bool: ...
    def replace_all(self, rules: Sequence[PolicyRule], actor: str, connection: Any = None) -> None: ...
    def seed_if_empty(self, rules: Sequence[PolicyRule], actor: str, connection: Any = None) -> bool: ...


class MemoryPolicyStore:
    """Rules in a list; every change bumps the version, like the database store."""

    def __init__(self, rules: Sequence[PolicyRule] = ()) -> None:
        self._rules = list(rules)
        self._version = 0
        self._lock = threading.Lock()

    def ensure_state_row(self) -> None:
        return None

    def read_version(self) -> int:
        return self._version

    def load(self) -> tuple[int, list[PolicyRule]]:
        with self._lock:
            return self._version, list(self._rules)

    def add(self, rule: PolicyRule, actor: str, connection: Any = None) -> bool:
        with self._lock:
            if rule in self._rules:
                return False
            self._rules.append(rule)
            self._version += 1
        return True

    def remove(self, rule: PolicyRule, actor: str, connection: Any = None) -> bool:
        with self._lock:
            if rule not in self._rules:
                return False
            self._rules = [r for r in self._rules if r != rule]
            self._version += 1
        return True

    def replace_all(self, rules: Sequence[PolicyRule], actor: str, connection: Any = None) -> None:
        with self._lock:
            self._rules = list(rules)
            self._version += 1

    def seed_if_empty(self, rules: Sequence[PolicyRule], actor: str, connection: Any = None) -> bool:
        with self._lock:
            if self._rules:
                return False
            self._rules = list(rules)
            self._version += 1
        return True
