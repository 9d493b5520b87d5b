"""Clean documents: real prose no one here wrote, from Debian packages.

Set-up (once, as root): see ``INSTALL_HINT``. Sources: rendered man pages (plain text), the Perl
manual (``perl-doc``'s perl*(1) pages rendered and cut at their top-level sections), the Git
documentation (``git-doc`` HTML pages), the Debian Administrator's Handbook, the Debian
Reference, the Debian FAQ, the Developer's Reference and the New Maintainers' Guide (HTML, the
long single-page books cut at their sections). The HTML is screened raw, as an upload would be,
so the hidden-content detector meets real page furniture (navigation, comments, styles).

The Python documentation (``python3-doc``) is deliberately not used: it is reserved for
acceptance testing.
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.poisoning.samples import Sample
from bench.quality_corpus import page_files, render

OUT = Path(__file__).resolve().parents[1] / "out"
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/en-US")
REFERENCE = Path("/usr/share/debian-reference")
GITDOC = Path("/usr/share/doc/git-doc")
FAQ = Path("/usr/share/doc/debian/FAQ")
DEVREF = Path("/usr/share/developers-reference")
MAINT = Path("/usr/share/doc/maint-guide/html")
PERLDOC = Path("/usr/share/man/man1")
INSTALL_HINT = (
    "apt-get install -y --no-install-recommends man-db manpages manpages-dev debian-handbook "
    "debian-reference-en debian-faq developers-reference maint-guide git-doc perl-doc"
)
SENSITIVE = re.compile(r"\b(?:ignor\w*|instruction\w*|prompt\w*|password\w*|secur\w*|disregard\w*|system)\b", re.I)
_DIV_SECTION = re.compile(r'(?=<div class="section">)')
_SECTION_TAG = re.compile(r"(?=<section id=)")
_TAG = re.compile(r"<[^>]+>")
_HEAD = re.compile(r"<head>.*?</head>", re.S | re.I)
_PERL_HEADING = re.compile(r"^(?=[A-Z][A-Z0-9 ,/&()'-]+$)", re.M)
_PERL_PAGE = re.compile(r"^perl\w*\.1\.gz$")


def _perl_pages() -> list[Path]:
    return sorted(p for p in PERLDOC.glob("perl*.1.gz") if _PERL_PAGE.match(p.name) and not p.is_symlink())


def man_pages(count: int, seed: int) -> list[Sample]:
    """``count`` rendered man pages (the Perl manual's pages excluded: they are their own source)."""
    perl = set(_perl_pages())
    rng = random.Random(seed)
    pool = [p for ps in page_files().values() for p in ps if p not in perl]
    paths = rng.sample(pool, count)
    out = []
    for path, body in zip(paths, _render_all(paths), strict=True):
        if len(body.split()) >= 40:
            out.append(Sample(f"man:{path.name}", "clean", "man_page", f"man:{path.name}", body, origin="manpages"))
    return out


def _render_all(paths: list[Path]) -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        rendered = list(pool.map(lambda p: render(p, OUT / "man"), paths))
    return ["\n".join(text.splitlines()[1:-1]) for text in rendered]  # drop the running header/footer


def perl_sections(per_page: int = 3, seed: int = 5) -> list[Sample]:
    """Up to ``per_page`` top-level sections (60-3,000 words) of each perl*(1) page of ``perl-doc``."""
    rng = random.Random(seed)
    paths = _perl_pages()
    out = []
    for path, body in zip(paths, _render_all(paths), strict=True):
        pieces = [p.strip() for p in _PERL_HEADING.split(body) if 60 <= len(p.split()) <= 3000]
        for n, piece in sorted(rng.sample(list(enumerate(pieces)), min(per_page, len(pieces)))):
            doc_id = f"perl-doc:{path.name}#{n}"
            out.append(Sample(doc_id, "clean", "man_page", doc_id, piece, origin="perl-doc"))
    return out


def pages(folder: Path, origin: str, pattern: str, skip: tuple[str, ...] = ()) -> list[Sample]:
    """Every HTML page of ``folder`` matching ``pattern``, raw."""
    found = sorted(p for p in folder.glob(pattern) if not any(s in p.name for s in skip))
    return [_raw(p.read_bytes(), origin, p.name) for p in found]


def sections(folder: Path, origin: str, pattern: str, cut: re.Pattern[str], skip: tuple[str, ...] = ()) -> list[Sample]:
    """HTML pages of ``folder`` cut where ``cut`` matches, each piece with the page's ``<head>``."""
    out = []
    for page_path in sorted(p for p in folder.glob(pattern) if not any(s in p.name for s in skip)):
        page = page_path.read_text(encoding="utf-8")
        head = _HEAD.search(page)
        for n, piece in enumerate(cut.split(page)[1:], start=1):
            if len(_TAG.sub(" ", piece).split()) < 60:  # a heading and a link or two: not a document
                continue
            raw = f"<html>{head.group(0) if head else ''}<body>{piece}</body></html>".encode()
            out.append(_raw(raw, origin, f"{page_path.name}#{n}"))
    return out


def _raw(raw: bytes, origin: str, name: str) -> Sample:
    return Sample(f"{origin}:{name}", "clean", "html_page", f"{origin}:{name}", "", raw, "text/html", origin=origin)


def clean_samples(man_count: int = 1000, seed: int = 11) -> list[Sample]:
    """About 2,100 clean documents (fewer when a package is missing: the caller checks the count)."""
    missing = [str(p) for p in (HANDBOOK, REFERENCE, GITDOC, FAQ, DEVREF, MAINT) if not p.exists()]
    if missing or not _perl_pages():
        raise SystemExit(f"clean corpus missing {missing or 'perl-doc'}; install with: {INSTALL_HINT}")
    return [
        *man_pages(man_count, seed),
        *perl_sections(),
        *pages(GITDOC, "git-doc", "*.html"),
        *pages(HANDBOOK, "debian-handbook", "*.html"),
        *sections(REFERENCE, "debian-reference", "*.en.html", _DIV_SECTION),
        *pages(FAQ, "debian-faq", "*.en.html"),
        *sections(DEVREF, "developers-reference", "*.html", _SECTION_TAG, ("developers-reference.html", "search")),
        *pages(MAINT, "maint-guide", "*.en.html"),
    ]


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
