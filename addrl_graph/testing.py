"""Tiny graphs and configurations for tests and examples, built without :mod:`data_builders`.

:func:`tiny_graph` draws a random graph of the schema in :mod:`addrl_graph.data.schema`,
:func:`graph_from_interactions` completes a hand-written one (reverse edges, attribute nodes,
missing features, ``meta``), and :func:`save_tiny_graph` writes a graph folder for the trainer::

    data, meta = tiny_graph(num_users=12, num_items=10, seed=0)
    graph_dir = save_tiny_graph(tmp_path / 'graph', num_users=60, num_items=40, per_user=10)
    model = ADDRL.from_graph(data, meta, paper_config(d_chunk=8))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.assemble import assemble_graph
from addrl_graph.data.schema import TEST, TRAIN, VALID, save_graph, validate_graph
from addrl_graph.nn.config import ModelConfig

#: The attributes of :func:`tiny_graph`: ``A = 2`` with 3 and 4 values.
TINY_ATTRIBUTES = ({'name': 'price', 'values': ['low', 'high', 'unknown']},
                   {'name': 'brand', 'values': ['a', 'b', 'c', 'd']})

#: The paper's architecture: ID embeddings and one free chunk (``K = A + 1``).
PAPER_MODEL = dict(id_encoder='embedding', free_chunks=1)

#: The AD-DRL configuration tuned on the synthetic ``small`` preset (``bench/sweep_options.py``),
#: which the planted-preference tests were calibrated with (at lr 1e-2): ID embeddings,
#: ``A + 1`` chunks of 32, BPR averaged over the batch, alpha 5, beta 0.01, gamma 10, l2 0.1.
#: The library's defaults were chosen on real data instead (see ``ModelConfig``).
SMALL_PRESET_MODEL = dict(id_encoder='embedding', encoder_layers=2, d_chunk=32, free_chunks=1,
                          bpr_reduction='mean', alpha=5.0, beta=0.01, gamma=10.0, l2=0.1)

Attributes = Mapping[str, int] | Sequence[Mapping[str, Any]]


def paper_config(**overrides: Any) -> ModelConfig:
    """:data:`PAPER_MODEL` with ``overrides`` (e.g. ``d_chunk=8``)."""
    return ModelConfig(**{**PAPER_MODEL, **overrides})


def small_preset_config(**overrides: Any) -> ModelConfig:
    """:data:`SMALL_PRESET_MODEL` with ``overrides`` (e.g. ``ablation='no-high'``)."""
    return ModelConfig(**{**SMALL_PRESET_MODEL, **overrides})


def attribute_specs(attributes: Attributes) -> list[dict[str, Any]]:
    """meta.json attribute entries from ``{name: number of values}`` (values ``v0, v1, ...``)
    or from entries that already have ``name`` and ``values``."""
    if isinstance(attributes, Mapping):
        return [{'name': name, 'values': [f'v{j}' for j in range(n)]}
                for name, n in attributes.items()]
    return [{'name': a['name'], 'values': list(a['values'])} for a in attributes]


def _numpy(x: Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def _stats(data: HeteroData, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``meta['stats']`` entries that reports read (a real build writes more)."""
    item, split = data['item'], data['user', 'interacts', 'item'].split
    num_users, num_items, num_edges = data['user'].num_nodes, item.num_nodes, split.numel()
    counts = {name: int((split == s).sum()) for name, s in
              (('train', TRAIN), ('valid', VALID), ('test', TEST))}
    return dict(users=num_users, items=num_items, interactions=num_edges,
                sparsity=1.0 - num_edges / max(1, num_users * num_items), **counts,
                values_per_attribute={a['name']: len(a['values']) for a in attributes},
                text_dim=item.x_text.size(1), image_dim=item.x_image.size(1),
                items_with_text=int(item.has_text.sum()),
                items_with_image=int(item.has_image.sum()))


def graph_from_interactions(user: Tensor | np.ndarray, item: Tensor | np.ndarray,
                            split: Tensor | np.ndarray, num_users: int, num_items: int,
                            attr: Tensor | np.ndarray | None = None,
                            attributes: Attributes = (), x_text: Tensor | None = None,
                            has_text: Tensor | None = None, x_image: Tensor | None = None,
                            has_image: Tensor | None = None,
                            ) -> tuple[HeteroData, dict[str, Any]]:
    """A valid graph (and its ``meta``) from the parts a test cares about; the rest is filled in.

    Args:
        user: user of every interaction ``[E]``.
        item: item of every interaction ``[E]``.
        split: 0 train, 1 validation, 2 test ``[E]``.
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        attr: attribute-value codes ``[I, A]``; zeros when omitted.
        attributes: ``{name: number of values}`` or meta.json entries, in column order of ``attr``.
        x_text: text features ``[I, d_t]``; none (``d_t = 0``) when omitted.
        has_text: ``[I]``; by default every item with features has them.
        x_image: image features ``[I, d_v]``; none (``d_v = 0``) when omitted.
        has_image: ``[I]``; as ``has_text``.

    Returns:
        ``(HeteroData, meta)`` that pass :func:`~addrl_graph.data.schema.validate_graph`; meta
        names users ``U0, U1, ...`` and items ``I000, I001, ...``.
    """
    specs = attribute_specs(attributes)
    attr = np.zeros((num_items, len(specs)), np.int64) if attr is None else _numpy(attr)
    x_text = torch.zeros(num_items, 0) if x_text is None else x_text
    x_image = torch.zeros(num_items, 0) if x_image is None else x_image
    has_text = torch.full((num_items,), x_text.size(1) > 0) if has_text is None else has_text
    has_image = torch.full((num_items,), x_image.size(1) > 0) if has_image is None else has_image
    data = assemble_graph(_numpy(user), _numpy(item), _numpy(split), num_users, attr, specs,
                          x_text, has_text, x_image, has_image)
    meta = {'users': [f'U{u}' for u in range(num_users)],
            'items': [f'I{i:03d}' for i in range(num_items)], 'attributes': specs,
            'text_encoder': {'name': 'random' if x_text.size(1) else 'none',
                             'dim': x_text.size(1)},
            'image_encoder': {'name': 'random' if x_image.size(1) else 'none',
                              'dim': x_image.size(1)}}
    meta['stats'] = _stats(data, specs)
    validate_graph(data, meta)
    return data, meta


