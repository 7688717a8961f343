"""RecBole's atomic files (RUCAIBox/RecBole, ``dataset/<name>``), read and written.

``<name>.inter`` holds ``user_id:token`` and ``item_id:token`` (and often ``rating:float``,
``timestamp:float``); a fixed split is given as benchmark files ``<name>.train.inter``,
``<name>.valid.inter`` and ``<name>.test.inter``, which RecBole loads in place of its own
split when its config lists ``benchmark_filename: [train, valid, test]``. ``<name>.item``
holds ``item_id:token`` and item fields: a ``token`` field becomes a categorical attribute, a
``float`` field equal-frequency levels (:class:`~data_builders.attributes.LevelBinner`), a
``token_seq`` field its last token (the leaf of a category path); ``title`` is a name, not an
attribute, and a ``token`` field whose values are nearly all distinct is an id, not one either.

An export writes the benchmark files on the graph's exact split (edges in graph order within
each), ``<name>.item`` with each attribute's value as a token, ``<name>.yaml`` (the config
RecBole needs to read them), the features as ``text_feat.npy`` / ``image_feat.npy`` (RecBole
has no feature file of its own), MMRec's ``u_id_mapping.csv`` / ``i_id_mapping.csv`` (the
graph's indices of the ids, and the rows of the features) and the sidecar of
:mod:`data_builders.interop.graph`. Within each split the edges keep the graph's order; across
splits they come back grouped by split (a benchmark file holds one split).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from torch_geometric.data import HeteroData

from data_builders.errors import DataBuildError
from data_builders.features.precomputed import read_id_mapping
from data_builders.interop.atomic import column, read_table, split_header, write_table
from data_builders.interop.graph import (dense_order, import_attributes, index_interactions,
                                         read_sidecar, write_imported, write_sidecar)
from data_builders.interop.options import (IMAGE_FILE, ITEM_MAP, TEXT_FILE, USER_MAP,
                                           ImportConfig, mapped_features)

logger = logging.getLogger(__name__)

PARTS = ('train', 'valid', 'test')
#: Fields of ``.item`` that name an item rather than describe it.
NAME_FIELDS = ('title',)
#: A token field with more distinct values than this share of its items is an id.
MAX_DISTINCT_SHARE = 0.5


def dataset_name(folder: Path) -> str:
    """The ``<name>`` of the atomic files in ``folder`` (its own name first)."""
    folder = Path(folder)
    own = folder.resolve().name
    if any((folder / f'{own}{suffix}').is_file() for suffix in ('.inter', '.train.inter')):
        return own
    stems = {p.name.split('.')[0] for p in folder.glob('*.inter')}
    if len(stems) != 1:
        raise DataBuildError(f'{folder}: expected the atomic files of one dataset '
                             f'(<name>.inter or <name>.train.inter ...), got stems '
                             f'{sorted(stems) or "none"}')
    return stems.pop()


def _read_inter(path: Path) -> tuple[list[str], list[str]]:
    frame = read_table(path)
    fields = split_header(frame, path)
    return column(frame, fields, 'user_id', path), column(frame, fields, 'item_id', path)


def read_interactions(folder: Path, name: str, split: str | None, seed: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[Path, int]]:
    """Raw users ``[E]``, items ``[E]``, split ``[E]`` and the files read: from the benchmark
    files, or from ``<name>.inter`` split by protocol ``split``."""
    parts = [folder / f'{name}.{part}.inter' for part in PARTS]
    found = [p.is_file() for p in parts]
    if any(found) and not all(found):
        raise DataBuildError(f'{folder}: benchmark files need all of '
                             f'{[p.name for p in parts]} (missing '
                             f'{[p.name for p, f in zip(parts, found) if not f]})')
    if all(found):
        columns = [_read_inter(p) for p in parts]
        users = np.concatenate([np.asarray(u, dtype=str) for u, _ in columns])
        items = np.concatenate([np.asarray(i, dtype=str) for _, i in columns])
        labels = np.concatenate([np.full(len(u), code, dtype=np.uint8)
                                 for code, (u, _) in enumerate(columns)])
        return users, items, labels, {p: len(u) for p, (u, _) in zip(parts, columns)}
    whole = folder / f'{name}.inter'
    if not whole.is_file():
        raise DataBuildError(f'{folder}: no {whole.name} and no benchmark files')
    if split is None:
        raise DataBuildError(f'{whole} has no split of its own (no {name}.train.inter, '
                             f'.valid.inter, .test.inter): pass --split PROTOCOL to draw one')
    from data_builders.split import split_interactions

    users_list, items_list = _read_inter(whole)
    users = np.asarray(users_list, dtype=str)
    _, user_index = np.unique(users, return_inverse=True)
    labels = split_interactions(user_index, split, seed)
    return users, np.asarray(items_list, dtype=str), labels, {whole: len(users)}


def item_columns(path: Path, items: list[str], keep: set[str]
                 ) -> tuple[dict[str, tuple[str, list[str]]], list[str | None] | None]:
    """The attribute fields of ``<name>.item`` as value columns aligned with ``items``
    (``keep``: fields that are attributes whatever their values, those of our export), and
    the items' titles when it has a ``title`` field."""
    if not path.is_file():
        return {}, None
    frame = read_table(path)
    fields = split_header(frame, path)
    ids = column(frame, fields, 'item_id', path)
    row_of = {item: r for r, item in enumerate(ids)}
    rows = [row_of.get(item) for item in items]
    titles = None
    if 'title' in fields:
        text = frame[fields['title'][0]]
        titles = [text.iloc[r] or None if r is not None else None for r in rows]
    columns = {}
    for name, (col, kind) in fields.items():
        if name == 'item_id' or kind == 'float_seq' or name in NAME_FIELDS:
            continue
        values = [frame[col].iloc[r] if r is not None else '' for r in rows]
        if (name not in keep and kind == 'token'
                and len(set(values)) > MAX_DISTINCT_SHARE * len(values)):
            logger.info('%s: field %s has %d distinct values over %d items: an id, not an '
                        'attribute', path, name, len(set(values)), len(values))
            continue
        columns[name] = (kind, values)
    return columns, titles


