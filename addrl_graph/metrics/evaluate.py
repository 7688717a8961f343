"""Full-ranking evaluation (DESIGN.md, Protocol): every user with a held-out item ranks all items,
training items masked (and validation items too when testing), and the ranking and
beyond-accuracy metrics (:mod:`~addrl_graph.metrics.ranking`, :mod:`~addrl_graph.metrics.beyond`)
read the top-k lists, averaged over users or, with ``per_user``, user by user.

A model is evaluated through its ranking tables (:class:`~addrl_graph.nn.scoring.ChunkTables`,
``model.tables(graph)``, computed once per call) and the library's one scoring kernel.
"""
from __future__ import annotations

import logging
import time
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from addrl_graph.data.schema import TEST, TRAIN, VALID
from addrl_graph.data.seen import UserItems
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.beyond import Catalogue
from addrl_graph.metrics.per_user import UserMetrics, user_values
from addrl_graph.metrics.ranking import DEFAULT_METRICS, ranking_metrics
from addrl_graph.nn.scoring import ChunkTables, torch_threads

log = logging.getLogger(__name__)

SPLITS = {'valid': VALID, 'test': TEST}


@torch.no_grad()
def evaluate(model: nn.Module | ChunkTables, data: HeteroData, split: str = 'valid',
             ks: Sequence[int] = (10, 20, 50), user_batch_size: int = 1024,
             authors_ndcg: bool = False, device: str | torch.device = 'cpu',
             progress: bool = True, num_threads: int | None = None,
             user_block: int | None = None, item_block: int | None = None,
             graph: TrainGraph | None = None, metrics: Sequence[str] = DEFAULT_METRICS,
             diversity_attribute: str = 'category', per_user: bool = False,
             ) -> dict[str, float] | tuple[dict[str, float], UserMetrics]:
    r"""Rank all items for every user with a held-out item of ``split`` and average
    Recall / NDCG / Precision / Hit (by default) @ every k over those users.

    Training items are masked; validation items are masked too when ``split='test'``. NDCG's
    ideal DCG counts ``min(k, number of held-out items)`` hits. The item table is computed once.

    Args:
        model: any model of the library (its ``tables(graph)``, computed once in eval mode),
            or its :class:`~addrl_graph.nn.scoring.ChunkTables`.
        data: the graph (:mod:`addrl_graph.data.schema` schema).
        split: ``'valid'`` or ``'test'``. (default: ``'valid'``)
        ks: cut-offs. (default: ``(10, 20, 50)``)
        user_batch_size: users scored at once (the ``[B, I]`` score buffer). (default: ``1024``)
        authors_ndcg: also report ``'authors_ndcg@k'``, the authors' NDCG whose ideal DCG
            counts only retrieved hits (:class:`~addrl_graph.metrics.ranking.LinkPredAuthorsNDCG`);
            for comparison with published numbers only. (default: ``False``)
        device: where scores are computed. (default: ``'cpu'``)
        progress: show a tqdm bar. (default: ``True``)
        num_threads: torch CPU threads during the call (restored afterwards); ``None`` keeps
            the current setting. (default: ``None``)
        user_block, item_block: tile of the softplus scorer (see
            :func:`~addrl_graph.nn.scoring.chunk_scores`).
        graph: the :class:`~addrl_graph.data.train_graph.TrainGraph` the model and the
            beyond-accuracy metrics read; built from ``data`` when :obj:`None`.
        metrics: names of :data:`~addrl_graph.metrics.ranking.ALL_METRICS`: ``'mrr'``,
            ``'map'``, ``'coverage'``, ``'diversity'``, ``'avg_popularity'`` beside the
            default ``'recall'``, ``'ndcg'``, ``'precision'``, ``'hit'``.
        diversity_attribute: the attribute ``'diversity'`` counts. (default: ``'category'``)
        per_user: also return every evaluated user's values. (default: ``False``)

    Returns:
        ``{'<metric>@k'[, 'authors_ndcg@k'] for each metric and k: float, 'num_users': int}``;
        with ``per_user``, ``(that dict, UserMetrics)``: :class:`~addrl_graph.metrics.per_user.
        UserMetrics` holds ``[U_e]`` values per user, whose means are the dict's figures.
    """
    if split not in SPLITS:
        raise ConfigError(f'split must be one of {tuple(SPLITS)} (got {split!r})')
    if user_batch_size <= 0:
        raise ConfigError(f'user_batch_size must be positive (got {user_batch_size})')
    device = torch.device(device)
    held = UserItems(data, (SPLITS[split],))
    masked = UserItems(data, (TRAIN,) if split == 'valid' else (TRAIN, VALID))
    users = held.users()
    num_items = data['item'].num_nodes
    graph = graph if graph is not None else TrainGraph.from_data(data)
    catalogue = Catalogue.from_graph(graph, diversity_attribute if 'diversity' in metrics
                                     else None)
    collection = ranking_metrics(ks, authors_ndcg, metrics, catalogue).to(device)
    top = min(collection.max_k, num_items)
    batches: list[dict[str, Tensor]] = []
    start = time.perf_counter()
    with torch_threads(num_threads):
        tables = _tables(model, graph, device)
        if tables.num_items != num_items:
            raise ConfigError(f'the model\'s item table has {tables.num_items} rows for '
                              f'{num_items} items')
        bar = tqdm(total=users.numel(), desc=f'evaluate {split}', unit='user',
                   disable=not progress)
        for pred, truth in _top_lists(tables, users, held, masked, top, user_batch_size,
                                      user_block, item_block, bar):
            collection.update(pred, truth)
            if per_user:
                batches.append(user_values(collection, pred, truth))
        bar.close()
    result = {name: float(value) for name, value in collection.compute().items()}
    result['num_users'] = int(users.numel())
    log.info('evaluated %s on %d users x %d items in %.1f s', split, users.numel(), num_items,
             time.perf_counter() - start)
    return (result, UserMetrics.cat(collection, users, batches)) if per_user else result


def _top_lists(tables: ChunkTables, users: Tensor, held: UserItems, masked: UserItems, top: int,
               user_batch_size: int, user_block: int | None, item_block: int | None,
               bar: tqdm) -> Iterator[tuple[Tensor, Tensor]]:
    """For every block of ``user_batch_size`` of ``users``: ``[B, top]`` best items, ``masked``
    items excluded (scored -inf), and ``[2, P]`` (row, held-out item) pairs, on the tables'
    device; ``bar`` counts the users."""
    for b0 in range(0, users.numel(), user_batch_size):
        batch = users[b0:b0 + user_batch_size]
        scores = tables.scores(batch, user_block=user_block, item_block=item_block)
        row, col = masked.pairs(batch)
        scores[row.to(scores.device), col.to(scores.device)] = float('-inf')
        yield (scores.topk(top, dim=1).indices,
               torch.stack(held.pairs(batch)).to(scores.device))
        bar.update(batch.numel())


def _tables(model: nn.Module | ChunkTables, graph: TrainGraph,
            device: torch.device) -> ChunkTables:
    """The model's ranking tables over ``graph`` on ``device``, computed in eval mode; tables
    are passed through."""
    if isinstance(model, ChunkTables):
        return model.to(device)
    graph = graph.to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        return model.tables(graph).to(device)
    finally:
        model.train(was_training)
