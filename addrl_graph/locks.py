"""An exclusive lock on a folder while a process writes into it (a run, a graph).

Written on :func:`fcntl.flock` rather than the ``filelock`` package because the error must name
the process holding the lock: the holder writes its pid into the lock file, which ``filelock``
truncates and never reads. ``flock`` locks vanish with their process, so a killed run leaves
no stale lock behind (only the file, which the next holder reuses).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from addrl_graph.errors import FolderLocked

LOCK_FILE = '.lock'


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``<folder>/.lock`` exclusively for the ``with`` block (the folder is created).

    Args:
        folder: the folder to lock.
        what: what the folder is, for the error (``run folder``, ``graph folder``).

    Raises:
        FolderLocked: another process holds the lock; the message names its pid.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip() or 'unknown'
            raise FolderLocked(f'{what} {folder} is in use by process {holder} (lock file '
                               f'{path}); wait for it to finish or choose another folder') from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the flock
