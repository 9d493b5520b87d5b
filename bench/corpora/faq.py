"""FAQ corpus: question -> its answer, from three FAQs that Debian ships.

* The Debian GNU/Linux FAQ (``debian-faq``, plain text): ``N.M. Question?`` entries in chapters.
* The Git FAQ (``git-doc``, ``gitfaq.txt``): ``Question?::`` entries under section headings.
* The Perl FAQ (``perl-doc``, ``perlfaq1..9.pod``): ``=head2 Question?`` entries.

The document is the answer without its question; its title is the FAQ's name and chapter, which
many entries share ("The Debian GNU/Linux FAQ: Compatibility issues") -- the generic titles that
broke the old separately boosted title clause. Only entries whose heading is a question are kept.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from bench.corpora import Corpus, Doc, clean, safe_id, unique_pairs

DEBIAN_FAQ = Path("/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
GIT_FAQ = Path("/usr/share/doc/git-doc/gitfaq.txt")
PERL_POD = Path("/usr/share/perl/5.36.0/pod")

_DEB_CHAPTER = re.compile(r"^Chapter (\d+)\. (.+)$")
_DEB_ENTRY = re.compile(r"^(\d+)\.(\d+)\. (.+)$")


def _debian() -> Iterator[tuple[Doc, str, str]]:
    lines = clean(gzip.decompress(DEBIAN_FAQ.read_bytes()).decode("utf-8")).splitlines()
    start = next(i for i, ln in enumerate(lines) if _DEB_CHAPTER.match(ln))
    chapter, entry, question, body = "", "", "", list[str]()
    for line in [*lines[start:], "Chapter 0. end"]:
        if (c := _DEB_CHAPTER.match(line)) or (e := _DEB_ENTRY.match(line)):
            if question.endswith("?"):
                yield (
                    Doc(safe_id(f"debian-faq/{entry}"), f"The Debian GNU/Linux FAQ: {chapter}", _text(body)),
                    question,
                    "faq",
                )
            question, body = "", []
            if c:
                chapter = c.group(2)
            else:
                entry, question = f"{e.group(1)}.{e.group(2)}", e.group(3).strip()
        else:
            body.append(line)


def _git() -> Iterator[tuple[Doc, str, str]]:
    lines = GIT_FAQ.read_text(encoding="utf-8").splitlines()
    section, anchor, question, body = "", "", "", list[str]()

    def entry() -> Iterator[tuple[Doc, str, str]]:
        if question:
            text = _text([ln for ln in body if ln.strip() not in ("+", "----")])
            yield Doc(safe_id(f"gitfaq/{anchor}"), f"gitfaq(7): {section}", text), question, "faq"

    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt and set(nxt) == {"-"} and len(nxt) == len(line):
            yield from entry()
            section, question, body = line.strip(), "", []
        elif line.startswith("[[") and line.endswith("]]"):
            yield from entry()
            anchor, question, body = line[2:-2], "", []
        elif line.endswith("::") and anchor and not question:
            question = line[:-2].replace("`", "").strip()
        elif set(line) != {"-"}:
            body.append(line)
    yield from entry()


def _perl() -> Iterator[tuple[Doc, str, str]]:
    for pod in sorted(PERL_POD.glob("perlfaq[1-9].pod")):
        text = pod.read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^=head1 NAME\s+(.+?)$", text, re.M)
        title = name.group(1).strip() if name else pod.stem
        for n, block in enumerate(re.split(r"^=head2 ", text, flags=re.M)[1:]):
            question, _, body = block.partition("\n")
            body = body.split("\n=head1", 1)[0]
            yield Doc(safe_id(f"{pod.stem}/{n:03d}"), title, _pod_text(body)), _pod_inline(question).strip(), "faq"


_POD_CODES = re.compile(r"[A-Z]<+\s*(.*?)\s*>+")


def _pod_inline(text: str) -> str:
    return _POD_CODES.sub(r"\1", text)


def _pod_text(body: str) -> str:
    kept = [ln for ln in body.splitlines() if not ln.startswith("=")]
    return _text([_pod_inline(ln) for ln in kept])


def _text(lines: list[str]) -> str:
    """Paragraphs (blank-line separated) with their lines joined, code lines kept as lines."""
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def available() -> bool:
    return DEBIAN_FAQ.exists() and GIT_FAQ.exists() and PERL_POD.is_dir()


def load() -> Corpus:
    pairs = [p for source in (_debian(), _git(), _perl()) for p in source if p[1].endswith("?")]
    docs, queries = unique_pairs(pairs)
    return Corpus("faq", "FAQ question -> answer", "debian-faq, git-doc (gitfaq), perl-doc (perlfaq1-9)", docs, queries)