def import_recbole(config: ImportConfig) -> dict[str, Any]:
    """Read a folder of atomic files and write the graph folder ``config.out``."""
    config.validate()
    folder = Path(config.dir)
    name = dataset_name(folder)
    users, items, split, sources = read_interactions(folder, name, config.split, config.seed)
    orders = [dense_order(read_id_mapping(folder / file, columns, (index,)), folder / file)
              if (folder / file).is_file() else None
              for file, columns, index in ((USER_MAP, ('user_id',), 'userID'),
                                           (ITEM_MAP, ('asin', 'item_id'), 'itemID'))]
    interactions = index_interactions(users, items, split, *orders, sources)
    mapping = {item: row for row, item in enumerate(interactions.items)}
    sidecar = read_sidecar(folder)
    keep = {a['name'] for a in (sidecar or {}).get('attributes', [])}
    columns, titles = item_columns(folder / f'{name}.item', interactions.items, keep)
    if titles is not None:
        interactions.catalog = {'item_titles': titles}
    attributes = import_attributes(interactions, columns, sidecar, config.meta, config.format,
                                   config.attributes, 'recbole')
    if orders[1] is None and any((folder / f).is_file() for f in (TEXT_FILE, IMAGE_FILE)):
        raise DataBuildError(f'{folder}: feature files need {ITEM_MAP} naming their rows')
    features = [mapped_features(folder, file, mapping, interactions.items,
                                str(folder / ITEM_MAP), file == IMAGE_FILE)
                for file in (TEXT_FILE, IMAGE_FILE)]
    options = dict(config.to_dict(), split=config.split)
    return write_imported(config.out, config.overwrite, 'recbole', interactions, attributes,
                          features[0], features[1], sidecar, options)


def export_recbole(data: HeteroData, meta: dict[str, Any], out: Path, name: str) -> list[Path]:
    """Write the atomic files of a graph into ``out``; returns the files written."""
    from addrl_graph.data.schema import INTERACTS

    store, item = data[INTERACTS], data['item']
    users, items = np.asarray(meta['users'], dtype=object), np.asarray(meta['items'],
                                                                       dtype=object)
    written = []
    for code, part in enumerate(PARTS):
        edges = store.edge_index[:, store.split == code].numpy()
        path = out / f'{name}.{part}.inter'
        write_table(path, {'user_id:token': users[edges[0]], 'item_id:token': items[edges[1]]})
        written.append(path)
    names = [a['name'] for a in meta['attributes']]
    write_table(out / f'{name}.item', {
        'item_id:token': items,
        **{f'{a["name"]}:token': [a['values'][c] for c in item.attr[:, col].tolist()]
           for col, a in enumerate(meta['attributes'])}})
    written.append(out / f'{name}.item')
    write_table(out / USER_MAP, {'user_id': meta['users'], 'userID': range(len(users))})
    write_table(out / ITEM_MAP, {'asin': meta['items'], 'itemID': range(len(items))})
    written += [out / USER_MAP, out / ITEM_MAP]
    for file, x in ((TEXT_FILE, item.x_text), (IMAGE_FILE, item.x_image)):
        if x.size(1):
            np.save(out / file, x.numpy().astype(np.float32))
            written.append(out / file)
    config = {'field_separator': '\t', 'seq_separator': ' ', 'USER_ID_FIELD': 'user_id',
              'ITEM_ID_FIELD': 'item_id', 'load_col': {'inter': ['user_id', 'item_id'],
                                                       'item': ['item_id', *names]},
              'benchmark_filename': list(PARTS)}
    (out / f'{name}.yaml').write_text(yaml.safe_dump(config, sort_keys=False))
    written.append(out / f'{name}.yaml')
    write_sidecar(out, meta, 'recbole')
    return written
