"""Atomic file writes and checksums (temp file in the same folder + ``os.replace``)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so readers see either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 ignores the user's umask
        with os.fdopen(fd, 'wb') as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + '\n').encode())


def torch_payload(obj: Any) -> bytes:
    """The bytes ``torch.save`` writes for ``obj`` (tensors and plain values only, so that
    ``torch.load(weights_only=True)`` can read them back)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> str:
    """``torch.save`` ``obj`` atomically; returns the sha256 of the written bytes."""
    payload = torch_payload(obj)
    atomic_write_bytes(path, payload)
    return hashlib.sha256(payload).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike, error: type[Exception]) -> Any:
    """Parse a JSON file; a syntax error becomes ``error`` naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f'{path} is not valid JSON ({e})') from None


def load_tensors(path: str | os.PathLike, error: type[Exception],
                 map_location: str | torch.device = 'cpu') -> Any:
    """``torch.load(weights_only=True)``; any failure (bad archive, pickled object) becomes
    ``error`` naming the file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a bad or unsafe archive
        raise error(f'{path} cannot be loaded ({e})') from None
