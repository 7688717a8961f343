"""Precomputed item features published with the datasets, always matched to items by id.

- MMRec (``text_feat.npy``, ``image_feat.npy``): one ``[N, d]`` float array per modality whose
  rows carry no ids: row ``r`` belongs to the item that MMRec's ``i_id_mapping.csv`` gives
  ``itemID`` ``r``. That order differs between copies of a dataset (first appearance in one,
  sorted in another) and our items are sorted by id, so a row is never taken by its position:
  :func:`load_keyed_features` places every row through an id mapping (:func:`read_id_mapping`)
  and refuses a count mismatch, a repeated id and an id the graph does not have.
  MMRec fills items without an image with the mean of the real rows; such rows (and all-zero
  rows) are found by :func:`filled_rows` and recorded as missing.
- Amazon 2014 (``image_features_<Category>.b``): the 4096-d CNN features of McAuley et al. A flat
  binary stream of records, each a 10-byte ASIN (ASCII) followed by 4096 little-endian float32.
"""
from __future__ import annotations

import csv
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
#: Column names of an id mapping: the item id, and the row of the feature file it owns
#: (MMRec's ``i_id_mapping.csv`` has ``asin`` and ``itemID``).
ID_COLUMNS = ('asin', 'item_id', 'parent_asin', 'item')
ROW_COLUMNS = ('itemID', 'row', 'index')
#: A row this close to the mean of all rows (relative to the rows' mean distance from it) is
#: a mean fill, not an item's own vector.
FILL_TOLERANCE = 1e-3


def load_mmrec_features(path_npy: Path, num_items: int | None = None) -> Tensor:
    """Load an MMRec feature matrix and check it holds finite numbers (and, when
    ``num_items`` is given, one row per item).

    Args:
        path_npy: ``text_feat.npy`` or ``image_feat.npy`` (read with ``allow_pickle=False``).
        num_items: the number of rows it must have, or ``None``.

    Shapes:
        returns ``[N, d]`` float32
    """
    path = Path(path_npy)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataBuildError(f'{path}: not a readable .npy array (got {exc})') from exc
    if array.ndim != 2:
        raise DataBuildError(f'{path}: expected a 2-D [items, dim] array (got shape {array.shape})')
    if num_items is not None and array.shape[0] != num_items:
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


def require_ids(path: Path | None, ids: Path | None, flag: str) -> None:
    """Refuse a row-order-only feature file (an ``.npy``) given without an id mapping.

    Raises:
        DataBuildError: naming the file, and what to pass.
    """
    if path is not None and Path(path).suffix != '.b' and ids is None:
        raise DataBuildError(
            f'{flag} {path}: the rows of an .npy file carry no item ids, and taking them in '
            'row order puts vectors on the wrong items whenever the orders differ; pass '
            '--feature-ids with the id mapping of its rows (MMRec: i_id_mapping.csv, columns '
            'asin and itemID), or use import-mmrec on the whole MMRec folder')


