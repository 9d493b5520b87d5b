"""Known-item pairs from the Debian man pages installed under ``/usr/share/man``.

Each page is rendered to plain text with ``man -l`` (groff, 80 columns). The query of a page is
its one-line NAME description (``cp - copy files and directories`` gives ``copy files and
directories``); that line is removed from the indexed text, leaving only the names (``cp``) in the
NAME section, because otherwise every query would be a verbatim copy of its answer. The rest of the
page is kept, cut after the first ``max_chunks`` chunks the product's chunker makes of it (the
embedding budget). Rendered pages are cached under ``bench/out/`` (ignored by git).
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gateway.retrieval.chunking import chunk_text

MAN_ROOT = Path("/usr/share/man")
SECTIONS = ("1", "2", "3", "5", "7", "8")
SECTION_SHARE = {"1": 0.35, "2": 0.10, "3": 0.22, "5": 0.08, "7": 0.11, "8": 0.14}
"""Share of the sample per section: section 1 alone holds ~85% of the files, so it is capped."""
EXCLUDED_PREFIXES = ("gcloud",)
"""google-cloud-cli's ~16,600 generated ``gcloud_*`` pages (not Debian's) would be 94% of section 1."""
INSTALL_HINT = "apt-get update && apt-get install -y man-db manpages manpages-dev"

_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&()-]*$")
# "names - description": man renders \- as '-', U+2010 or U+2212 depending on the device.
_NAME_LINE = re.compile(r"^(?P<names>.+?)\s+(?:-{1,2}|\u2010|\u2212|\u2013|\u2014)\s+(?P<desc>.+)$")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._:/@-]")


@dataclass(frozen=True)
class ManPage:
    """One rendered page, ready to ingest, with its known-item query."""

    document_id: str
    title: str
    names: tuple[str, ...]
    description: str
    """The NAME line's description: the query. Not part of ``text``."""
    text: str


def page_files(root: Path = MAN_ROOT) -> dict[str, list[Path]]:
    """Regular files per section, sorted; symlinks (aliases of another page) and excluded prefixes skipped."""
    found: dict[str, list[Path]] = {}
    for section in SECTIONS:
        folder = root / f"man{section}"
        found[section] = sorted(
            p
            for p in folder.glob("*")
            if p.is_file() and not p.is_symlink() and not p.name.startswith(EXCLUDED_PREFIXES)
        )
    return found


def sample_files(files: dict[str, list[Path]], pages: int, seed: int) -> list[Path]:
    """About ``pages`` files, shared between sections by ``SECTION_SHARE`` (fixed seed)."""
    rng = random.Random(seed)
    chosen: list[Path] = []
    for section, paths in files.items():
        want = round(pages * SECTION_SHARE[section])
        chosen.extend(rng.sample(paths, min(want, len(paths))))
    return chosen


def render(path: Path, cache: Path) -> str:
    """Plain text of one page (80 columns, overstrikes removed); cached by path."""
    key = hashlib.sha256(str(path).encode()).hexdigest()[:24]
    cached = cache / f"{key}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    env = {"MANWIDTH": "80", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin", "MAN_KEEP_FORMATTING": ""}
    done = subprocess.run(
        ["man", "--no-hyphenation", "--no-justification", "-l", str(path)],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    # A backspace overstrikes the previous character (bold/underline): keep the last one only.
    text = re.sub(r".\x08", "", done.stdout.decode("utf-8", "replace"))
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(text, encoding="utf-8")
    return text


def _sections(rendered: str) -> Iterator[tuple[str, list[str]]]:
    """(heading, body lines) of a rendered page, without its running header and footer."""
    lines = [ln.rstrip() for ln in rendered.splitlines()]
    body = [ln for ln in lines if ln.strip()]
    if len(body) < 3:
        return
    lines = lines[lines.index(body[0]) + 1 : len(lines) - 1 - lines[::-1].index(body[-1])]
    heading, current = "", list[str]()
    for line in lines:
        if line and not line[0].isspace() and _HEADING.match(line):
            yield heading, current
            heading, current = line.strip(), []
        else:
            current.append(line)
    yield heading, current


def parse_page(path: Path, rendered: str, max_chunks: int, max_tokens: int, overlap: int) -> ManPage | None:
    """The page without its NAME description, or None when it has no usable NAME line."""
    parts = list(_sections(rendered))
    name_body = next((" ".join(" ".join(b).split()) for h, b in parts if h == "NAME"), "")
    match = _NAME_LINE.match(name_body)
    if match is None:
        return None
    names = tuple(n.strip() for n in match.group("names").split(",") if n.strip())
    description = match.group("desc").strip()
    paragraphs: list[str] = []
    for heading, body in parts:
        if heading == "NAME":
            paragraphs.append("NAME\n" + ", ".join(names))
        elif heading:
            paragraphs.extend(_paragraphs(heading, body))
    text = _first_chunks(paragraphs, max_chunks, max_tokens, overlap)
    if len(text.split()) < 20 or len(description.split()) < 2:
        return None
    stem = path.name.removesuffix(".gz")
    name, _, section = stem.rpartition(".")
    return ManPage(
        document_id=_UNSAFE_ID.sub("_", f"{path.parent.name}/{stem}"),
        title=f"{name}({section})",
        names=names,
        description=description,
        text=text,
    )


def _paragraphs(heading: str, body: list[str]) -> list[str]:
    """The heading joined to the first paragraph of its section, like the rendered page shows it."""
    blocks = [b.strip() for b in "\n".join(ln.strip() for ln in body).split("\n\n") if b.strip()]
    return [f"{heading}\n{blocks[0]}", *blocks[1:]] if blocks else [heading]


def _first_chunks(paragraphs: list[str], max_chunks: int, max_tokens: int, overlap: int) -> str:
    """The longest prefix of whole paragraphs the chunker turns into at most ``max_chunks`` chunks."""
    kept: list[str] = []
    for paragraph in paragraphs:
        trial = "\n\n".join([*kept, paragraph])
        if len(chunk_text(trial, max_tokens=max_tokens, overlap_tokens=overlap)) > max_chunks:
            break
        kept.append(paragraph)
    if not kept and paragraphs:
        # A first paragraph longer than the budget: keep its first words only.
        kept = [" ".join(paragraphs[0].split()[: max_chunks * max_tokens // 2])]
    return "\n\n".join(kept)


def load_pages(
    pages: int, *, seed: int, cache: Path, max_chunks: int, max_tokens: int, overlap: int, workers: int = 2
) -> tuple[list[ManPage], int]:
    """Rendered, parsed pages with a unique description each; also how many files were sampled.

    Pages whose description is shared with another sampled page are dropped (the pair would have
    two right answers).
    """
    files = sample_files(page_files(), pages, seed)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rendered = list(pool.map(lambda p: render(p, cache), files))
    parsed = [parse_page(p, r, max_chunks, max_tokens, overlap) for p, r in zip(files, rendered, strict=True)]
    found = [p for p in parsed if p is not None]
    counts = Counter(_norm(p.description) for p in found)
    ids = Counter(p.document_id for p in found)
    unique = [p for p in found if counts[_norm(p.description)] == 1 and ids[p.document_id] == 1]
    return sorted(unique, key=lambda p: p.document_id), len(files)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
