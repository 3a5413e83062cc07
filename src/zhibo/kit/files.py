"""Writing the files a command puts into a folder the user names (reports, scans, simulated
data) without following a symbolic link planted where a file goes: such a link would make
zhibo overwrite whatever it points to."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

from zhibo.kit.errors import InvalidInput


def open_for_writing(path: Path, option: str, *, binary: bool = False) -> IO[Any]:
    """``path`` opened for writing (created or truncated), refusing a symbolic link there.

    ``option`` names the command-line option or field the folder came from, for the error."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InvalidInput(
                f"{option}: {path} is a symbolic link; not writing through it"
            ) from None
        raise InvalidInput(f"{option}: cannot write {path} ({error.strerror})") from None
    if binary:
        return os.fdopen(descriptor, "wb")
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def refuse_symlink(path: Path, option: str) -> Path:
    """For writers that open the file themselves (Parquet): refuse a symbolic link there."""
    if path.is_symlink():
        raise InvalidInput(f"{option}: {path} is a symbolic link; not writing through it")
    return path
