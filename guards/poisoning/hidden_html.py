"""HTML a person would not see: CSS-hidden text, comments, and instructions in attributes.

lxml's HTML parser walks the markup once with callbacks and builds no tree: the stdlib
``HTMLParser`` measured 13 ms per 1,000 words on Debian's HTML documentation, lxml's C tokenizer
0.5 ms, and the budget for all screening is 10 ms. Each open element carries whether it is hidden
and the background it paints; text inside a hidden element is collected per technique. Rules in
``<style>`` blocks apply through simple selectors (``.class``, ``#id``, ``tag``, ``tag.class``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from guards.poisoning.css import RGB, background_of, declarations, hiding_technique

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "title", "svg"})
_READ_ATTRS = ("alt", "title", "aria-label", "aria-description", "placeholder", "content")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SIMPLE_SELECTOR = re.compile(r"^([a-z][a-z0-9]*)?(?:([.#])([\w-]+))?$", re.IGNORECASE)
WHITE: RGB = (255, 255, 255)


@dataclass
class HtmlReading:
    """What a model reads in an HTML document that a person would not see."""

    hidden: dict[str, list[str]] = field(default_factory=dict)
    """Text per hiding technique."""
    comments: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    """alt, title, aria-label and meta contents: read by a model, rarely looked at by a person."""


@dataclass
class _Frame:
    tag: str
    hidden: str | None
    background: RGB


class _Reader:
    """An lxml parser target: start/end/data/comment callbacks in document order."""

    def __init__(self) -> None:
        self.out = HtmlReading()
        self.stack: list[_Frame] = [_Frame("#root", None, WHITE)]
        self.rules: dict[str, dict[str, str]] = {}
        self.skip_depth = 0
        self.in_style = False

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag in _VOID:
            self._read_attributes(attrib)
            return
        if tag == "style":
            self.in_style = True
        if tag in _SKIPPED:
            self.skip_depth += 1
        parent = self.stack[-1]
        if parent.hidden or not attrib:  # the common case: inherit, no style work
            self.stack.append(_Frame(tag, parent.hidden, parent.background))
            return
        self._read_attributes(attrib)
        decls = self._declarations(tag, attrib)
        hidden = "hidden_attribute" if "hidden" in attrib else hiding_technique(decls, parent.background)
        self.stack.append(_Frame(tag, hidden, background_of(decls, parent.background) if decls else parent.background))

    def _read_attributes(self, attrib: dict[str, str]) -> None:
        for key in _READ_ATTRS:
            value = attrib.get(key)
            if value and value.strip():
                self.out.attributes.append(value.strip())

    def end(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False
        # lxml balances the tags; the search only guards against a stray end event.
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                for frame in self.stack[depth:]:
                    if frame.tag in _SKIPPED:
                        self.skip_depth -= 1
                del self.stack[depth:]
                return

    def data(self, data: str) -> None:
        if self.in_style:
            self._add_rules(data)
            return
        hidden = self.stack[-1].hidden
        if hidden and not self.skip_depth and data.strip():
            self.out.hidden.setdefault(hidden, []).append(data.strip())

    def comment(self, data: str) -> None:
        if data.strip() and not data.lstrip().startswith("[if"):  # IE conditional comments are markup
            self.out.comments.append(data.strip())

    def close(self) -> None:
        """End of document (lxml's target protocol)."""

    def _add_rules(self, css: str) -> None:
        for selectors, body in _RULE.findall(css):
            decls = declarations(body)
            for selector in selectors.split(","):
                if _SIMPLE_SELECTOR.match(selector.strip()):
                    self.rules.setdefault(selector.strip().lower(), {}).update(decls)

    def _declarations(self, tag: str, values: dict[str, str]) -> dict[str, str]:
        decls: dict[str, str] = {}
        if self.rules and ("class" in values or "id" in values or tag in self.rules):
            keys = [tag] + [f"{p}{c}" for c in values.get("class", "").lower().split() for p in (".", f"{tag}.")]
            if values.get("id"):
                keys += [f"#{values['id'].lower()}", f"{tag}#{values['id'].lower()}"]
            for key in keys:
                decls.update(self.rules.get(key, {}))
        if "style" in values:
            decls.update(declarations(values["style"]))
        return decls


def read_html(raw: bytes) -> HtmlReading:
    """Parse ``raw`` (UTF-8, or latin-1 when it is not) and collect what is hidden from a person."""
    reader = _Reader()
    parser = etree.HTMLParser(target=reader, encoding=_encoding(raw))
    parser.feed(raw)
    parser.close()
    return reader.out


def _encoding(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"
