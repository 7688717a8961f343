"""Precomputed item features published with the datasets.

- MMRec (``text_feat.npy``, ``image_feat.npy``): one ``[I, d]`` float array per modality, rows in
  MMRec's item-index order.
- Amazon 2014 (``image_features_<Category>.b``): the 4096-d CNN features of McAuley et al. A flat
  binary stream of records, each a 10-byte ASIN (ASCII) followed by 4096 little-endian float32.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from data_builders.errors import DataBuildError

log = logging.getLogger(__name__)

ASIN_BYTES = 10
IMAGE_FEATURE_DIM = 4096
RECORD_BYTES = ASIN_BYTES + 4 * IMAGE_FEATURE_DIM
_RECORD = np.dtype([('asin', f'S{ASIN_BYTES}'), ('x', '<f4', (IMAGE_FEATURE_DIM,))])


def load_mmrec_features(path_npy: Path, num_items: int) -> Tensor:
    """Load an MMRec feature matrix and check it has one finite row per item.

    Args:
        path_npy: ``text_feat.npy`` or ``image_feat.npy`` (read with ``allow_pickle=False``).
        num_items: number of items ``I`` of the graph, in MMRec's item order.

    Shapes:
        returns ``[I, d]`` float32
    """
    path = Path(path_npy)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataBuildError(f'{path}: not a readable .npy array (got {exc})') from exc
    if array.ndim != 2:
        raise DataBuildError(f'{path}: expected a 2-D [items, dim] array (got shape {array.shape})')
    if array.shape[0] != num_items:
        raise DataBuildError(
            f'{path}: expected {num_items} rows, one per item (got {array.shape[0]})')
    if not np.issubdtype(array.dtype, np.number):
        raise DataBuildError(f'{path}: expected a numeric array (got dtype {array.dtype})')
    features = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    bad = (~torch.isfinite(features)).any(dim=1)
    if bad.any():
        rows = bad.nonzero().flatten()[:5].tolist()
        raise DataBuildError(
            f'{path}: {int(bad.sum())} rows hold NaN or inf values (got them in rows {rows}...)')
    return features


def read_2014_image_features(
    path: Path,
    wanted: set[str] | None = None,
    records_per_read: int = 256,
) -> dict[str, np.ndarray]:
    """Stream the 2014 ``image_features_<Category>.b`` file.

    Args:
        path: the binary file.
        wanted: keep only these ASINs (default: all). The full Books file has millions of
            records, so pass the ASINs of the kept items.
        records_per_read: records read per ``read`` call (16 KiB each).

    Returns:
        ASIN → ``[4096]`` float32 array. A repeated ASIN keeps its first record.

    Raises:
        DataBuildError: the file ends inside a record (names the byte offset where that record
            starts) or an ASIN is not ASCII.
    """
    path = Path(path)
    features: dict[str, np.ndarray] = {}
    offset = 0
    try:
        handle = open(path, 'rb')
    except OSError as exc:
        raise DataBuildError(f'image features file {path} cannot be opened (got {exc})') from exc
    with handle:
        while chunk := handle.read(RECORD_BYTES * records_per_read):
            whole = len(chunk) // RECORD_BYTES
            if len(chunk) % RECORD_BYTES:
                tail = handle.read()  # only the last read of a well-formed file is short
                if (len(chunk) + len(tail)) % RECORD_BYTES:
                    start = offset + (len(chunk) + len(tail)) // RECORD_BYTES * RECORD_BYTES
                    raise DataBuildError(
                        f'{path}: truncated record at byte offset {start} (a record is '
                        f'{RECORD_BYTES} bytes; got {path.stat().st_size - start})')
                chunk += tail
                whole = len(chunk) // RECORD_BYTES
            records = np.frombuffer(chunk, dtype=_RECORD, count=whole)
            for r, record in enumerate(records):
                try:
                    asin = record['asin'].decode('ascii')
                except UnicodeDecodeError:
                    raise DataBuildError(
                        f'{path}: ASIN at byte offset {offset + r * RECORD_BYTES} is not ASCII '
                        f'(got {bytes(record["asin"])!r})') from None
                if (wanted is None or asin in wanted) and asin not in features:
                    features[asin] = record['x'].astype(np.float32, copy=True)
            offset += whole * RECORD_BYTES
    log.info('%s: %d records, %d kept', path, offset // RECORD_BYTES, len(features))
    return features

