"""Document parsers: bytes of a supported type in, normalised text (and a title) out.

Everything a parser returns is plain text with markdown headings, so chunking can follow the
document's structure whatever the source format. Anything we cannot read safely is refused with
``UnsupportedDocument``; no parser error ever escapes as a 500.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from pypdf import PdfReader

from gateway.errors import InvalidRequest

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""Refuse documents larger than this (20 MiB) before parsing them."""

_MIME_BY_SUFFIX = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}


class UnsupportedDocument(InvalidRequest):
    """The document's type, size or content cannot be parsed (corrupt, encrypted, too large)."""

    code = "unsupported_document"
    title = "Unsupported document"


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The text of a document, normalised, with markdown ``#`` headings where the source had them."""

    title: str | None
    """From the source's own metadata or first heading; ``None`` when it has none."""
    text: str
    hidden_text_removed: int = 0
    """HTML elements with text that a reader would not see (hidden by style or attribute) and
    that were dropped. Hidden text is a classic poisoning vector; the poisoning guard reads this."""


def mime_from_filename(path: str | os.PathLike[str]) -> str:
    """The MIME type for a supported file name, by extension (case-insensitive).

    Raises:
        UnsupportedDocument: the extension is not one we parse.
    """
    suffix = PurePath(path).suffix.lower()
    try:
        return _MIME_BY_SUFFIX[suffix]
    except KeyError:
        raise UnsupportedDocument(f"Unsupported file type {suffix or '(none)'!r}") from None


