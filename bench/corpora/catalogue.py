"""Package catalogue: a Debian package's one-line synopsis -> its long description.

The English package descriptions of Debian 12 (``Translation-en`` of bookworm main, fetched by
``apt-get update -o Acquire::Languages=en``; ``make bench-setup`` does it). The document is the
long description, titled with the package name; the query is the synopsis ("tools for reading
manual pages"). Families that share a long description or a synopsis (``foo``, ``foo-data``,
``foo-doc``) are dropped whole: they would have several right answers.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from bench.corpora import Corpus, Doc, norm, safe_id, sample, unique_pairs

LISTS = Path("/var/lib/apt/lists")
PATTERN = "*_debian_dists_bookworm_main_i18n_Translation-en*"


def _records(text: str) -> list[tuple[str, str, str]]:
    """(package, synopsis, long description) of every stanza."""
    out = []
    for stanza in text.split("\n\n"):
        package, synopsis, long_lines = "", "", list[str]()
        in_description = False
        for line in stanza.splitlines():
            if line.startswith("Package: "):
                package = line[9:].strip()
            elif line.startswith("Description-en: "):
                synopsis, in_description = line[16:].strip(), True
            elif in_description and line.startswith(" "):
                long_lines.append("" if line.strip() == "." else line.strip())
            else:
                in_description = False
        if package and synopsis and long_lines:
            out.append((package, synopsis, "\n".join(long_lines)))
    return out


def _files() -> list[Path]:
    return sorted(LISTS.glob(PATTERN))


def available() -> bool:
    return bool(_files())


def load(n: int | None = 1200, seed: int = 20261130) -> Corpus:
    text = subprocess.run(
        ["/usr/lib/apt/apt-helper", "cat-file", str(_files()[0])], capture_output=True, check=True
    ).stdout.decode("utf-8", "replace")
    records = _records(text)
    firsts = Counter(norm(long.split("\n\n")[0]) for _, _, long in records)
    synopses = Counter(norm(s) for _, s, _ in records)
    kept = {
        p: (s, long) for p, s, long in records if firsts[norm(long.split("\n\n")[0])] == 1 and synopses[norm(s)] == 1
    }
    docs = [
        Doc(safe_id(f"pkg/{p}"), p, "\n\n".join(" ".join(b.split()) for b in long.split("\n\n")))
        for p, (_, long) in kept.items()
    ]
    docs = sample(docs, n, seed)
    synopsis = {safe_id(f"pkg/{p}"): s for p, (s, _) in kept.items()}
    return Corpus(
        "catalogue",
        "package synopsis -> description",
        "Debian 12 package descriptions (Translation-en)",
        *unique_pairs(((d, synopsis[d.document_id], "synopsis") for d in docs), min_words=15),
    )
