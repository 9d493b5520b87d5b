"""Export file formats: write canonical rows one at a time, read them back one at a time.

Every format is lossless for the canonical row (:func:`gateway.audit.chain.canonical_dict`), so a
row read back hashes exactly as it was written; that is what makes an export verifiable offline.

* ``jsonl``: one canonical JSON object per line (keys sorted, UTF-8).
* ``csv``: a header of the column names, then every cell as the JSON text of its value
  (``"alice"``, ``null``, ``42``, ``["staff"]``): plain CSV cannot tell null from an empty string,
  and the hash can.
* ``parquet``: integers as int64, text as (nullable) strings, structured columns (groups,
  citations, retrieved, guards, latencies, details) as canonical JSON text; written in row groups
  of ``batch`` rows so memory stays bounded.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from gateway.audit.chain import canonical_bytes

FileFormat = Literal["jsonl", "csv", "parquet"]
FILE_FORMATS: tuple[FileFormat, ...] = ("jsonl", "csv", "parquet")

JSON_COLUMNS = frozenset({"groups", "citations", "retrieved", "guards", "latencies_ms", "details", "content_redacted"})
INT_COLUMNS = frozenset({"sequence", "policy_version", "hash_format"})


class RowWriter(Protocol):
    """Writes canonical rows (already normalised by :func:`gateway.audit.chain.canonical_dict`) to a sink."""

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Write what is pending (and any footer); the sink stays open."""


class ChunkSink(io.RawIOBase):
    """A write-only binary stream that keeps what was written until :meth:`drain` takes it.

    The writers write into it; a streaming export drains it every few kilobytes and sends the
    bytes on, so nothing but one pending chunk (or one parquet row group) is ever held.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self.pending = 0
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.pending += len(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        """Everything written since the last drain."""
        out, self._parts, self.pending = b"".join(self._parts), [], 0
        return out


def _json(value: Any) -> str:
    return canonical_bytes(value).decode("utf-8")


class JsonlWriter:
    def __init__(self, sink: BinaryIO, _columns: Sequence[str]) -> None:
        self._out = sink

    def write(self, row: dict[str, Any]) -> None:
        self._out.write(canonical_bytes(row) + b"\n")

    def close(self) -> None:
        self._out.flush()


class CsvWriter:
    def __init__(self, sink: BinaryIO, columns: Sequence[str]) -> None:
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
        self._columns = list(columns)
        self._csv = csv.writer(self._text)
        self._csv.writerow(self._columns)

    def write(self, row: dict[str, Any]) -> None:
        self._csv.writerow([_json(row[c]) for c in self._columns])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the sink is the caller's to close


class ParquetRowWriter:
    def __init__(self, sink: BinaryIO, columns: Sequence[str], batch: int = 2000) -> None:
        import pyarrow as pa  # noqa: PLC0415 - only parquet exports pay for importing arrow
        import pyarrow.parquet as pq  # noqa: PLC0415

        self._pa = pa
        self._columns = list(columns)
        fields = [pa.field(c, pa.int64() if c in INT_COLUMNS else pa.string()) for c in self._columns]
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(sink, self._schema, compression="zstd")
        self._batch = batch
        self._pending: dict[str, list[Any]] = {c: [] for c in self._columns}
        self._count = 0

    def write(self, row: dict[str, Any]) -> None:
        for c in self._columns:
            value = row[c]
            self._pending[c].append(_json(value) if c in JSON_COLUMNS else value)
        self._count += 1
        if self._count >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._count:
            self._writer.write_table(self._pa.table(self._pending, schema=self._schema))
            self._pending = {c: [] for c in self._columns}
            self._count = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


def open_writer(fmt: FileFormat, sink: BinaryIO, columns: Sequence[str], batch: int = 2000) -> RowWriter:
    """A writer of ``fmt`` for ``columns`` into the binary stream ``sink``."""
    if fmt == "jsonl":
        return JsonlWriter(sink, columns)
    if fmt == "csv":
        return CsvWriter(sink, columns)
    return ParquetRowWriter(sink, columns, batch)


def read_rows(fmt: FileFormat, path: Path, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """The rows of an export file, one at a time, as the canonical dicts that were written.

    Raises:
        ValueError: the file is not a readable export of ``fmt``.
    """
    if fmt == "jsonl":
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    elif fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            for cells in reader:
                if len(cells) != len(header):
                    raise ValueError(f"a CSV line has {len(cells)} cells, the header {len(header)}")
                yield {c: json.loads(v) for c, v in zip(header, cells, strict=True)}
    else:
        yield from _read_parquet(path, batch)


def _read_parquet(path: Path, batch: int) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    for record_batch in pq.ParquetFile(str(path)).iter_batches(batch_size=batch):
        for row in record_batch.to_pylist():
            yield {c: json.loads(v) if c in JSON_COLUMNS and v is not None else v for c, v in row.items()}
