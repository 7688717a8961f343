"""Disk cache of per-item feature vectors, shared by the text and image encoders.

A cache folder belongs to one encoder identity (its name, the checksum of its weights and every
setting that changes its output). Inside it, rows are stored by content key (the sha256 of a
document or of an image file), so a rebuild that sees the same texts or images again — in any
order, for any items — reads them instead of running the model.

Layout::

    <cache_dir>/<kind>/<identity sha256[:24]>/
        index.json            {"identity": {...}, "dim": d, "shards": ["shard-<uuid>.pt", ...]}
        shard-<uuid>.pt       {"keys": [hex, ...], "values": Tensor [n, d] float32}

Shards are written with :func:`addrl_graph.io.atomic_torch_save` and load with
``torch.load(weights_only=True)``; the index is rewritten atomically after each shard, so an
interrupted run keeps every shard it finished. Two processes writing the same cache at once may
lose each other's index entries (those rows are then recomputed), never corrupt a file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from addrl_graph.io import atomic_torch_save, atomic_write_json
from data_builders.errors import DataBuildError

log = logging.getLogger(__name__)

#: Rows computed between two shard writes (bounds the work lost to an interrupted run).
FLUSH_ROWS = 8192


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def state_dict_checksum(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict: names, dtypes, shapes and raw bytes, in order.

    The same weights give the same checksum whether they were loaded from the hub, a local
    folder or a package, in safetensors or pickle format.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Rows of one encoder, addressed by content key.

    Args:
        root: the cache directory chosen by the user (``cache_dir``).
        kind: ``'text'`` or ``'image'`` (a sub-folder).
        identity: plain JSON values that determine the encoder's output (name, weights
            checksum, max length, pooling, ...). Different identities never share rows.
        dim: width of the stored vectors.
    """

    def __init__(self, root: Path, kind: str, identity: dict, dim: int) -> None:
        blob = json.dumps(identity, sort_keys=True).encode()
        self.folder = Path(root) / kind / hashlib.sha256(blob).hexdigest()[:24]
        self.identity = identity
        self.dim = dim
        self._shards: list[str] = []
        self._rows: dict[str, Tensor] = {}
        self._load()

    def _load(self) -> None:
        index_path = self.folder / 'index.json'
        if not index_path.is_file():
            return
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            log.warning('ignoring unreadable feature cache index %s: %s', index_path, exc)
            return
        if index.get('identity') != self.identity or index.get('dim') != self.dim:
            raise DataBuildError(
                f'feature cache {self.folder} belongs to another encoder '
                f'(got identity {index.get("identity")}, dim {index.get("dim")}; '
                f'expected {self.identity}, dim {self.dim}); delete the folder')
        for name in index.get('shards', []):
            try:
                shard = torch.load(self.folder / name, map_location='cpu', weights_only=True)
                keys, values = shard['keys'], shard['values']
                if values.shape != (len(keys), self.dim):
                    raise ValueError(f'values of shape {tuple(values.shape)} for {len(keys)} keys')
            except Exception as exc:  # a damaged shard costs a recompute, not the build
                log.warning('ignoring damaged feature cache shard %s: %s', self.folder / name, exc)
                continue
            self._shards.append(name)
            self._rows.update(zip(keys, values.to(torch.float32)))
        log.info('feature cache %s: %d rows', self.folder, len(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> Tensor | None:
        """The cached row for ``key`` (``[d]``), or None."""
        return self._rows.get(key)

    def add(self, keys: Sequence[str], values: Tensor) -> None:
        """Store rows ``values [n, d]`` under ``keys``: one new shard, then the index."""
        if not keys:
            return
        values = values.detach().to('cpu', torch.float32).contiguous()
        name = f'shard-{uuid.uuid4().hex}.pt'
        atomic_torch_save(self.folder / name, {'keys': list(keys), 'values': values})
        self._shards.append(name)
        self._rows.update(zip(keys, values))
        atomic_write_json(self.folder / 'index.json',
                          {'identity': self.identity, 'dim': self.dim, 'shards': self._shards})


def encode_cached(
    keys: Sequence[str | None],
    dim: int,
    encode_batch: Callable[[list[int]], tuple[Tensor, Tensor]],
    *,
    cache: FeatureCache | None = None,
    batch_size: int = 64,
    sort_key: Callable[[int], float] | None = None,
    progress: bool = True,
    desc: str = 'encode',
) -> tuple[Tensor, Tensor]:
    """Encode items by content key, reusing cached rows and identical contents.

    Items whose key is None get a zero row and ``ok`` False. Items that share a key are encoded
    once. The remaining unique keys are sorted by ``sort_key`` (e.g. text length, so batches
    pad little), encoded ``batch_size`` at a time by ``encode_batch(item_indices)``, written to
    ``cache`` every :data:`FLUSH_ROWS` rows, and put back in item order.

    ``encode_batch`` returns ``(values [b, d], ok [b] bool)``; rows with ``ok`` False (e.g. an
    image that does not decode) are zeroed and not cached.

    Shapes:
        returns ``features [I, d]`` float32 and ``ok [I]`` bool, ``I = len(keys)``
    """
    num_items = len(keys)
    out = torch.zeros(num_items, dim, dtype=torch.float32)
    ok = torch.zeros(num_items, dtype=torch.bool)
    first: dict[str, int] = {}  # key -> first item index that carries it
    for i, key in enumerate(keys):
        if key is not None and key not in first:
            first[key] = i
    done: dict[str, Tensor] = {}
    missing = []
    for key, i in first.items():
        row = cache.get(key) if cache is not None else None
        if row is None:
            missing.append(i)
        else:
            done[key] = row
    if sort_key is not None:
        missing.sort(key=sort_key)
    log.info('%s: %d items, %d unique contents, %d cached, %d to encode',
             desc, num_items, len(first), len(done), len(missing))

    from tqdm.auto import tqdm

    pending_keys: list[str] = []
    pending_rows: list[Tensor] = []
    with tqdm(total=len(missing), desc=desc, unit='item', disable=not progress) as bar:
        for start in range(0, len(missing), batch_size):
            batch = missing[start:start + batch_size]
            values, batch_ok = encode_batch(batch)
            if values.shape != (len(batch), dim):
                raise DataBuildError(f'{desc}: expected features of shape ({len(batch)}, {dim}) '
                                     f'(got {tuple(values.shape)})')
            values = values.detach().to('cpu', torch.float32)
            for j, i in enumerate(batch):
                if bool(batch_ok[j]):
                    done[keys[i]] = values[j]
                    pending_keys.append(keys[i])
                    pending_rows.append(values[j])
            if cache is not None and len(pending_keys) >= FLUSH_ROWS:
                cache.add(pending_keys, torch.stack(pending_rows))
                pending_keys, pending_rows = [], []
            bar.update(len(batch))
    if cache is not None and pending_keys:
        cache.add(pending_keys, torch.stack(pending_rows))

    for i, key in enumerate(keys):
        row = done.get(key) if key is not None else None
        if row is not None:
            out[i] = row
            ok[i] = True
    return out, ok


@contextmanager
def transformers_progress(enabled: bool) -> Iterator[None]:
    """Show or hide the progress bars ``transformers`` draws while loading weights, restoring
    the previous setting afterwards (``--quiet`` builds print nothing but the summary)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was_enabled else hf_logging.disable_progress_bar)()
