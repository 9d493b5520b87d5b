"""The data dir holds document text, vectors and the audit trail: nobody but the gateway reads it.

Directories are made (or tightened to) 0700 and the SQLite files 0600. The SQLite database file is
created empty with 0600 *before* SQLAlchemy opens it, because SQLite gives its ``-wal`` and
``-shm`` files the main file's mode. The ``gateway`` command also sets the process umask to 077,
so files that other libraries create later (index segments) are private as well.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("gateway.storage")

DIR_MODE = 0o700
FILE_MODE = 0o600


def secure_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700, or tighten it to 0700 if it is more open."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if _tighten(path, DIR_MODE):
        log.warning("tightened %s to 0700", path)


def secure_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing; tighten it to 0600 if it exists."""
    secure_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)


def secure_tree(root: Path) -> None:
    """Tighten every directory under ``root`` to 0700 and every file to 0600 (existing data dirs)."""
    secure_dir(root)
    tightened = 0
    for dirpath, dirnames, filenames in os.walk(root):
        tightened += sum(_tighten(Path(dirpath, name), DIR_MODE) for name in dirnames)
        tightened += sum(_tighten(Path(dirpath, name), FILE_MODE) for name in filenames)
    if tightened:
        log.warning("tightened the permissions of %d paths under %s (data dir: 0700, files: 0600)", tightened, root)


def _tighten(path: Path, mode: int) -> bool:
    current = stat.S_IMODE(path.lstat().st_mode)
    if path.is_symlink() or current & 0o077 == 0:
        return False
    path.chmod(current & mode)
    return True
