"""Identifier-style known-item queries over the man pages (page names, long options, constants)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bench.quality_corpus import ManPage

_LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]+(?:-[a-z0-9]+)+\b")
"""Long options with at least one inner dash (``--preserve-root``): specific enough to be rare."""
_CONSTANT = re.compile(r"\b[A-Z][A-Z0-9]+_[A-Z0-9_]*[A-Z0-9]\b")
"""C-style constants (``O_CLOEXEC``, ``EPOLL_CTL_ADD``)."""


@dataclass(frozen=True)
class Query:
    """One known-item query: its text, the one right document, and the set it belongs to."""

    text: str
    answer: str
    kind: str
    """``description``, ``page-name``, ``long-option`` or ``constant``."""


def identifier_queries(pages: Sequence[ManPage], per_kind: int, seed: int) -> list[Query]:
    """Identifier-style known items whose answer is unambiguous in the indexed corpus.

    ``page-name``: the page's first name (``strncpy``), named by no other sampled page;
    ``long-option`` / ``constant``: a token found in exactly one indexed page (one per page).
    """
    rng = random.Random(seed)
    name_owners = Counter(n.lower() for p in pages for n in set(p.names))
    by_name = [
        Query(p.names[0], p.document_id, "page-name")
        for p in pages
        if p.names and " " not in p.names[0] and name_owners[p.names[0].lower()] == 1
    ]
    out = rng.sample(by_name, min(per_kind, len(by_name)))
    for kind, pattern in (("long-option", _LONG_OPTION), ("constant", _CONSTANT)):
        found = {p.document_id: set(pattern.findall(p.text)) for p in pages}
        owners = Counter(token for tokens in found.values() for token in tokens)
        candidates = [
            Query(rng.choice(sorted(unique)), doc, kind)
            for doc, tokens in sorted(found.items())
            if (unique := {t for t in tokens if owners[t] == 1})
        ]
        out.extend(rng.sample(candidates, min(per_kind, len(candidates))))
    return out
