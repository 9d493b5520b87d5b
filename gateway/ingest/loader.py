"""Turn a folder or a JSONL file into ``Submission``s for ``gateway ingest``.

JSONL lines are the ``POST /v1/documents`` shape: ``{id, title, text | path, collection, acl, labels,
source_uri, mime_type}``; ``path`` is relative to the JSONL file. In a folder, every ``*.jsonl`` is
read as a manifest, and any other supported file not named by a manifest is ingested with the
command's ``--collection``/``--allow``/``--deny``. Files are read, not parsed: parsing is the ingest
flow's (bounded, in a worker), exactly as for the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.errors import InvalidRequest
from gateway.ingest.documents import Submission
from gateway.ingest.parsers import mime_from_filename

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidRequest(f"{path.name}:{n} is not JSON") from None
            if not isinstance(record, dict):
                raise InvalidRequest(f"{path.name}:{n} is not a JSON object")
            yield record


def record_to_submission(record: dict[str, Any], base: Path) -> Submission:
    """One JSONL record (``text`` inline, or ``path`` to a file read as bytes)."""
    text = record.get("text")
    mime = record.get("mime_type")
    content: bytes | None = None
    filename: str | None = None
    if text is None and "path" in record:
        file = (base / str(record["path"])).resolve()
        if base.resolve() not in file.parents:
            raise InvalidRequest(f"{record.get('id')}: path leaves the manifest's folder")
        mime = mime or mime_from_filename(file)
        content, filename = file.read_bytes(), file.name
    if (text is None and content is None) or "id" not in record or "collection" not in record:
        raise InvalidRequest("each record needs id, collection and text or path")
    acl = record.get("acl") or {}
    title = record.get("title")
    return Submission(
        document_id=str(record["id"]),
        collection=str(record["collection"]),
        title=str(title) if title is not None else (None if content is not None else str(record["id"])),
        text=None if text is None else str(text),
        content=content,
        mime_type=str(mime or "text/markdown"),
        allow=tuple(acl.get("allow", ())),
        deny=tuple(acl.get("deny", ())),
        labels=tuple(record.get("labels") or ()),
        source_uri=record.get("source_uri"),
        filename=filename,
    )


def iter_submissions(
    path: Path, *, collection: str | None = None, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()
) -> Iterator[Submission]:
    """Every document under ``path`` (a JSONL file or a folder), in a stable order."""
    if path.is_file() and path.suffix == ".jsonl":
        for record in read_jsonl(path):
            yield record_to_submission(record, path.parent)
        return
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    named: set[Path] = set()
    for manifest in (f for f in files if f.suffix == ".jsonl"):
        for record in read_jsonl(manifest):
            if "path" in record:
                named.add((manifest.parent / str(record["path"])).resolve())
            yield record_to_submission(record, manifest.parent)
    loose = [f for f in files if f.suffix.lower() in SUPPORTED and f.resolve() not in named]
    if loose and collection is None:
        raise InvalidRequest(f"{len(loose)} files have no manifest entry: pass --collection (and --allow/--deny)")
    root = path if path.is_dir() else path.parent
    for file in loose:
        yield Submission(
            document_id=file.relative_to(root).as_posix(),
            collection=str(collection),
            content=file.read_bytes(),
            mime_type=mime_from_filename(file),
            allow=allow,
            deny=deny,
            source_uri=file.as_uri(),
            filename=file.name,
        )