def parse_document(
    data: bytes, mime_type: str, *, filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedDocument:
    """Parse ``data`` of type ``mime_type`` into normalised text.

    ``mime_type`` may carry parameters (``text/html; charset=utf-8``); when it is empty or
    ``application/octet-stream`` the type is taken from ``filename``.

    Raises:
        UnsupportedDocument: unsupported type, larger than ``max_bytes``, or unreadable content.
    """
    if len(data) > max_bytes:
        raise UnsupportedDocument(f"Document is larger than the {max_bytes} byte limit")
    mime = mime_type.split(";", 1)[0].strip().lower()
    if mime in ("", "application/octet-stream") and filename:
        mime = mime_from_filename(filename)
    if mime == "text/plain":
        return ParsedDocument(title=None, text=normalise_text(decode_text(data)))
    if mime == "text/markdown":
        text = normalise_text(decode_text(data))
        return ParsedDocument(title=_first_markdown_heading(text), text=text)
    if mime in ("text/html", "application/xhtml+xml"):
        return _parse_html(data)
    if mime == "application/pdf":
        return _parse_pdf(data)
    raise UnsupportedDocument(f"Unsupported document type {mime or '(none)'!r}")


# --- text -------------------------------------------------------------------------------------

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# Control characters (C0 and C1, except tab and newline) carry no meaning in documents and can
# hide content from reviewers; bidi overrides and zero-width characters do the same visually
# (e.g. "Trojan Source"-style reordering), so they are dropped as well.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (BOM honoured, UTF-16 when it has a BOM), else as latin-1."""
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # latin-1 maps every byte, so this never fails; its C1 controls are stripped later.
        return data.decode("latin-1")


def normalise_text(text: str) -> str:
    """NFC, unified newlines, no control/invisible characters, collapsed spaces and blank lines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text)
    lines = (_HSPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _first_markdown_heading(text: str) -> str | None:
    for line in text.split("\n"):
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            if title:
                return title
    return None


# --- HTML -------------------------------------------------------------------------------------

_DROPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "head", "title", "meta", "link", "svg", "canvas"}
    | {"iframe", "object", "embed", "button", "select", "option", "input", "textarea"}
)
_SOURCE_SPACE = re.compile(r"\s+")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote"}
    | {"pre", "table", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "form", "hr"}
    | {"address", "details", "summary", "body", "html"}
)
# Inline styles that make text invisible to a reader while it stays in the DOM.
_HIDDEN_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|font-size\s*:\s*0(?:\.0+)?(?:[a-z%]+)?\s*(?:!important)?\s*(?:;|$)"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:!important)?\s*(?:;|$))",
    re.IGNORECASE,
)


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden"):
        return True
    if str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))


def _html_markup(data: bytes) -> str | bytes:
    """UTF-8 when the bytes are valid UTF-8 (and carry no UTF-16 BOM), else the bytes for bs4 to
    decode by BOM, declared charset or detection. Detection alone misreads short UTF-8 pages:
    found by fuzzing, ``<p>ää</p>`` came back as CJK text."""
    if data.startswith(_UTF16_BOMS):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data


def _parse_html(data: bytes) -> ParsedDocument:
    soup = BeautifulSoup(_html_markup(data), "html.parser")
    title_tag = soup.find("title")
    title = normalise_text(title_tag.get_text(" ")) if isinstance(title_tag, Tag) else ""
    parts: list[str] = []
    hidden = 0
    first_h1: str | None = None
    for item in _walk(soup):
        if isinstance(item, str):
            parts.append(item)
        elif _is_hidden(item):
            hidden += 1 if item.get_text(strip=True) else 0
        elif item.name in _HEADINGS:
            heading = normalise_text(item.get_text(" ")).replace("\n", " ")
            if heading:
                parts.append(f"\n\n{'#' * _HEADINGS[item.name]} {heading}\n\n")
                if item.name == "h1" and first_h1 is None:
                    first_h1 = heading
    text = normalise_text("".join(parts))
    return ParsedDocument(title=title or first_h1, text=text, hidden_text_removed=hidden)


def _walk(root: Tag) -> Iterator[str | Tag]:
    """Yield text pieces in document order, and tags the caller must render itself.

    Hidden elements and headings are yielded (not descended into) so the caller can count or
    render them. Source whitespace collapses as a browser would, except inside ``<pre>``.
    Iterative, so deeply nested markup cannot exhaust the recursion limit.
    """
    stack: list[tuple[str | Tag | NavigableString, bool]] = [(root, False)]
    while stack:
        node, in_pre = stack.pop()
        if isinstance(node, PreformattedString):  # comments, CDATA, doctype, processing instr.
            continue
        if isinstance(node, NavigableString):
            yield str(node) if in_pre else _SOURCE_SPACE.sub(" ", node)
            continue
        if isinstance(node, str):  # a separator pushed below
            yield node
            continue
        name = node.name
        if name in _DROPPED_TAGS:
            continue
        if name in _HEADINGS or _is_hidden(node):
            yield node
            continue
        if name == "br":
            yield "\n"
            continue
        before, after = _separators(name)
        inner_pre = in_pre or name == "pre"
        yield before
        stack.append((after, in_pre))
        children = [c for c in node.children if isinstance(c, (Tag, NavigableString))]
        stack.extend((child, inner_pre) for child in reversed(children))


def _separators(name: str) -> tuple[str, str]:
    if name == "li":
        return "\n- ", ""
    if name == "tr":
        return "\n", " |"
    if name in ("td", "th"):
        return " | ", " "
    if name in _BLOCKS:
        return "\n\n", "\n\n"
    return "", ""


# --- PDF --------------------------------------------------------------------------------------


def _parse_pdf(data: bytes) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnsupportedDocument("Encrypted PDFs are not supported; upload an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnsupportedDocument:
        raise
    except Exception as exc:
        # pypdf raises many exception types on malformed input; any of them means "unreadable",
        # and the caller gets a fixed message, never the library's text.
        raise UnsupportedDocument("The PDF could not be read (corrupt or malformed)") from exc
    text = normalise_text("\n\n".join(normalise_text(page) for page in pages))
    if not text:
        raise UnsupportedDocument("The PDF has no extractable text (scanned images need OCR first)")
    title = normalise_text(str(meta_title)).replace("\n", " ") or text.split("\n", 1)[0]
    return ParsedDocument(title=title, text=text)
