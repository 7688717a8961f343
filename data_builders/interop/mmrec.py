"""MMRec's dataset folder (enoche/MMRec, ``data/<name>``), read and written.

``<name>.inter``: tab-separated ``userID``, ``itemID`` (integers from 0), optionally
``rating`` and ``timestamp``, and ``x_label`` (0 train, 1 validation, 2 test), the split that
MMRec's ``RecDataset`` reads. ``u_id_mapping.csv`` (``user_id``, ``userID``) and
``i_id_mapping.csv`` (``asin``, ``itemID``), tab-separated, name the integers;
``text_feat.npy`` / ``image_feat.npy`` hold row ``itemID`` for each item (MMRec's models load
them with ``np.load``). The split label becomes the graph's split as it is, the integer ids
become the graph's indices, and the features are placed through the id mapping, never by row
position.

An export writes those files from a graph on its exact split, plus ``<name>.yaml`` (MMRec's
dataset config: copy it to ``src/configs/dataset/``), ``i_attributes.csv`` (each item's
attribute values, a file MMRec does not read) and the sidecar of
:mod:`data_builders.interop.graph`. An item without a vector keeps its zero row.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from torch_geometric.data import HeteroData

from data_builders.errors import DataBuildError
from data_builders.features.precomputed import read_id_mapping
from data_builders.interop.atomic import read_table, write_table
from data_builders.interop.graph import (dense_order, import_attributes, index_interactions,
                                         read_sidecar, write_imported, write_sidecar)
from data_builders.interop.options import (IMAGE_FILE, ITEM_MAP, TEXT_FILE, USER_MAP,
                                           ImportConfig, mapped_features)

ATTRIBUTE_FILE = 'i_attributes.csv'
LABELS = {'0': 0, '1': 1, '2': 2}


def find_inter(folder: Path) -> Path:
    """``<folder name>.inter``, else the folder's only ``.inter`` file."""
    folder = Path(folder)
    own = folder / f'{folder.resolve().name}.inter'
    if own.is_file():
        return own
    found = sorted(folder.glob('*.inter'))
    if len(found) != 1:
        raise DataBuildError(f'{folder}: expected one <name>.inter file (MMRec), got '
                             f'{[p.name for p in found] or "none"}')
    return found[0]


def _integers(values: list[str], path: Path, name: str) -> np.ndarray:
    """``values`` as non-negative integers (``[E]``), else an error naming the line."""
    for r, value in enumerate(values):
        if not value.strip().isdigit():
            raise DataBuildError(f'{path}:{r + 2}: {name} must be a non-negative integer '
                                 f'(got {value!r})')
    return np.asarray([int(v) for v in values], dtype=np.int64)


def id_order(path: Path, id_columns: tuple[str, ...], index_column: str,
             indices: np.ndarray) -> list[str]:
    """The raw ids in index order, from a mapping file; without the file, the integers
    ``0 .. max(indices)`` themselves as strings."""
    if not path.is_file():
        return [str(i) for i in range(int(indices.max()) + 1 if len(indices) else 0)]
    return dense_order(read_id_mapping(path, id_columns, (index_column,)), path)


def _raw(order: list[str], indices: np.ndarray, inter: Path, name: str,
         mapping: Path) -> np.ndarray:
    """The raw id of every integer id ``[E]``."""
    if len(indices) and int(indices.max()) >= len(order):
        row = int(np.flatnonzero(indices >= len(order))[0])
        raise DataBuildError(f'{inter}:{row + 2}: {name} {indices[row]} is not in {mapping} '
                             f'({len(order)} ids)')
    return np.asarray(order, dtype=str)[indices]


