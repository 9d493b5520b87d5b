"""Hostile documents and hostile names: structured fuzzing of the ingest parsers (HTML, markdown,
text encodings, PDF), decompression and entity bombs, and the ACL compiler on names that look
like patterns. Complements the byte-level fuzzing in test_parsers.py and the policy fuzzing in
test_authz_filter_property.py.
"""

from __future__ import annotations

import io
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject, StreamObject

from gateway.auth.principal import Principal
from gateway.authz.rules import PolicyRule
from gateway.authz.service import DocumentRef, PolicyService
from gateway.errors import GatewayError
from gateway.ingest.parsers import UnsupportedDocument, normalise_text, parse_document
from tests.unit.test_authz_filter_property import MODEL

# Words made of letters only, so that "the visible text survives" is a plain containment check.
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüßéñ", min_size=1, max_size=12)
hostile_text = st.text(max_size=200)  # every code point: controls, bidi overrides, surrogates excluded
TAGS = ("p", "div", "span", "h1", "h2", "li", "ul", "table", "td", "tr", "pre", "code", "a", "b", "i", "section")
ATTRS = ('class="x"', 'style="color:red"', 'href="javascript:alert(1)"', 'onload="steal()"', 'data-x="&#0;"')


@st.composite
def html_documents(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """Random well-formed-ish HTML around known visible words (and hostile noise)."""
    visible = draw(st.lists(words, min_size=1, max_size=8))
    parts = []
    for word in visible:
        tag = draw(st.sampled_from(TAGS))
        attr = draw(st.sampled_from(("", *ATTRS)))
        noise = draw(st.sampled_from(("", "<!-- c -->", "<script>var a='</p>';</script>", "&amp;", "<br>", "\x00")))
        parts.append(f"<{tag} {attr}>{word}</{tag}>{noise}")
    unclosed = draw(st.booleans())
    html = "<html><head><title>t</title></head><body>" + " ".join(parts) + ("" if unclosed else "</body></html>")
    return html.encode(draw(st.sampled_from(("utf-8", "utf-16")))), visible


@settings(max_examples=150, deadline=None)
@given(html_documents())
def test_html_keeps_every_visible_word_and_drops_scripts_and_controls(doc: tuple[bytes, list[str]]) -> None:
    data, visible = doc
    try:
        parsed = parse_document(data, "text/html")
    except UnsupportedDocument:
        return  # refusing is allowed; crashing or leaking script is not
    for word in visible:
        assert normalise_text(word) in parsed.text
    assert "steal()" not in parsed.text and "var a=" not in parsed.text and "\x00" not in parsed.text


@settings(max_examples=200, deadline=None)
@given(hostile_text, st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom")))
def test_text_in_every_supported_encoding_decodes_to_the_same_normalised_text(text: str, encoding: str) -> None:
    raw = text.encode("utf-8", "surrogatepass").decode("utf-8", "ignore")  # drop lone surrogates
    if encoding == "utf-16-le-bom":
        data = b"\xff\xfe" + raw.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + raw.encode("utf-16-be")
    else:
        data = raw.encode(encoding)
    for mime in ("text/plain", "text/markdown"):
        assert parse_document(data, mime).text == normalise_text(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(hostile_text, st.builds(lambda w: f"# {w}", words), st.just("```")), max_size=30))
def test_markdown_normalisation_is_idempotent_and_clean(lines: list[str]) -> None:
    parsed = parse_document("\n".join(lines).encode("utf-8", "ignore"), "text/markdown")
    assert normalise_text(parsed.text) == parsed.text
    assert not any(ch in parsed.text for ch in ("\x00", "\u202e", "\u200b", "\r"))
    assert parsed.title is None or "\n" not in parsed.title


# -- bombs and huge documents --------------------------------------------------------------------


def _pdf_with_content(stream: StreamObject) -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _deflate_bomb(decompressed_mb: int) -> StreamObject:
    """A Flate stream of about 0.1% of its decompressed size (a text operator repeated)."""
    compressor, chunk = zlib.compressobj(9), b"BT /F1 12 Tf (A) Tj ET\n" * 45_000  # ~1 MiB
    data = b"".join(compressor.compress(chunk) for _ in range(decompressed_mb)) + compressor.flush()
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    return stream


def test_a_pdf_decompression_bomb_is_refused_quickly_and_never_inflated() -> None:
    bomb = _pdf_with_content(_deflate_bomb(200))  # 200 MiB of content in a ~200 KB file
    assert len(bomb) < 1_000_000
    start = time.perf_counter()
    with pytest.raises(UnsupportedDocument):
        parse_document(bomb, "application/pdf")
    assert time.perf_counter() - start < 10


def test_an_entity_expansion_bomb_in_xhtml_is_not_expanded() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY l0 "lol">{lol}]><html><body><p>&l9;</p></body></html>'
    start = time.perf_counter()
    try:
        parsed = parse_document(doc.encode(), "application/xhtml+xml")
    except UnsupportedDocument:
        parsed = None
    assert time.perf_counter() - start < 5
    assert parsed is None or len(parsed.text) < 10_000  # 10^9 "lol"s were never produced


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    start = time.perf_counter()
    with pytest.raises(UnsupportedDocument):
        parse_document(b"<p>" * 2_000_000, "text/html", max_bytes=1_000_000)
    assert time.perf_counter() - start < 0.5


# -- the ACL compiler on names that look like patterns ------------------------------------------

# Valid tenant/group/subject characters (gateway.auth.claims) that mean something to a matcher:
# glob and regex metacharacters, path separators, the ``*`` domain spelled inside a name.
ACCEPTED = {"accepted": 0, "refused": 0}
PATTERNISH = ("a*", "*a", "a.b", "a+", "a/b", "a:b", "a@b", "a.*", "a-b", "ab", "a_b", "A")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    member=st.sampled_from(PATTERNISH),
    granted=st.sampled_from(PATTERNISH),
    asked=st.sampled_from(PATTERNISH),
    collection=st.sampled_from(PATTERNISH),
    effect=st.sampled_from(("allow", "deny")),
)
def test_names_that_look_like_patterns_match_only_themselves(
    member: str, granted: str, asked: str, collection: str, effect: str
) -> None:
    rules = [
        PolicyRule("g", ("user:u", f"group:{member}", "t")),
        PolicyRule("p", (f"group:{granted}", "t", f"collection:{collection}", "read", effect)),
    ]
    try:
        service = PolicyService.from_rules(MODEL, rules)
    except GatewayError:
        ACCEPTED["refused"] += 1
        return  # the rule validator refused the name: nothing to match
    ACCEPTED["accepted"] += 1
    principal = Principal("u", "t", frozenset())
    doc = DocumentRef("t", asked, (), ())
    expected = effect == "allow" and member == granted and collection == asked
    assert service.can_read(principal, doc).allowed == expected
    assert service.compile_filter(principal).matches(doc.tenant, doc.collection, doc.allow, doc.deny) == expected


def test_pattern_names_were_both_refused_and_accepted() -> None:
    """The property above ran on accepted names too, not only on refusals (runs after it)."""
    if sum(ACCEPTED.values()):
        assert ACCEPTED["accepted"] > 10 and ACCEPTED["refused"] > 10, ACCEPTED
