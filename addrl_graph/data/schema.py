"""The processed-graph schema: save, load and validate ``graph.pt`` + ``meta.json``.

Node types: ``user``; ``item`` with ``x_text [I, d_t]``, ``x_image [I, d_v]`` (float32),
``has_text [I]``, ``has_image [I]`` (bool) and ``attr [I, A]`` (long); and one node type per
attribute (named after it) whose ``num_nodes`` is the number of values.

Edge types, each with its reverse ``rev_<relation>``: ``('user', 'interacts', 'item')`` with
``split [E]`` (0 train, 1 validation, 2 test) and ``('item', 'has_<a>', '<a>')``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.catalog import IMAGE_URLS_KEY, TITLES_KEY
from addrl_graph.errors import GraphSchemaError
from addrl_graph.io import (atomic_torch_save, atomic_write_json, load_tensors, read_json,
                            sha256_file)

SCHEMA_VERSION = 1
GRAPH_FILE = 'graph.pt'
META_FILE = 'meta.json'
INTERACTS = ('user', 'interacts', 'item')
REV_INTERACTS = ('item', 'rev_interacts', 'user')
TRAIN, VALID, TEST = 0, 1, 2
RESERVED_NODE_TYPES = {'user', 'item'}
#: The name explanations give the model's free chunks (``others``, or ``others_1`` … when
#: several); no attribute may take it, nor a node type's name.
FREE_CHUNK = 'others'
RESERVED_ATTRIBUTE_NAMES = frozenset(RESERVED_NODE_TYPES | {FREE_CHUNK})


def is_reserved_attribute(name: str) -> bool:
    """Whether an attribute may not be called ``name`` (``user``, ``item``, ``others``,
    ``others_2`` …)."""
    return name in RESERVED_ATTRIBUTE_NAMES or name.startswith(f'{FREE_CHUNK}_')


def attribute_names(meta: dict[str, Any]) -> list[str]:
    """Attribute names in the column order of ``item.attr``."""
    return [a['name'] for a in meta['attributes']]


def has_edge(attribute: str) -> tuple[str, str, str]:
    """Edge type linking items to the value nodes of ``attribute``."""
    return ('item', f'has_{attribute}', attribute)


def rev_has_edge(attribute: str) -> tuple[str, str, str]:
    return (attribute, f'rev_has_{attribute}', 'item')


def split_edges(data: HeteroData, split: int) -> Tensor:
    """User–item ``edge_index [2, E_split]`` of one split (``TRAIN``, ``VALID`` or ``TEST``)."""
    store = data[INTERACTS]
    return store.edge_index[:, store.split == split]


def save_graph(out_dir: str | Path, data: HeteroData, meta: dict[str, Any]) -> None:
    """Validate, then write ``graph.pt`` (tensors only) and ``meta.json`` atomically.

    The graph is written first and its sha256 recorded in ``meta.json``, so a reader never
    pairs a new ``meta.json`` with an old graph without noticing.
    """
    validate_graph(data, meta)
    out_dir = Path(out_dir)
    meta = dict(meta, schema_version=SCHEMA_VERSION)
    meta['graph_sha256'] = atomic_torch_save(out_dir / GRAPH_FILE, data.to_dict())
    atomic_write_json(out_dir / META_FILE, meta)


def load_graph(path: str | Path, check_sha256: bool = True) -> tuple[HeteroData, dict[str, Any]]:
    """Load a processed folder and return ``(HeteroData, meta)`` after validating the schema.

    Args:
        path: folder holding ``graph.pt`` and ``meta.json``.
        check_sha256: compare the graph file with the checksum stored in ``meta.json``.

    Raises:
        GraphSchemaError: missing files, checksum mismatch or a schema violation (the message
            names the offending node type, edge type or field).
    """
    path = Path(path)
    graph_file, meta_file = path / GRAPH_FILE, path / META_FILE
    for f in (graph_file, meta_file):
        if not f.is_file():
            raise GraphSchemaError(f'{f} not found: build a graph first with '
                                   f'`python -m data_builders build ... --out {path}`')
    meta = read_json(meta_file, GraphSchemaError)
    check_meta(meta, meta_file)
    if meta.get('schema_version') != SCHEMA_VERSION:
        raise GraphSchemaError(f'{meta_file}: schema_version must be {SCHEMA_VERSION} '
                               f'(got {meta.get("schema_version")!r}); rebuild the graph')
    if check_sha256 and meta.get('graph_sha256') != sha256_file(graph_file):
        raise GraphSchemaError(f'{graph_file} does not match the checksum in {meta_file}: '
                               'the file is corrupted or belongs to another build')
    mapping = load_tensors(graph_file, GraphSchemaError)
    data = HeteroData.from_dict(mapping)
    validate_graph(data, meta)
    return data, meta


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise GraphSchemaError(message)


def check_meta(meta: Any, source: str | Path = META_FILE) -> None:
    """Check the shape every reader of ``meta.json`` relies on: a JSON object whose ``users``
    and ``items`` are lists of ids (strings), whose ``attributes`` are objects with a
    ``name`` (a string) and ``values`` (a list), and whose optional ``item_titles`` and
    ``item_image_urls`` hold a string or null per item.

    Raises:
        GraphSchemaError: naming ``source`` and the key (a hand edit, a damaged file).
    """
    _require(isinstance(meta, dict),
             f'{source} must hold a JSON object (got {type(meta).__name__})')
    for key in ('users', 'items'):
        ids = meta.get(key)
        _require(isinstance(ids, list) and all(isinstance(i, str) for i in ids),
                 f'{source}: {key} must be a list of ids (strings); rebuild the graph')
    specs = meta.get('attributes')
    _require(isinstance(specs, list)
             and all(isinstance(a, dict) and isinstance(a.get('name'), str)
                     and isinstance(a.get('values'), list) for a in specs),
             f'{source}: attributes must be a list of objects with a name (a string) and values '
             '(a list); rebuild the graph')
    for key in (TITLES_KEY, IMAGE_URLS_KEY):            # optional: see addrl_graph.data.catalog
        values = meta.get(key)
        _require(values is None or (isinstance(values, list)
                                    and len(values) == len(meta['items'])
                                    and all(v is None or isinstance(v, str) for v in values)),
                 f'{source}: {key} must be a list of strings or nulls, one per item '
                 f"({len(meta['items'])}); rebuild the graph")


def _check_edges(data: HeteroData, edge_type: tuple[str, str, str]) -> Tensor:
    _require(edge_type in data.edge_types, f'edge type {edge_type} is missing')
    edge_index = data[edge_type].get('edge_index')
    _require(isinstance(edge_index, Tensor) and edge_index.dim() == 2 and edge_index.size(0) == 2
             and edge_index.dtype == torch.long,
             f'{edge_type}.edge_index must be a long tensor [2, E]')
    src, _, dst = edge_type
    for row, node_type in enumerate((src, dst)):
        if edge_index.numel():
            _require(int(edge_index[row].min()) >= 0
                     and int(edge_index[row].max()) < data[node_type].num_nodes,
                     f'{edge_type}.edge_index row {row} points outside {node_type!r} '
                     f'(num_nodes={data[node_type].num_nodes})')
    return edge_index


def validate_graph(data: HeteroData, meta: dict[str, Any]) -> None:
    """Check ``data`` against the schema and against ``meta``; raise on the first violation.

    Raises:
        GraphSchemaError: naming what is wrong and what was found.
    """
    check_meta(meta)
    num_users, num_items = len(meta['users']), len(meta['items'])
    names = attribute_names(meta)
    _require(len(set(names)) == len(names), f'duplicate attribute names in meta.json (got {names})')
    clash = sorted(n for n in names if is_reserved_attribute(n))
    _require(not clash, f'attribute names may not be {clash}: reserved for the node types and '
                        'the free chunks')
    _require('user' in data.node_types and 'item' in data.node_types,
             f'graph needs node types user and item (got {data.node_types})')
    _require(data['user'].num_nodes == num_users,
             f"user.num_nodes={data['user'].num_nodes} but meta.json lists {num_users} users")
    item = data['item']
    _require(item.num_nodes == num_items,
             f'item.num_nodes={item.num_nodes} but meta.json lists {num_items} items')
    for field in ('x_text', 'x_image'):
        x = item.get(field)
        _require(isinstance(x, Tensor) and x.dim() == 2 and x.size(0) == num_items
                 and x.dtype == torch.float32,
                 f'item.{field} must be float32 [{num_items}, d] '
                 f'(got {None if x is None else (tuple(x.shape), x.dtype)})')
        _require(bool(torch.isfinite(x).all()), f'item.{field} holds NaN or inf')
    for field in ('has_text', 'has_image'):
        mask = item.get(field)
        _require(isinstance(mask, Tensor) and mask.dtype == torch.bool
                 and tuple(mask.shape) == (num_items,),
                 f'item.{field} must be a bool tensor [{num_items}]')
    attr = item.get('attr')
    _require(isinstance(attr, Tensor) and attr.dtype == torch.long
             and tuple(attr.shape) == (num_items, len(names)),
             f'item.attr must be long [{num_items}, {len(names)}] '
             f'(got {None if attr is None else (tuple(attr.shape), attr.dtype)})')
    for col, spec in enumerate(meta['attributes']):
        name, num_values = spec['name'], len(spec['values'])
        _require(name in data.node_types, f'node type for attribute {name!r} is missing')
        _require(data[name].num_nodes == num_values,
                 f'{name}.num_nodes={data[name].num_nodes} but meta.json lists {num_values} values')
        if num_items:
            _require(int(attr[:, col].min()) >= 0 and int(attr[:, col].max()) < num_values,
                     f'item.attr column {col} ({name}) holds a value outside [0, {num_values})')
        edge_index = _check_edges(data, has_edge(name))
        _require(edge_index.size(1) == num_items,
                 f'{has_edge(name)} must have one edge per item (got {edge_index.size(1)})')
        _check_edges(data, rev_has_edge(name))
    edge_index = _check_edges(data, INTERACTS)
    split = data[INTERACTS].get('split')
    _require(isinstance(split, Tensor) and tuple(split.shape) == (edge_index.size(1),),
             f'{INTERACTS}.split must have one entry per edge')
    _require(bool(((split >= TRAIN) & (split <= TEST)).all()),
             f'{INTERACTS}.split values must be 0 (train), 1 (validation) or 2 (test)')
    _check_edges(data, REV_INTERACTS)
