"""The data dir is private: 0700 directories, 0600 files (issue 7, item 15)."""

from __future__ import annotations

import stat
from pathlib import Path

from gateway.storage import secure_file, secure_tree


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_existing_world_readable_data_dir_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    (data / "index").mkdir(parents=True)
    for name in ("gateway.sqlite3", "index/chunks.sqlite3"):
        (data / name).write_bytes(b"")
        (data / name).chmod(0o644)
    (data / "index").chmod(0o755)
    secure_tree(data)
    assert _mode(data) == 0o700 and _mode(data / "index") == 0o700
    assert _mode(data / "gateway.sqlite3") == 0o600 and _mode(data / "index" / "chunks.sqlite3") == 0o600


def test_a_new_database_file_is_created_private(tmp_path: Path) -> None:
    secure_file(tmp_path / "new" / "gateway.sqlite3")
    assert _mode(tmp_path / "new" / "gateway.sqlite3") == 0o600 and _mode(tmp_path / "new") == 0o700
