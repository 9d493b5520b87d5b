"""Clean documents: real prose no one here wrote, from Debian packages.

Set-up (once, as root): ``apt-get install -y man-db manpages manpages-dev python3-doc
debian-handbook debian-reference-en``. Sources: rendered man pages (plain text), the Python 3.11
documentation (HTML pages as shipped), the Debian Administrator's Handbook (HTML pages) and the
Debian Reference (HTML chapters cut at their sections). The HTML is screened raw, as an upload
would be, so the hidden-content detector meets real page furniture (navigation, comments, styles).
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.poisoning.samples import Sample
from bench.quality_corpus import page_files, render

OUT = Path(__file__).resolve().parents[1] / "out"
PYDOC = Path("/usr/share/doc/python3.11/html")
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/en-US")
REFERENCE = Path("/usr/share/debian-reference")
INSTALL_HINT = "apt-get install -y man-db manpages manpages-dev python3-doc debian-handbook debian-reference-en"
SENSITIVE = re.compile(r"\b(?:ignor\w*|instruction\w*|prompt\w*|password\w*|secur\w*|disregard\w*|system)\b", re.I)
_SECTION = re.compile(r'(?=<div class="section">)')
_HEAD = re.compile(r"<head>.*?</head>", re.S | re.I)
_SKIP_PYDOC = ("genindex", "search.html", "py-modindex", "contents.html", "_static", "_sources", "_images")


def man_pages(count: int, seed: int) -> list[Sample]:
    files = page_files()
    rng = random.Random(seed)
    paths = rng.sample([p for ps in files.values() for p in ps], count)
    with ThreadPoolExecutor(max_workers=2) as pool:
        rendered = list(pool.map(lambda p: render(p, OUT / "man"), paths))
    out = []
    for path, text in zip(paths, rendered, strict=True):
        body = "\n".join(line for line in text.splitlines()[1:-1])  # drop the running header/footer
        if len(body.split()) >= 40:
            out.append(Sample(f"man:{path.name}", "clean", "man_page", f"man:{path.name}", body, origin="manpages"))
    return out


def python_docs() -> list[Sample]:
    pages = sorted(p for p in PYDOC.rglob("*.html") if not any(s in str(p) for s in _SKIP_PYDOC))
    return [_html(p, "python3-doc", str(p.relative_to(PYDOC))) for p in pages]


def handbook() -> list[Sample]:
    return [_html(p, "debian-handbook", p.name) for p in sorted(HANDBOOK.glob("*.html"))]


def reference_sections() -> list[Sample]:
    out = []
    for chapter in sorted(REFERENCE.glob("*.en.html")):
        page = chapter.read_text(encoding="utf-8")
        head = _HEAD.search(page)
        pieces = _SECTION.split(page)
        for n, piece in enumerate(pieces[1:], start=1):
            raw = f"<html>{head.group(0) if head else ''}<body>{piece}</body></html>".encode()
            out.append(_raw(raw, "debian-reference", f"{chapter.name}#{n}"))
    return out


def _html(path: Path, origin: str, name: str) -> Sample:
    return _raw(path.read_bytes(), origin, name)


def _raw(raw: bytes, origin: str, name: str) -> Sample:
    return Sample(f"{origin}:{name}", "clean", "html_page", f"{origin}:{name}", "", raw, "text/html", origin=origin)


def clean_samples(man_count: int = 1000, seed: int = 11) -> list[Sample]:
    """About 2,200 clean documents (fewer when a package is missing: the caller checks the count)."""
    missing = [str(p) for p in (PYDOC, HANDBOOK, REFERENCE) if not p.exists()]
    if missing:
        raise SystemExit(f"clean corpus missing {missing}; install with: {INSTALL_HINT}")
    return man_pages(man_count, seed) + python_docs() + handbook() + reference_sections()


def carriers(samples: list[Sample], count: int = 400, seed: int = 3) -> list[str]:
    """Paragraphs of 30-90 words from the man pages: the prose attacks are hidden in."""
    rng = random.Random(seed)
    paragraphs = [
        " ".join(p.split())
        for s in samples
        if s.origin == "manpages"
        for p in s.text.split("\n\n")
        if 30 <= len(p.split()) <= 90
    ]
    return rng.sample(paragraphs, min(count, len(paragraphs)))
