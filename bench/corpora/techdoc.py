"""Technical documentation with real titles and sections: section heading -> that section.

* The Debian Developer's Reference (``developers-reference``, its reStructuredText sources).
* The Git User Manual (``git-doc``, ``user-manual.txt``, AsciiDoc).

Each section (the text up to the next heading of any level) is a document whose title is the
book and chapter it belongs to; the query is the section's own heading, which is removed from the
indexed text. Headings are topic phrases ("Uploading to ftp-master", "How to merge"), a different
query style from the FAQ's questions and the man pages' one-line descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bench.corpora import Corpus, Doc, clean, safe_id, unique_pairs

DEVREF = Path("/usr/share/developers-reference/_sources")
GIT_MANUAL = Path("/usr/share/doc/git-doc/user-manual.txt")

_RST_UNDERLINE = re.compile(r"^([=\-^~*#\"+])\1{3,}$")
_RST_NOISE = re.compile(r"^\.\. |^\s*:[a-z]+:")
_RST_ROLE = re.compile(r":[a-z]+:`([^`<]*?)(?:\s*<[^>]*>)?`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_+")
_ASCIIDOC_HEADING = re.compile(r"^(=+) (.+)$")


def _plain(line: str) -> str:
    line = _LINK.sub(r"\1", _RST_ROLE.sub(r"\1", line))
    return line.replace("``", "").replace("\\ ", "").replace("*", "")


def _paragraphs(lines: list[str]) -> str:
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _devref() -> Iterator[tuple[Doc, str, str]]:
    for path in sorted(DEVREF.glob("*.rst.txt")):
        lines = clean(path.read_text(encoding="utf-8")).splitlines()
        chapter, heading, body, n = "", "", list[str](), 0
        for i, line in enumerate([*lines, "", "end", "===="]):
            nxt = lines[i + 1] if i + 1 < len(lines) else ("====" if line == "end" else "")
            if _RST_UNDERLINE.match(line):
                continue
            if line.strip() and _RST_UNDERLINE.match(nxt) and len(nxt) >= len(line.strip()):
                if heading and chapter:
                    n += 1
                    doc = Doc(safe_id(f"devref/{path.name.split('.')[0]}/{n:03d}"), chapter, _paragraphs(body))
                    yield doc, heading, "section"
                if nxt[0] == "*":
                    chapter, heading = f"Debian Developer's Reference: {_plain(line.strip())}", ""
                else:
                    heading = _plain(line.strip())
                body = []
            elif not _RST_NOISE.match(line):
                body.append(_plain(line))


def _git_manual() -> Iterator[tuple[Doc, str, str]]:
    lines = GIT_MANUAL.read_text(encoding="utf-8").splitlines()
    chapter, heading, body, n = "", "", list[str](), 0
    for line in [*lines, "== end"]:
        match = _ASCIIDOC_HEADING.match(line)
        if match is None:
            if not line.startswith(("[[", "[", "----", "....", "include::")):
                body.append(line.replace("`", "").replace("linkgit:", ""))
            continue
        if heading and chapter:
            n += 1
            yield Doc(safe_id(f"git-user-manual/{n:03d}"), chapter, _paragraphs(body)), heading, "section"
        level, text = len(match.group(1)), match.group(2).strip()
        if level <= 2:
            chapter, heading = f"Git User Manual: {text}", ""
        else:
            heading = text
        body = []


def available() -> bool:
    return DEVREF.is_dir() and GIT_MANUAL.exists()


def load() -> Corpus:
    pairs = [p for source in (_devref(), _git_manual()) for p in source]
    docs, queries = unique_pairs(pairs, min_words=25)
    return Corpus(
        "techdoc",
        "section heading -> section",
        "developers-reference (rst sources), git-doc (user-manual.txt)",
        docs,
        queries,
    )
