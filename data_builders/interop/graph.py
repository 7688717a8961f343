"""What the importers share: interactions indexed like a build, attributes from the files, a
metadata dump or popularity, and the graph folder written with the builder's own pieces.

Users and items keep the integer ids of the library's id mappings as their indices (an export
writes the graph's indices there, so they come back unchanged); without mappings they are
indexed in sorted id order, as :func:`data_builders.build.build` does. An export also writes
:data:`SIDECAR`: the graph's attribute entries (value order and fitted state), encoder infos,
split and item titles, which the files of MMRec and RecBole have no place for; an import that
finds it restores them, and one that does not fits the values afresh.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from addrl_graph.data.assemble import assemble_graph
from addrl_graph.data.schema import TRAIN, save_graph
from addrl_graph.io import sha256_file
from data_builders.attributes import (UNKNOWN, AttributeConfig, LevelBinner, Vocabulary,
                                      attribute_name, derive_attributes)
from data_builders.errors import DataBuildError
from data_builders.folders import graph_folder
from data_builders.summary import graph_statistics

logger = logging.getLogger(__name__)

#: The file an export writes beside the library's own files, and an import reads back.
SIDECAR = 'addrl_graph.json'
#: Keys of meta.json the sidecar carries (those present in the exported graph's meta).
CARRIED = ('attributes', 'dropped_attributes', 'text_encoder', 'image_encoder', 'split',
           'item_titles', 'item_image_urls', 'graph_sha256')


@dataclass
class Interactions:
    """Interactions read from a library's files, indexed like a build.

    Attributes:
        users / items: ids in index order (index ``u`` is ``users[u]``) ``[U]`` / ``[I]``.
        user_index / item_index: user and item of every interaction ``[E]``.
        split: 0 train, 1 validation, 2 test ``[E]`` (uint8).
        sources: the files read, with the rows read from each.
        duplicates: repeated (user, item) pairs dropped (the first one is kept).
        catalog: item titles and image URLs found on the way (meta.json's ``item_titles`` /
            ``item_image_urls``, each ``[I]``), from a metadata dump or a RecBole title field.
    """
    users: list[str]
    items: list[str]
    user_index: np.ndarray
    item_index: np.ndarray
    split: np.ndarray
    sources: dict[Path, int] = field(default_factory=dict)
    duplicates: int = 0
    catalog: dict[str, list[str | None]] = field(default_factory=dict)

    def train_counts(self) -> np.ndarray:
        """Training interactions per item ``[I]``."""
        return np.bincount(self.item_index[self.split == TRAIN], minlength=len(self.items))


def dense_order(mapping: dict[str, int], path: Path | str) -> list[str]:
    """The ids of an id → index mapping in index order; the indices must be ``0 .. n-1``."""
    order: list[str | None] = [None] * len(mapping)
    for item, index in mapping.items():
        if index >= len(mapping):
            raise DataBuildError(f'{path}: index {index} of id {item!r} leaves a gap: the '
                                 f'{len(mapping)} indices must be 0 to {len(mapping) - 1}')
        order[index] = item
    return order  # type: ignore[return-value]


def index_interactions(user: np.ndarray, item: np.ndarray, split: np.ndarray,
                       users: list[str] | None = None, items: list[str] | None = None,
                       sources: dict[Path, int] | None = None) -> Interactions:
    """Index raw ``user [E]`` / ``item [E]`` ids (strings) and return :class:`Interactions`,
    dropping repeated pairs (the first is kept).

    ``users`` / ``items`` fix the index order (the library's own integer ids, from its id
    mappings: an export's indices come back unchanged) and may list nodes without an
    interaction; without them ids are indexed in sorted order, as a build does.
    """
    user, item = np.asarray(user, dtype=str), np.asarray(item, dtype=str)
    keep = ~_repeated(user, item)
    if not keep.all():
        logger.warning('%d repeated (user, item) pairs dropped (the first of each is kept)',
                       int((~keep).sum()))
    indices = []
    for what, raw, order in (('user', user, users), ('item', item, items)):
        order = np.unique(raw).tolist() if order is None else list(order)
        position = {node: i for i, node in enumerate(order)}
        unknown = [node for node in np.unique(raw).tolist() if node not in position]
        if unknown:
            raise DataBuildError(f'{what} {unknown[0]!r} of the interactions is not in its id '
                                 f'mapping ({len(unknown)} such {what}s)')
        indices.append((order, np.asarray([position[n] for n in raw[keep].tolist()],
                                          dtype=np.int64)))
    return Interactions(indices[0][0], indices[1][0], indices[0][1], indices[1][1],
                        np.asarray(split, dtype=np.uint8)[keep], dict(sources or {}),
                        int((~keep).sum()))


def _repeated(user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Whether each pair ``[E]`` repeats an earlier one."""
    pairs = np.char.add(np.char.add(user, '\x00'), item)
    _, first = np.unique(pairs, return_index=True)
    repeated = np.ones(len(pairs), dtype=bool)
    repeated[first] = False
    return repeated


def read_sidecar(folder: Path) -> dict[str, Any] | None:
    """The sidecar of an export in ``folder``, or ``None`` when there is none."""
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return None
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataBuildError(f'{path}: not a readable JSON file (got {exc}); delete it to '
                             'import the data files alone') from None
    if not isinstance(sidecar, dict) or not isinstance(sidecar.get('attributes', []), list):
        raise DataBuildError(f'{path}: expected the object an export writes; delete it to '
                             'import the data files alone')
    return sidecar


def write_sidecar(folder: Path, meta: dict[str, Any], fmt: str) -> None:
    """Write :data:`SIDECAR` with the :data:`CARRIED` keys of ``meta``."""
    payload = {key: meta[key] for key in CARRIED if key in meta}
    (Path(folder) / SIDECAR).write_text(json.dumps(dict(payload, exported_as=fmt), indent=1))


def column_attributes(columns: dict[str, tuple[str, list[str]]],
                      sidecar: dict[str, Any] | None, levels: int, fmt: str
                      ) -> tuple[list[np.ndarray], list[dict[str, Any]], list[str]]:
    """Attributes from per-item value columns: name → (``token``, ``float`` or
    ``token_seq``, one string per item, ``''`` when missing).

    With the sidecar's entry of a name, its values keep their exported order; otherwise a
    token becomes a categorical value, a float a level of :class:`LevelBinner` and a token
    sequence its last token (the leaf of a category path). A column with fewer than two
    known values is dropped, as in a build.
    """
    saved = {a['name']: a for a in (sidecar or {}).get('attributes', [])}
    codes_list, entries = [], []
    dropped = list((sidecar or {}).get('dropped_attributes', []))    # by the exported build
    for field_name, (kind, strings) in columns.items():
        name = field_name if field_name in saved else attribute_name(f'extra:{field_name}')
        if name in saved:
            codes, entry = _saved_codes(saved[name], strings, field_name)
        else:
            codes, values, state = _fit_column(kind, strings, levels)
            entry = {'name': name, 'values': values, 'fit': dict(state, source=f'{fmt}:'
                                                                 f'{field_name}')}
        counts = np.bincount(codes, minlength=len(entry['values']))
        known = [v for v, c in zip(entry['values'], counts) if c > 0 and v != UNKNOWN]
        if len(known) < 2 and name not in saved:
            logger.warning('field %r has fewer than two known values: not an attribute', name)
            dropped.append(name)
            continue
        codes_list.append(codes)
        entries.append(dict(entry, item_counts=counts.tolist()))
    return codes_list, entries, dropped


def _saved_codes(entry: dict[str, Any], strings: list[str], field_name: str
                 ) -> tuple[np.ndarray, dict[str, Any]]:
    index = {v: i for i, v in enumerate(entry['values'])}
    codes = []
    for i, value in enumerate(strings):
        if value not in index:
            raise DataBuildError(f'field {field_name!r} of item {i}: value {value!r} is not one '
                                 f'of the exported values {entry["values"][:8]}...; was the '
                                 f'file edited? delete {SIDECAR} to fit the values afresh')
        codes.append(index[value])
    return np.asarray(codes, dtype=np.int64), {k: v for k, v in entry.items() if k != 'item_counts'}


def _fit_column(kind: str, strings: list[str], levels: int
                ) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    if kind == 'float':
        numbers = np.array([float(s) if s else np.nan for s in strings], dtype=np.float64)
        encoder = LevelBinner(levels).fit(numbers)
        return encoder.transform(numbers), list(encoder.values_), encoder.to_dict()
    if kind == 'token_seq':
        strings = [s.split()[-1] if s.split() else '' for s in strings]
    encoder = Vocabulary().fit([s or None for s in strings])
    codes = encoder.transform([s or None for s in strings])
    return codes, list(encoder.values_), encoder.to_dict()


def import_attributes(interactions: Interactions, columns: dict[str, tuple[str, list[str]]],
                      sidecar: dict[str, Any] | None, meta_dump: Path | None,
                      dump_format: str | None, config: AttributeConfig, fmt: str
                      ) -> tuple[np.ndarray, list[dict[str, Any]], list[str]]:
    """``attr [I, A]``, the attribute entries and the dropped names: from a metadata dump
    when one is given (matched by item id, as a build does; its titles and image URLs go to
    ``interactions.catalog``), else from the files' item columns, else popularity alone (with
    a notice)."""
    items = interactions.items
    if meta_dump is not None:
        from data_builders.build import read_item_meta
        from data_builders.readers import ReadStats
        from data_builders.readers.sniff import check_format

        if dump_format is None:
            raise DataBuildError('--meta needs --format, the format of the dump '
                                 '(2014, 2018 or 2023)')
        check_format(meta_dump, dump_format, 'meta')
        metas = read_item_meta(meta_dump, dump_format, set(items), ReadStats(str(meta_dump)),
                               False, next(iter(interactions.sources)))
        from data_builders.catalog import item_catalog

        found = [metas.get(i) for i in items]
        interactions.catalog = item_catalog(found)
        return derive_attributes(found, interactions.train_counts(), config)
    if columns:
        codes, entries, dropped = column_attributes(columns, sidecar, config.price_levels,
                                                    fmt)
        if codes:
            return np.stack(codes, axis=1), entries, dropped
    logger.warning('no item attributes in the files and no --meta: the graph gets popularity '
                   'levels alone (pass --meta DUMP --format F for price, brand and category)')
    only = AttributeConfig(names=['popularity'], popularity_levels=config.popularity_levels)
    return derive_attributes([None] * len(items), interactions.train_counts(), only)


def no_features(num_items: int) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """An absent modality: ``[I, 0]`` features, all missing."""
    return (torch.zeros(num_items, 0), torch.zeros(num_items, dtype=torch.bool),
            {'name': 'none', 'dim': 0, 'checksum': None})


def write_imported(out: Path, overwrite: bool, fmt: str, interactions: Interactions,
                   attributes: tuple[np.ndarray, list[dict[str, Any]], list[str]],
                   text: tuple[Tensor, Tensor, dict[str, Any]],
                   image: tuple[Tensor, Tensor, dict[str, Any]],
                   sidecar: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    """Assemble the graph (:func:`~addrl_graph.data.assemble.assemble_graph`), write
    ``graph.pt`` + ``meta.json`` into the locked folder ``out`` and return the meta."""
    attr, entries, dropped = attributes
    with graph_folder(out, overwrite):
        data = assemble_graph(interactions.user_index, interactions.item_index,
                              interactions.split, len(interactions.users), attr, entries,
                              *text[:2], *image[:2])
        meta: dict[str, Any] = {
            'format': fmt, 'users': interactions.users, 'items': interactions.items,
            'attributes': entries, 'dropped_attributes': dropped,
            'text_encoder': text[2], 'image_encoder': image[2],
            'split': {'protocol': f'imported:{fmt}', 'seed': None},
            'k_core': None,
            'sources': [{'path': str(p), 'sha256': sha256_file(p),
                         'read': {'lines': lines, 'kept': lines, 'skipped': {}}}
                        for p, lines in interactions.sources.items()],
            'duplicates_dropped': interactions.duplicates,
            'build_config': dict(options, out=str(out)),
        }
        meta.update(interactions.catalog)
        if sidecar is not None:
            meta['split']['exported'] = sidecar.get('split')
            for key in ('text_encoder', 'image_encoder'):   # the encoder behind the vectors
                saved = sidecar.get(key)
                if isinstance(saved, dict) and saved.get('dim') == meta[key]['dim']:
                    meta[key] = saved
            meta.update({k: sidecar[k] for k in ('item_titles', 'item_image_urls')
                         if k in sidecar and len(sidecar[k]) == len(interactions.items)})
        meta['stats'] = graph_statistics(data, entries)
        save_graph(out, data, meta)
    return meta
