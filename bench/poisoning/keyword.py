"""The naive alternative: a case-insensitive keyword list of the kind many filters ship."""

from __future__ import annotations

import re

KEYWORDS = (
    "ignore", "disregard", "forget", "instructions", "system prompt", "jailbreak", "bypass", "override",
    "pretend", "act as", "you are now", "password", "secret", "confidential", "admin", "sudo", "prompt",
    "<script", "display:none", "javascript:", "base64",
)  # fmt: skip
_PATTERN = re.compile("|".join(re.escape(k) for k in KEYWORDS), re.IGNORECASE)


def keyword_flags(text: str) -> bool:
    """True when any keyword occurs anywhere in the text (or raw markup)."""
    return _PATTERN.search(text) is not None
