"""Credentials in text: API keys, bearer tokens, private keys and passwords."""

from __future__ import annotations

import math
from collections import Counter

from presidio_analyzer import Pattern

from guards.pii.recognizers.base import PiiPatternRecognizer


def entropy_bits(text: str) -> float:
    """Shannon entropy per character: random keys sit above ~3.5, words and ids below."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


class ApiKeyRecognizer(PiiPatternRecognizer):
    """Keys with a vendor's known prefix, and long random strings after ``api key``-like labels."""

    ENTITY = "API_KEY"
    PATTERNS = (
        # OpenAI/Anthropic sk-..., Stripe sk_live_/rk_live_, GitHub ghp_/gho_/ghs_/github_pat_, GitLab glpat-,
        # Slack xox?-, AWS access key ids, Google API keys.
        Pattern("vendor_prefix", r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
                r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}"
                r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35})\b", 0.9),
        Pattern("labelled", r"(?i)(?<=api[_ -]key[\"']?\s?[:=]\s?[\"']?)[A-Za-z0-9_\-+/]{16,}", 0.7),
        Pattern("labelled_secret",
                r"(?i)(?<=(?:secret|token|access[_ -]key)[\"']?\s?[:=]\s?[\"']?)[A-Za-z0-9_\-+/]{16,}", 0.6),
    )  # fmt: skip
    CONTEXT = ("api", "key", "token", "secret", "credential")
    REQUIRES = ("sk-", "sk_", "rk_", "gh", "glpat", "xox", "akia", "aiza", "key", "secret", "token")

    def validate_result(self, pattern_text: str) -> bool | None:
        return entropy_bits(pattern_text) >= 3.0


class BearerTokenRecognizer(PiiPatternRecognizer):
    """``Bearer <token>`` credentials and bare JSON Web Tokens."""

    ENTITY = "BEARER_TOKEN"
    PATTERNS = (
        Pattern("bearer", r"(?<=[Bb]earer )[A-Za-z0-9\-._~+/]{16,}=*", 0.85),
        Pattern("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.95),
    )
    CONTEXT = ("authorization", "bearer", "token", "header")
    REQUIRES = ("bearer", "eyj")


class PrivateKeyRecognizer(PiiPatternRecognizer):
    """PEM private keys, the whole block (a half-redacted key is still a leaked key)."""

    ENTITY = "PRIVATE_KEY"
    PATTERNS = (
        Pattern(
            "pem",
            r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]{0,8000}?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|\Z)",
            1.0,
        ),
    )
    CONTEXT = ("key", "private", "pem", "ssh")
    REQUIRES = ("private key-----",)


class PasswordRecognizer(PiiPatternRecognizer):
    """The value after ``password:``, ``pwd=``, ``password is`` and the like (the label stays)."""

    ENTITY = "PASSWORD"
    PATTERNS = (
        Pattern(
            "assigned", r"(?i)(?<=(?:password|passwd|pwd|passphrase|pass)[\"']?\s?[:=]\s?[\"']?)[^\s\"',;]{4,}", 0.8
        ),
        Pattern("told", r"(?i)(?<=(?:password|passphrase) is )[^\s\"',;]*[0-9!@#$%^&*_]+[^\s\"',;]*", 0.7),
        Pattern("told_quoted", r"(?i)(?<=(?:password|passphrase) is [\"'])[^\"']{4,}(?=[\"'])", 0.8),
    )
    CONTEXT = ("password", "login", "credentials", "pwd")
    REQUIRES = ("pass", "pwd")

    def validate_result(self, pattern_text: str) -> bool | None:
        # "password: ********" and "password: <redacted>" are not passwords.
        stripped = pattern_text.strip("*<>[]().")
        return None if stripped and stripped.lower() not in {"redacted", "hidden", "none", "null"} else False