def _per_user_split(num_users: int, per_user: int, rng: np.random.Generator) -> np.ndarray:
    """``split [U, per_user]`` (uint8): per user at random 20% test and 10% validation, rounded,
    but at least one of each while a training interaction remains."""
    n_test = min(max(1, round(0.2 * per_user)), per_user - 1)
    n_valid = min(max(1, round(0.1 * per_user)), per_user - 1 - n_test)
    rank = np.argsort(rng.random((num_users, per_user)), axis=1)
    split = np.full(rank.shape, TRAIN, np.uint8)
    split[rank < n_test + n_valid] = VALID
    split[rank < n_test] = TEST
    return split


def _train_every_item(item: np.ndarray, split: np.ndarray, num_items: int) -> None:
    """Give each item a training interaction where its user allows: a held-out edge to an item
    without one trades labels with a training edge of the same user to an item with two or
    more. In place; ``item [U, P]``, ``split [U, P]``."""
    degree = np.bincount(item[split == TRAIN], minlength=num_items)
    for u, p in zip(*np.nonzero(split != TRAIN)):
        donors = np.flatnonzero((split[u] == TRAIN) & (degree[item[u]] > 1))
        if degree[item[u, p]] == 0 and donors.size:
            d = donors[0]
            split[u, p], split[u, d] = TRAIN, split[u, p]
            degree[item[u, p]] += 1
            degree[item[u, d]] -= 1


def tiny_graph(num_users: int = 12, num_items: int = 10, per_user: int = 5, d_t: int = 6,
               d_v: int = 4, attributes: Attributes = TINY_ATTRIBUTES,
               seed: int = 0) -> tuple[HeteroData, dict[str, Any]]:
    """A random graph of the schema, the same for the same arguments.

    Every user has ``per_user`` distinct random items: 20% of them test and 10% validation,
    rounded, but at least one of each while a training item remains (so with
    ``per_user >= 3`` every user has a validation and a test item). Held-out labels then move
    within users so that each item gets a training interaction where one can. Attribute values
    are uniform; features are Gaussian, and every 5th item (from item 1) has no text, every 4th
    (from item 2) no image, with zero rows there as in a real build.

    Args:
        num_users, num_items: ``U`` and ``I`` (``per_user <= I``).
        per_user: interactions per user; ``E = U * per_user``.
        d_t, d_v: text and image feature sizes (0 for none).
        attributes: ``{name: number of values}`` or meta.json entries.
        seed: seeds every draw.

    Returns:
        ``(HeteroData, meta)``, meta with ``users``, ``items``, ``attributes``, ``stats`` and
        the ``text_encoder`` / ``image_encoder`` entries a build writes.
    """
    if not 1 <= per_user <= num_items:
        raise ValueError(f'per_user must be in [1, num_items={num_items}] (got {per_user})')
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(num_users), per_user)
    item = np.stack([rng.choice(num_items, per_user, replace=False) for _ in range(num_users)])
    split = _per_user_split(num_users, per_user, rng)
    _train_every_item(item, split, num_items)
    specs = attribute_specs(attributes)
    attr = np.stack([rng.integers(0, len(a['values']), num_items) for a in specs], axis=1) \
        if specs else None
    gen = torch.Generator().manual_seed(seed)
    has_text = torch.arange(num_items) % 5 != 1
    has_image = torch.arange(num_items) % 4 != 2
    x_text = torch.randn(num_items, d_t, generator=gen).masked_fill(~has_text.unsqueeze(1), 0)
    x_image = torch.randn(num_items, d_v, generator=gen).masked_fill(~has_image.unsqueeze(1), 0)
    return graph_from_interactions(user, item.ravel(), split.ravel(), num_users, num_items, attr,
                                   specs, x_text, has_text & (d_t > 0), x_image,
                                   has_image & (d_v > 0))


def save_tiny_graph(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`tiny_graph` ``(**kwargs)`` as a graph folder (``graph.pt``, ``meta.json``)
    and return ``path``."""
    save_graph(path, *tiny_graph(**kwargs))
    return Path(path)
