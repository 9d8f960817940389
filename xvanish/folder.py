"""One run per output folder: an exclusive lock, stale-lock takeover, leftovers of killed runs."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xvanish.core import ConfigError

__all__ = ["LOCK_NAME", "FolderBusy", "FolderLock", "hold_folder", "remove_temp_files"]

log = logging.getLogger("xvanish")

#: The lock file in an output folder while a run holds it (removed when the run ends).
LOCK_NAME = ".xvanish.lock"


class FolderBusy(ConfigError):
    """Another run holds the output folder: one line naming the folder and the holder."""

    def __init__(self, directory: Path, holder: str) -> None:
        super().__init__(
            "output directory",
            str(directory),
            f"is in use by another run ({holder or 'holder unknown'}); wait for it to finish "
            "or choose another directory",
        )


def _holder_line() -> str:
    return f"pid {os.getpid()} on host {socket.gethostname()}, started {time.strftime('%Y-%m-%dT%H:%M:%S%z')}"


@dataclass
class FolderLock:
    """An exclusive ``flock`` on ``<directory>/.xvanish.lock``, which names its holder.

    ``flock`` belongs to the open file, so the kernel drops it when its process dies (kill -9
    included): a lock file left behind by a dead run is recognised because nobody holds its
    lock, and is taken over. Locks of two open files conflict even inside one process, so
    two threads (or two ``Plan.run`` calls) cannot share a folder either; :func:`hold_folder`
    lets one thread nest (the command line holds the folder, then ``Plan.run`` inside it).

    Attributes:
        directory: the output folder (created if missing).
        was_empty: the folder held nothing else when the lock was taken (a fresh run).
        took_over: the holder line of a dead run whose lock file was taken over, or "".
    """

    directory: Path
    was_empty: bool = False
    took_over: str = ""
    _fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_NAME

    def acquire(self) -> None:
        """Take the lock or raise :class:`FolderBusy`; nothing else is written before it.

        Raises:
            FolderBusy: another run holds it.
            ConfigError: the folder cannot be created or written.
        """
        try:
            self._acquire()
        except OSError as error:
            raise ConfigError(
                "output directory", str(self.directory), f"cannot be written: {error.strerror or error}"
            ) from None

    def _acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise FolderBusy(self.directory, holder) from None
            # The holder may have removed the file between our open and our lock (it removes
            # it when it ends): then we hold a lock on a file nobody else will see; retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.took_over = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        line = (_holder_line() + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, line, 0)
        os.fsync(fd)
        self._fd = fd
        self.was_empty = all(entry.name == LOCK_NAME for entry in self.directory.iterdir())
        if self.took_over:
            log.warning(
                "output directory %s: took over the lock left by a run that is gone (%s)",
                self.directory,
                self.took_over,
            )

    def release(self) -> None:
        """Remove the lock file (while still holding it) and drop the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


#: Folders this process holds, per thread: (resolved path, thread id) -> [lock, depth].
_HELD: dict[tuple[str, int], list] = {}


@contextlib.contextmanager
def hold_folder(directory: str | os.PathLike[str]) -> Iterator[FolderLock]:
    """Hold ``directory`` exclusively for the block (re-entrant in one thread).

    Raises:
        FolderBusy: another run (process or thread) holds it.
    """
    directory = Path(directory)
    key = (str(directory.resolve()), threading.get_ident())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield _HELD[key][0]
        finally:
            _HELD[key][1] -= 1
        return
    lock = FolderLock(directory)
    lock.acquire()
    _HELD[key] = [lock, 1]
    try:
        yield lock
    finally:
        del _HELD[key]
        lock.release()


def remove_temp_files(directory: Path, names: tuple[str, ...]) -> list[str]:
    """Delete the temporary files a killed run's atomic writes left (``.results.*.csv`` for
    ``results.csv``: :func:`xvanish.core.replace_atomic`'s names). Call with the folder held:
    no live writer of ours is then in it."""
    removed = []
    for name in names:
        stem, suffix = os.path.splitext(name)
        for leftover in directory.glob(f".{stem}.*{suffix}"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed.append(leftover.name)
    if removed:
        log.info("removed %d temporary files of an interrupted run: %s", len(removed), ", ".join(removed))
    return removed
