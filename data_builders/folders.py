"""The folders the commands write into: checked with the options, created with one-line errors,
and, for a graph, locked while it is built and kept from replacing a graph runs depend on.

Runs record the sha256 of the graph they were trained on, so a graph folder that already holds
``graph.pt`` or ``meta.json`` is only written again with ``overwrite`` (``--overwrite``).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from addrl_graph.data.schema import GRAPH_FILE, META_FILE
from addrl_graph.locks import folder_lock
from data_builders.errors import DataBuildError


def check_out_folder(path: str | os.PathLike, flag: str = '--out') -> None:
    """Raise unless ``path`` is a folder, or could be created as one, that this process may
    write into: its nearest existing ancestor must be a writable folder.

    Raises:
        DataBuildError: naming ``flag``, the path and what is in the way.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DataBuildError(f'{flag}: {existing} is a file, not a folder; choose a folder '
                             f'(got {str(path)!r})')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataBuildError(f'{flag}: {existing} is not writable; choose another folder '
                             f'(got {str(path)!r})')


def make_folder(path: str | os.PathLike, flag: str = '--out') -> Path:
    """Create ``path`` (and its parents) after :func:`check_out_folder`.

    Raises:
        DataBuildError: the folder cannot be made (naming ``flag`` and the OS's reason).
    """
    path = Path(path)
    check_out_folder(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataBuildError(f'{flag}: cannot create the folder {path} ({err.strerror or err}); '
                             'choose another folder') from None
    return path


@contextlib.contextmanager
def graph_folder(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Create ``out`` and hold its lock (:func:`addrl_graph.locks.folder_lock`) for the
    ``with`` block; refuse a folder that already holds a graph unless ``overwrite``.

    Raises:
        DataBuildError: ``out`` cannot be made, or holds a graph and ``overwrite`` is False.
        FolderLocked: another process is building into ``out``.
    """
    out = make_folder(out)
    with folder_lock(out, 'graph folder'):
        found = [name for name in (GRAPH_FILE, META_FILE) if (out / name).exists()]
        if found and not overwrite:
            raise DataBuildError(f'--out: {out} already holds a graph ({", ".join(found)}) that '
                                 'runs may depend on (they record its sha256); pass --overwrite '
                                 'to replace it or choose another --out')
        yield out