def read_id_mapping(path: Path, id_columns: tuple[str, ...] = ID_COLUMNS,
                    row_columns: tuple[str, ...] = ROW_COLUMNS) -> dict[str, int]:
    """Item id → feature row, from a table with a header: tab- or comma-separated columns
    ``asin`` (or another of ``id_columns``) and ``itemID`` (or another of ``row_columns``);
    with an id column alone, row ``r`` is the ``r``-th id.

    Raises:
        DataBuildError: naming the file, line and id: no id column, a row that is not a
            non-negative integer, a repeated id or a repeated row.
    """
    path = Path(path)
    try:
        with open(path, newline='', encoding='utf-8') as handle:
            first = handle.readline()
            handle.seek(0)
            delimiter = '\t' if '\t' in first else ','
            rows = list(csv.reader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataBuildError(f'id mapping {path} cannot be read (got {exc})') from None
    header = [h.strip() for h in rows[0]] if rows else []
    id_col = next((header.index(c) for c in id_columns if c in header), None)
    row_col = next((header.index(c) for c in row_columns if c in header), None)
    if id_col is None:
        raise DataBuildError(f'{path}: the header needs an id column, one of {id_columns}, and '
                             f'optionally a row column, one of {row_columns} (got {header})')
    mapping: dict[str, int] = {}
    line_of_id: dict[str, int] = {}
    owner: dict[int, str] = {}
    for r, fields in enumerate(rows[1:]):
        line = r + 2
        if not fields:
            continue
        try:
            item = fields[id_col].strip()
            text = fields[row_col].strip() if row_col is not None else str(r)
        except IndexError:
            raise DataBuildError(f'{path}:{line}: expected {len(header)} fields '
                                 f'(got {fields})') from None
        if not text.isdigit():
            raise DataBuildError(f'{path}:{line}: row of id {item!r} must be a non-negative '
                                 f'integer (got {text!r})')
        row = int(text)
        if item in mapping:
            raise DataBuildError(f'{path}:{line}: id {item!r} repeats line {line_of_id[item]}')
        if row in owner:
            raise DataBuildError(f'{path}:{line}: row {row} of id {item!r} is already the row '
                                 f'of {owner[row]!r}')
        mapping[item], line_of_id[item], owner[row] = row, line, item
    return mapping


def load_keyed_features(path_npy: Path, mapping: dict[str, int], items: list[str],
                        mapping_name: str | Path) -> Tensor:
    """The rows of an ``.npy`` feature file placed on the graph's items through ``mapping``.

    Args:
        path_npy: the feature file, ``[N, d]``.
        mapping: item id → row (:func:`read_id_mapping`); it must list exactly the ``N`` rows.
        items: the graph's item ids ``[I]``, in item-index order.
        mapping_name: where ``mapping`` came from, for the messages.

    Shapes:
        returns ``[I, d]`` float32, row ``i`` the vector of ``items[i]``

    Raises:
        DataBuildError: naming the files, the row and the id: a row count that differs from
            the mapping's, a row the file does not have, an id that is not an item of the
            graph, or an item of the graph that has no row.
    """
    x = load_mmrec_features(path_npy)
    if len(mapping) != x.size(0):
        raise DataBuildError(f'{path_npy} has {x.size(0)} rows but {mapping_name} lists '
                             f'{len(mapping)} ids: they must describe the same items')
    position = {item: i for i, item in enumerate(items)}
    for item, row in mapping.items():
        if row >= x.size(0):
            raise DataBuildError(f'{mapping_name}: id {item!r} owns row {row}, but {path_npy} '
                                 f'has {x.size(0)} rows')
        if item not in position:
            unknown = sum(i not in position for i in mapping)
            raise DataBuildError(f'{mapping_name}: id {item!r} (row {row} of {path_npy}) is not '
                                 f'an item of the graph ({unknown} such ids): are the features '
                                 'from the same dataset and k-core?')
    missing = [item for item in items if item not in mapping]
    if missing:
        raise DataBuildError(f'item {missing[0]!r} of the graph has no row in {mapping_name} '
                             f'({len(missing)} items have none): are the features from the same '
                             'dataset and k-core?')
    rows = torch.tensor([mapping[item] for item in items], dtype=torch.long)
    return x[rows].contiguous()


def filled_rows(x: Tensor) -> Tensor:
    """Rows that hold no item's own vector: all zero, or the mean of the real rows (MMRec's
    fill for items without an image). ``k`` rows equal to the mean of the other ``N - k``
    leave the mean of all ``N`` unchanged, so a fill is a row at the mean of the non-zero rows.

    Shapes:
        x ``[N, d]`` → ``[N]`` bool
    """
    if x.size(0) == 0 or x.size(1) == 0:
        return torch.zeros(x.size(0), dtype=torch.bool)
    x64 = x.double()
    zero = ~x64.bool().any(dim=1)
    if int((~zero).sum()) <= 2:
        return zero
    distance = (x64 - x64[~zero].mean(dim=0)).norm(dim=1)
    spread = float(distance[~zero].mean())
    return zero | (distance <= FILL_TOLERANCE * spread) if spread > 0 else zero


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

