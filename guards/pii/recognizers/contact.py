"""Email addresses, phone numbers and IP addresses."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import tldextract
from presidio_analyzer import Pattern

from guards.pii.recognizers.base import PiiPatternRecognizer, digits


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled public-suffix snapshot: no suffix-list URLs, no cache writes, no network."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


# Enterprise mail often lives on private-use names that no public suffix list holds (RFC 6762's
# .local, ICANN's reserved .internal, the de-facto .corp/.lan/.intranet): an employee's address there
# is as personal as one at a .com. The RFC 2606 documentation names (.example, .invalid, .test) stay out.
INTERNAL_TLDS = frozenset({"local", "internal", "corp", "lan", "intranet", "localdomain", "home.arpa", "private"})


class EmailAddressRecognizer(PiiPatternRecognizer):
    """RFC 5322-ish addresses whose domain ends in a public suffix or a private-use enterprise name
    (``a@b.invalid`` is neither)."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (Pattern("email", r"\b[A-Za-z0-9._%+'-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}\b", 0.5),)
    CONTEXT = ("email", "e-mail", "mail", "contact", "reach")

    def validate_result(self, pattern_text: str) -> bool | None:
        domain = pattern_text.rsplit("@", 1)[-1].lower()
        if domain.rsplit(".", 1)[-1] in INTERNAL_TLDS or domain.endswith(".home.arpa"):
            return True
        return bool(offline_tld_extractor()(domain).suffix)


# Why several shapes instead of phonenumbers' matcher: it is half the engine's cost and misses the
# common ``555.123.4567`` and ``(555) 123 4567`` forms without a region hint. Each shape needs
# separators in phone-like places, so product codes (``A-1234-5678``), versions and ISO dates do not match.
_SEP = r"[ .\-]"
_PHONE_SHAPES = [
    # +44 20 7946 0958, +1-202-555-0173, +49 (0)30 1234567, +33 1 23 45 67 89
    rf"(?<![\w+])\+\d{{1,3}}(?:{_SEP}?\(0\))?(?:{_SEP}?\(?\d{{1,5}}\)?){{2,6}}(?!\w)",
    # (202) 555-0173, (202)555.0173, 1-800-555-0199, 202-555-0173, 202.555.0173, 202 555 0173
    rf"(?<![\w.-])(?:1{_SEP})?(?:\(\d{{3}}\){_SEP}?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}(?:\s?(?:x|ext\.?)\s?\d{{1,5}})?(?![\w-])",
    # 020 7946 0958, 07700 900123, 030 12345678 (national trunk prefix 0)
    rf"(?<![\w.-])0\d{{2,4}}{_SEP}\d{{3,4}}{_SEP}?\d{{3,4}}(?![\w-])",
    # 06 12 34 56 78 (French pairs)
    rf"(?<![\w.-])0\d(?:{_SEP}\d\d){{4}}(?![\w-])",
]
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


class PhoneNumberRecognizer(PiiPatternRecognizer):
    """International and national phone numbers: 7 to 15 digits in a phone-like layout."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = tuple(Pattern(f"phone_{i}", shape, 0.6) for i, shape in enumerate(_PHONE_SHAPES))
    CONTEXT = ("phone", "call", "tel", "telephone", "mobile", "cell", "fax", "number", "reach", "text", "whatsapp")

    def validate_result(self, pattern_text: str) -> bool | None:
        n = len(digits(pattern_text))
        if n < 9 or n > 15 or _DATE_LIKE.match(pattern_text.strip()):
            return False
        return None


class IpAddressRecognizer(PiiPatternRecognizer):
    """IPv4 and IPv6 addresses that parse (``999.1.1.1`` does not)."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = (
        Pattern("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)", 0.6),
        Pattern("ipv6", r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?:/\d{1,3})?(?![\w:])", 0.6),
        Pattern("ipv6_compressed", r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:?){0,6}(?![\w:])", 0.5),
    )
    CONTEXT = ("ip", "address", "host", "server", "client", "login", "from")

    def validate_result(self, pattern_text: str) -> bool | None:
        try:
            ipaddress.ip_address(pattern_text.partition("/")[0])
        except ValueError:
            return False
        return None
