"""Parsers: every supported type to normalised text; anything unreadable is UnsupportedDocument."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from gateway.errors import InvalidRequest
from gateway.ingest.parsers import (
    DEFAULT_MAX_BYTES,
    ParsedDocument,
    UnsupportedDocument,
    mime_from_filename,
    parse_document,
)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "parsers"


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


@pytest.mark.parametrize(
    ("filename", "mime"),
    [
        ("notes.txt", "text/plain"),
        ("README.md", "text/markdown"),
        ("guide.MARKDOWN", "text/markdown"),
        ("page.html", "text/html"),
        ("page.HTM", "text/html"),
        ("dir/report.v2.pdf", "application/pdf"),
    ],
)
def test_mime_from_filename_maps_supported_extensions(filename: str, mime: str) -> None:
    assert mime_from_filename(filename) == mime


@pytest.mark.parametrize("filename", ["photo.jpg", "archive.tar.gz", "Makefile", "sheet.xlsx"])
def test_mime_from_filename_refuses_unknown_extensions(filename: str) -> None:
    with pytest.raises(UnsupportedDocument):
        mime_from_filename(filename)


def test_unsupported_document_is_an_invalid_request_with_its_own_code() -> None:
    err = UnsupportedDocument("nope")
    assert isinstance(err, InvalidRequest)
    assert (err.code, err.status_code) == ("unsupported_document", 400)


@pytest.mark.parametrize(
    ("data", "mime", "expected"),
    [
        (b"Hello  world\t again", "text/plain", ParsedDocument(None, "Hello world again")),
        (b"\xef\xbb\xbfBOM first", "text/plain", ParsedDocument(None, "BOM first")),
        ("UTF-16 text".encode("utf-16"), "text/plain", ParsedDocument(None, "UTF-16 text")),
        (b"caf\xe9 cr\xe8me", "text/plain", ParsedDocument(None, "café crème")),
        (b"a\r\nb\rc\n\n\n\n\nd", "text/plain", ParsedDocument(None, "a\nb\nc\n\nd")),
        (b"nul\x00 and bell\x07 gone", "text/plain", ParsedDocument(None, "nul and bell gone")),
        (b"zero\xe2\x80\x8bwidth \xe2\x80\xaebidi", "text/plain", ParsedDocument(None, "zerowidth bidi")),
        (
            b"# Leave policy\n\nBody text.",
            "text/markdown",
            ParsedDocument("Leave policy", "# Leave policy\n\nBody text."),
        ),
        (b"No heading here.", "text/markdown", ParsedDocument(None, "No heading here.")),
        (b"plain", "text/plain; charset=utf-8", ParsedDocument(None, "plain")),
        (b"", "text/plain", ParsedDocument(None, "")),
    ],
)
def test_text_types_decode_and_normalise(data: bytes, mime: str, expected: ParsedDocument) -> None:
    assert parse_document(data, mime) == expected


@pytest.mark.parametrize(
    ("html", "title", "text"),
    [
        (b"<title>T</title><h1>Head</h1><p>Body</p>", "T", "# Head\n\nBody"),
        (
            b"<h1>First <b>heading</b></h1><h3>Sub</h3><p>x</p>",
            "First heading",
            "# First heading\n\n### Sub\n\nx",
        ),
        (b"<p>one\n   two</p><p>three<br>four</p>", None, "one two\n\nthree\nfour"),
        (b"<ul><li>a</li><li>b</li></ul>", None, "- a\n- b"),
        (
            b"<table><tr><th>k</th><td>v</td></tr><tr><td>1</td><td>2</td></tr></table>",
            None,
            "| k | v |\n| 1 | 2 |",
        ),
        (b"<p>keep</p><!-- a comment --><script>var x;</script><style>p{}</style>", None, "keep"),
        (b'<meta charset="latin-1"><p>caf\xe9</p>', None, "café"),
    ],
)
def test_html_keeps_structure_as_markdown(html: bytes, title: str | None, text: str) -> None:
    parsed = parse_document(html, "text/html")
    assert (parsed.title, parsed.text) == (title, text)


def test_html_drops_and_counts_hidden_elements() -> None:
    parsed = parse_document((FIXTURES / "hidden.html").read_bytes(), "text/html")
    assert parsed.title == "Visitor Guide"
    assert parsed.text == (
        "# Visitor guide\n\nVisitors sign in at reception on the ground floor.\n\n"
        "## Parking\n\nGuest parking is in car park B."
    )
    # display:none, visibility:hidden, hidden, aria-hidden and font-size:0 each hid text; the
    # empty aria-hidden icon hid nothing; script/noscript/template are not "hidden text".
    assert parsed.hidden_text_removed == 5


@pytest.mark.parametrize(
    "element",
    [
        '<div style="display: none !important">x</div>',
        '<div style="color:red;DISPLAY:NONE">x</div>',
        '<div style="visibility:collapse">x</div>',
        '<div style="opacity: 0">x</div>',
        "<div hidden>x</div>",
        '<div aria-hidden="TRUE">x</div>',
    ],
)
def test_html_hidden_element_variants_are_removed(element: str) -> None:
    parsed = parse_document(f"<p>shown</p>{element}".encode(), "text/html")
    assert (parsed.text, parsed.hidden_text_removed) == ("shown", 1)


@pytest.mark.parametrize(
    "element",
    [
        '<div style="display:block">x</div>',
        '<div style="opacity:0.5">x</div>',
        '<div aria-hidden="false">x</div>',
    ],
)
def test_html_visible_elements_are_kept(element: str) -> None:
    parsed = parse_document(element.encode(), "text/html")
    assert (parsed.text, parsed.hidden_text_removed) == ("x", 0)


def test_html_deep_nesting_does_not_exhaust_recursion() -> None:
    html = "<div>" * 5000 + "deep" + "</div>" * 5000
    assert parse_document(html.encode(), "text/html").text == "deep"


@pytest.mark.parametrize(
    ("fixture", "title", "text"),
    [
        (
            "two-pages.pdf",
            "Quarterly Safety Notes",
            "Safety notes\nFire drills happen every March and September.\n\n"
            "Page two: the assembly point is car park B.",
        ),
        (
            "untitled.pdf",
            "Warehouse inventory count",
            "Warehouse inventory count\nCounts close on the last Friday of each quarter.",
        ),
    ],
)
def test_pdf_text_page_by_page_with_title_from_metadata_or_first_line(fixture: str, title: str, text: str) -> None:
    parsed = parse_document((FIXTURES / fixture).read_bytes(), "application/pdf")
    assert (parsed.title, parsed.text) == (title, text)


def _encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "two-pages.pdf"))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.4\nthis is not a pdf at all", id="garbage-after-header"),
        pytest.param(b"", id="empty"),
        pytest.param((FIXTURES / "two-pages.pdf").read_bytes()[:300], id="truncated"),
        pytest.param(b"<html>not a pdf</html>", id="wrong-type"),
        pytest.param(_encrypted_pdf(), id="encrypted"),
    ],
)
def test_unreadable_pdfs_are_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedDocument):
        parse_document(data, "application/pdf")


def test_pdf_without_text_is_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(UnsupportedDocument, match="no extractable text"):
        parse_document(out.getvalue(), "application/pdf")


def test_refusal_detail_never_carries_library_messages() -> None:
    with pytest.raises(UnsupportedDocument) as info:
        parse_document(b"%PDF-1.7 junk", "application/pdf")
    assert info.value.detail == "The PDF could not be read (corrupt or malformed)"


@pytest.mark.parametrize("mime", ["image/png", "application/zip", "", "text/csv"])
def test_unsupported_types_are_refused(mime: str) -> None:
    with pytest.raises(UnsupportedDocument):
        parse_document(b"data", mime)


def test_generic_mime_falls_back_to_filename() -> None:
    parsed = parse_document(b"# Title\n\nx", "application/octet-stream", filename="a.md")
    assert parsed.title == "Title"


def test_size_limit_is_enforced_before_parsing() -> None:
    assert DEFAULT_MAX_BYTES == 20 * 1024 * 1024
    assert parse_document(b"12345", "text/plain", max_bytes=5).text == "12345"
    with pytest.raises(UnsupportedDocument, match="limit"):
        parse_document(b"123456", "text/plain", max_bytes=5)


@pytest.mark.parametrize("path", sorted(FIXTURES.iterdir()), ids=lambda p: p.name)
def test_every_fixture_parses_by_its_file_name(path: Path) -> None:
    parsed = parse_document(path.read_bytes(), mime_from_filename(path))
    assert parsed.text
    assert not _has_control(parsed.text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_plain_text_give_clean_text(data: bytes) -> None:
    parsed = parse_document(data, "text/plain")
    assert isinstance(parsed.text, str)
    assert not _has_control(parsed.text)
    assert parsed.text == parsed.text.strip()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["text/html", "application/pdf", "text/markdown"]))
def test_arbitrary_bytes_of_any_type_raise_only_unsupported_document(data: bytes, mime: str) -> None:
    try:
        parsed = parse_document(data, mime)
    except UnsupportedDocument:
        return
    assert not _has_control(parsed.text)
