"""Checkpoints: state dicts + a JSON sidecar holding the config and the file's sha256.

``<run>/<name>.pt`` holds tensors and plain values only (``torch.load(weights_only=True)``);
``<run>/<name>.json`` holds the run configuration, the epoch and the checksum of the ``.pt``.
Both are written atomically, the ``.pt`` first, so a reader never trusts a half-written file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from addrl_graph.errors import CheckpointError
from addrl_graph.io import (atomic_torch_save, atomic_write_json, load_tensors, read_json,
                            sha256_file)


def save_checkpoint(run_dir: str | Path, name: str, state: dict[str, Any],
                    info: dict[str, Any]) -> Path:
    """Write ``state`` (tensors / plain values) as ``<name>.pt`` and ``info`` + checksum as
    ``<name>.json``. Returns the ``.pt`` path."""
    run_dir = Path(run_dir)
    path = run_dir / f'{name}.pt'
    checksum = atomic_torch_save(path, state)
    atomic_write_json(run_dir / f'{name}.json', dict(info, sha256=checksum))
    return path


def load_checkpoint(run_dir: str | Path, name: str,
                    map_location: str | torch.device = 'cpu') -> tuple[dict[str, Any], dict[str, Any]]:
    """Read ``<name>.pt`` and its sidecar; verify the checksum.

    Raises:
        CheckpointError: a file is missing, the checksum differs (corrupted or replaced file)
            or the archive cannot be read with ``weights_only=True``.
    """
    run_dir = Path(run_dir)
    path, sidecar = run_dir / f'{name}.pt', run_dir / f'{name}.json'
    if not path.is_file() or not sidecar.is_file():
        raise CheckpointError(f'no checkpoint {name!r} in {run_dir} (expected {path.name} and '
                              f'{sidecar.name})')
    info = read_json(sidecar, CheckpointError)
    if info.get('sha256') != sha256_file(path):
        raise CheckpointError(f'{path} does not match the checksum in {sidecar.name}: the file '
                              'is corrupted or was replaced')
    state = load_tensors(path, CheckpointError, map_location)
    return state, info
