"""Where the live index lives, how a rebuilt one replaces it, and who may write.

``<data_dir>/search/products`` is a symlink to a *generation* directory beside it
(``products-<stamp>``). A rebuild writes a new generation and swaps the link with one
``rename`` (atomic): a reader sees the old index or the new one, never a half-built one. Readers
follow the link on every search (one ``readlink``) and reopen when it moved.

Two advisory locks (``flock``, released by the kernel if the process dies) order the writers:
``indexer.lock`` is held by the one process that applies changes to the live index (the
follower), ``rebuild.lock`` by a running rebuild. While a rebuild runs, the follower keeps the
old index fresh but acknowledges nothing, so every change made after the rebuild's snapshot is
still queued when the new generation goes live.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from zhibo.catalog.search.index import ProductIndex
from zhibo.catalog.search.schemas import SearchIndexUnavailable
from zhibo.kit.errors import Conflict

LIVE_NAME = "products"


class IndexerBusy(Conflict):
    """Another process already indexes (follows or rebuilds) this index."""


def search_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "search"


def live_path(data_dir: Path) -> Path:
    """The live index: ``<data_dir>/search/products``."""
    return search_dir(data_dir) / LIVE_NAME


def current_generation(data_dir: Path) -> Path | None:
    """The directory the live link points to (or the live directory itself), if any."""
    live = live_path(data_dir)
    try:
        target = os.readlink(live)
    except FileNotFoundError:
        return None
    except OSError:
        # A plain directory (made by ProductIndex.create at this path) is its own generation.
        return live if live.is_dir() else None
    return (live.parent / target).resolve()


def new_generation(data_dir: Path) -> Path:
    directory = search_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = directory / f"{LIVE_NAME}-{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    path.mkdir()
    return path


def swap(data_dir: Path, generation: Path) -> Path | None:
    """Point the live link at ``generation`` atomically; returns the generation it replaced."""
    live = live_path(data_dir)
    previous = current_generation(data_dir)
    if live.is_dir() and not live.is_symlink():
        # Once only: an index made in place becomes an ordinary generation.
        aside = new_generation(data_dir)
        aside.rmdir()
        live.rename(aside)
        previous = aside
    link = live.parent / f".{LIVE_NAME}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(generation.name, link)
    os.replace(link, live)
    return previous


def remove_old_generations(data_dir: Path, keep: Sequence[Path]) -> None:
    """Delete generations other than ``keep`` (searches that still have one open keep their
    files: the kernel frees them when they close)."""
    directory = search_dir(data_dir)
    if not directory.is_dir():
        return
    kept = {path.resolve() for path in keep}
    for path in directory.glob(f"{LIVE_NAME}-*"):
        if path.resolve() not in kept:
            remove_generation(path)


def remove_generation(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# Locks ----------------------------------------------------------------------------------------


class FileLock:
    """An exclusive ``flock`` on a file, held until :meth:`release` (or process exit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held across calls
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def is_held_elsewhere(self) -> bool:
        """True when another process holds the lock (probes without keeping it)."""
        if self._file is not None:
            return False
        if not self.try_acquire():
            return True
        self.release()
        return False


def indexer_lock(data_dir: Path) -> FileLock:
    return FileLock(search_dir(data_dir) / "indexer.lock")


def rebuild_lock(data_dir: Path) -> FileLock:
    return FileLock(search_dir(data_dir) / "rebuild.lock")


@contextlib.contextmanager
def holding(lock: FileLock, what: str, timeout: float = 0.0) -> Iterator[FileLock]:
    if not lock.acquire(timeout):
        raise IndexerBusy(f"index: {what} already runs (pid {lock.holder()})")
    try:
        yield lock
    finally:
        lock.release()


# Readers --------------------------------------------------------------------------------------


class LiveIndex:
    """The live index for searching: opened on first use, reopened when a rebuild swapped it,
    reloaded when a writer committed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._index: ProductIndex | None = None
        self._generation: Path | None = None
        self._lock = threading.Lock()

    def get(self) -> ProductIndex:
        generation = current_generation(self.data_dir)
        if generation is None:
            raise SearchIndexUnavailable(
                "index: not built yet (it is built on first use, or run "
                "`zhibo catalog index --rebuild`); retry shortly"
            )
        with self._lock:
            if self._index is None or generation != self._generation:
                try:
                    self._index = ProductIndex.open(generation)
                except FileNotFoundError as exc:
                    raise SearchIndexUnavailable(f"index: cannot open ({exc})") from exc
                self._generation = generation
            index = self._index
        index.refresh()
        return index

    def exists(self) -> bool:
        return current_generation(self.data_dir) is not None
