"""Policy lines as values: their shape, validation, CSV parsing and the built-in document ACL lines.

Every rule that reaches the enforcer passes :func:`validate_rule`, whether it comes from the admin
API, a seed file or the database. The strings are kept deliberately narrow: Casbin stores and
re-parses a rule as one comma-separated line (brackets and parentheses nest), and the filter
compiler must read exactly the rules Casbin reads, so anything ambiguous is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import InvalidRequest

ACTION_RANK = {"read": 1, "write": 2, "admin": 3}
"""Ordered actions: an allow grants its action and the weaker ones; a deny forbids it and the stronger."""
ACTIONS = frozenset({*ACTION_RANK, "export"})
"""``export`` stands alone: nothing implies it and it implies nothing."""
EFFECTS = frozenset({"allow", "deny"})
SYSTEM_RESOURCES = frozenset(
    {"system:policies", "system:audit", "system:audit-content", "system:documents", "system:models"}
)
"""``system:audit`` read is the audit trail's metadata; ``system:audit-content`` read adds the text
(questions, answers, citation titles): separation of duties keeps the two apart. ``system:models``
admin: fine-tuning datasets and adapters, and which adapter a tenant serves."""
ALL_COLLECTIONS = "collection:*"
ANY_TENANT = "*"

DOC_ALLOW = "doc:allow"
DOC_DENY = "doc:deny"
PII_RESTRICTED = "pii:restricted"
"""The synthetic principal of PII-bearing documents: ingest puts it in their deny list, and the
snapshot adds it to every caller holding none of the PII policy's readers. Policy rules, document
ACLs as submitted and token groups (always ``group:<name>``) can never name it."""

# Principal names: letters, digits and a few separators seen in IdP subjects (``auth0|42``,
# ``alice@example.com``). No whitespace, commas, quotes, brackets, ``*`` or ``#``: those change how
# Casbin splits a stored line, or would read as a pattern or a comment.
_NAME = r"[A-Za-z0-9][A-Za-z0-9._@+|=:\-]{0,199}"
_PRINCIPAL_RE = re.compile(rf"(?:user|group|role):{_NAME}")
_ROLE_TARGET_RE = re.compile(rf"(?:group|role):{_NAME}")
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_COLLECTION_RE = re.compile(r"collection:(?:\*|[A-Za-z0-9][A-Za-z0-9._\-]{0,127})")


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One Casbin policy line: ``ptype`` (``p`` or ``g``) and its fields, in model order."""

    ptype: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return ", ".join((self.ptype, *self.fields))

    @property
    def effect(self) -> str:
        return self.fields[4] if self.ptype == "p" else ""


DOC_ACL_RULES = (
    PolicyRule("p", (DOC_ALLOW, ANY_TENANT, ALL_COLLECTIONS, "read", "allow")),
    PolicyRule("p", (DOC_DENY, ANY_TENANT, ALL_COLLECTIONS, "read", "deny")),
)
"""The built-in lines through which a document's own ACL takes part in every decision.

They live in code, not in the policy store, so that nobody can remove document-level deny.
"""


def is_valid_tenant(tenant: str) -> bool:
    """A concrete tenant name (never a pattern)."""
    return _TENANT_RE.fullmatch(tenant) is not None


def is_valid_resource(resource: str) -> bool:
    return resource in SYSTEM_RESOURCES or _COLLECTION_RE.fullmatch(resource) is not None


def _check(ok: bool, what: str, rule: PolicyRule) -> None:
    if not ok:
        raise InvalidRequest(f"invalid policy rule ({what}): {str(rule)[:300]}")


def validate_rule(rule: PolicyRule) -> PolicyRule:
    """Return the rule if it has a shape the model understands; raise ``InvalidRequest`` otherwise."""
    f = rule.fields
    if rule.ptype == "g":
        _check(len(f) == 3, "g takes member, group or role, tenant", rule)
        _check(_PRINCIPAL_RE.fullmatch(f[0]) is not None, "member principal", rule)
        _check(_ROLE_TARGET_RE.fullmatch(f[1]) is not None, "target must be group: or role:", rule)
        _check(f[0] != f[1], "self link", rule)
        _check(f[2] == ANY_TENANT or is_valid_tenant(f[2]), "tenant", rule)
        return rule
    _check(rule.ptype == "p", "ptype must be p or g", rule)
    _check(len(f) == 5, "p takes principal, tenant, resource, action, effect", rule)
    _check(_PRINCIPAL_RE.fullmatch(f[0]) is not None, "principal", rule)
    _check(f[1] == ANY_TENANT or is_valid_tenant(f[1]), "tenant", rule)
    _check(is_valid_resource(f[2]), "resource", rule)
    _check(f[3] in ACTIONS, "action", rule)
    _check(f[4] in EFFECTS, "effect", rule)
    return rule


def parse_line(line: str) -> PolicyRule | None:
    """Parse one CSV policy line (``p, a, b, ...``); blank lines and ``#`` comments give ``None``."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = [part.strip() for part in text.split(",")]
    return validate_rule(PolicyRule(parts[0], tuple(parts[1:])))


def read_policy_csv(path: Path) -> Iterator[PolicyRule]:
    """The rules of one policy CSV file, validated."""
    for line in path.read_text(encoding="utf-8").splitlines():
        rule = parse_line(line)
        if rule is not None:
            yield rule


def read_seed_dir(seed_dir: Path) -> list[PolicyRule]:
    """Every ``*.csv`` in the directory, in file-name order; duplicates dropped."""
    files = sorted(seed_dir.glob("*.csv"))
    if not files:
        raise InvalidRequest(f"no policy CSV files in {seed_dir.name}")
    return dedupe(rule for path in files for rule in read_policy_csv(path))


def dedupe(rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    return list(dict.fromkeys(rules))