def import_mmrec(config: ImportConfig) -> dict[str, Any]:
    """Read an MMRec folder and write the graph folder ``config.out``; returns its meta."""
    config.validate()
    folder = Path(config.dir)
    inter = find_inter(folder)
    frame = read_table(inter, ['userID', 'itemID', 'x_label'])
    bad = ~frame['x_label'].str.strip().isin(list(LABELS))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataBuildError(f'{inter}:{row + 2}: x_label must be 0 (train), 1 (validation) or '
                             f'2 (test) (got {frame["x_label"].iloc[row]!r})')
    split = frame['x_label'].str.strip().map(LABELS).to_numpy(dtype=np.uint8)
    user_ids = _integers(frame['userID'].tolist(), inter, 'userID')
    item_ids = _integers(frame['itemID'].tolist(), inter, 'itemID')
    users = id_order(folder / USER_MAP, ('user_id',), 'userID', user_ids)
    items = id_order(folder / ITEM_MAP, ('asin', 'item_id'), 'itemID', item_ids)
    sources = {p: n for p, n in ((inter, len(frame)), (folder / USER_MAP, len(users)),
                                 (folder / ITEM_MAP, len(items))) if p.is_file()}
    interactions = index_interactions(
        _raw(users, user_ids, inter, 'userID', folder / USER_MAP),
        _raw(items, item_ids, inter, 'itemID', folder / ITEM_MAP), split, users, items,
        sources)
    mapping = {item: row for row, item in enumerate(items)}
    mapping_name = (str(folder / ITEM_MAP) if (folder / ITEM_MAP).is_file()
                    else f'the itemIDs of {inter.name} (no {ITEM_MAP})')
    sidecar = read_sidecar(folder)
    attributes = import_attributes(interactions, _attribute_columns(folder, len(items)),
                                   sidecar, config.meta, config.format, config.attributes,
                                   'mmrec')
    text = mapped_features(folder, TEXT_FILE, mapping, items, mapping_name, False)
    image = mapped_features(folder, IMAGE_FILE, mapping, items, mapping_name, True)
    return write_imported(config.out, config.overwrite, 'mmrec', interactions, attributes,
                          text, image, sidecar, config.to_dict())


def _attribute_columns(folder: Path, num_items: int) -> dict[str, tuple[str, list[str]]]:
    """The value columns of our export's :data:`ATTRIBUTE_FILE` in item-index order (empty
    when the folder has none)."""
    path = folder / ATTRIBUTE_FILE
    if not path.is_file():
        return {}
    frame = read_table(path, ['itemID'])
    rows = _integers(frame['itemID'].tolist(), path, 'itemID')
    by_item = {int(item): r for r, item in enumerate(rows)}
    order = [by_item.get(i) for i in range(num_items)]
    return {name: ('token', [frame[name].iloc[r] if r is not None else '' for r in order])
            for name in frame.columns if name != 'itemID'}


def export_mmrec(data: HeteroData, meta: dict[str, Any], out: Path, name: str) -> list[Path]:
    """Write the MMRec folder of a graph into ``out``; returns the files written."""
    from addrl_graph.data.schema import INTERACTS

    store, item = data[INTERACTS], data['item']
    files = {'inter': out / f'{name}.inter', 'users': out / USER_MAP, 'items': out / ITEM_MAP,
             'attributes': out / ATTRIBUTE_FILE, 'config': out / f'{name}.yaml'}
    write_table(files['inter'], {'userID': store.edge_index[0].numpy(),
                                 'itemID': store.edge_index[1].numpy(),
                                 'x_label': store.split.numpy()})
    write_table(files['users'], {'user_id': meta['users'], 'userID': range(len(meta['users']))})
    write_table(files['items'], {'asin': meta['items'], 'itemID': range(len(meta['items']))})
    write_table(files['attributes'], {
        'itemID': range(len(meta['items'])),
        **{a['name']: [a['values'][c] for c in item.attr[:, col].tolist()]
           for col, a in enumerate(meta['attributes'])}})
    written = list(files.values())
    for file, x in ((TEXT_FILE, item.x_text), (IMAGE_FILE, item.x_image)):
        if x.size(1):
            np.save(out / file, x.numpy().astype(np.float32))
            written.append(out / file)
    config = {'USER_ID_FIELD': 'userID', 'ITEM_ID_FIELD': 'itemID',
              'inter_file_name': files['inter'].name, 'field_separator': '\t',
              'vision_feature_file': IMAGE_FILE, 'text_feature_file': TEXT_FILE,
              'inter_splitting_label': 'x_label', 'filter_out_cod_start_users': True}
    files['config'].write_text(yaml.safe_dump(config, sort_keys=False))
    write_sidecar(out, meta, 'mmrec')
    return written
