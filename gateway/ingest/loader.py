"""Turn a folder or a JSONL file into ``DocumentInput``s for ``gateway ingest``.

JSONL lines are the ``POST /v1/documents`` shape: ``{id, title, text | path, collection, acl, labels,
source_uri, mime_type}``; ``path`` is relative to the JSONL file and is parsed by type. In a folder,
every ``*.jsonl`` is read as a manifest, and any other supported file not named by a manifest is
ingested with the command's ``--collection``/``--allow``/``--deny``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.errors import InvalidRequest
from gateway.ingest.documents import DocumentInput
from gateway.ingest.parsers import mime_from_filename, parse_document

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


def record_to_input(record: dict[str, Any], base: Path) -> DocumentInput:
    """One JSONL record (``text`` inline, or ``path`` to a file parsed by type)."""
    text = record.get("text")
    title = record.get("title")
    mime = record.get("mime_type")
    if text is None and "path" in record:
        file = (base / str(record["path"])).resolve()
        if base.resolve() not in file.parents:
            raise InvalidRequest(f"{record.get('id')}: path leaves the manifest's folder")
        mime = mime or mime_from_filename(file)
        parsed = parse_document(file.read_bytes(), mime, filename=file.name)
        text, title = parsed.text, title or parsed.title
    if text is None or "id" not in record or "collection" not in record:
        raise InvalidRequest("each record needs id, collection and text or path")
    acl = record.get("acl") or {}
    return DocumentInput(
        document_id=str(record["id"]),
        title=str(title or record["id"]),
        text=str(text),
        collection=str(record["collection"]),
        allow=tuple(acl.get("allow", ())),
        deny=tuple(acl.get("deny", ())),
        labels=tuple(record.get("labels") or ()),
        source_uri=record.get("source_uri"),
        mime_type=str(mime or "text/markdown"),
    )


def iter_inputs(
    path: Path, *, collection: str | None = None, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()
) -> Iterator[DocumentInput]:
    """Every document under ``path`` (a JSONL file or a folder), in a stable order."""
    if path.is_file() and path.suffix == ".jsonl":
        for record in read_jsonl(path):
            yield record_to_input(record, path.parent)
        return
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    named: set[Path] = set()
    for manifest in (f for f in files if f.suffix == ".jsonl"):
        for record in read_jsonl(manifest):
            if "path" in record:
                named.add((manifest.parent / str(record["path"])).resolve())
            yield record_to_input(record, manifest.parent)
    loose = [f for f in files if f.suffix.lower() in SUPPORTED and f.resolve() not in named]
    if loose and collection is None:
        raise InvalidRequest(f"{len(loose)} files have no manifest entry: pass --collection (and --allow/--deny)")
    root = path if path.is_dir() else path.parent
    for file in loose:
        parsed = parse_document(file.read_bytes(), mime_from_filename(file), filename=file.name)
        yield DocumentInput(
            document_id=file.relative_to(root).as_posix(),
            title=parsed.title or file.stem,
            text=parsed.text,
            collection=str(collection),
            allow=allow,
            deny=deny,
            source_uri=file.as_uri(),
            mime_type=mime_from_filename(file),
        )
