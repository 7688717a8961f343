"""Full-ranking evaluation (DESIGN.md, Protocol): every user with a held-out item ranks all items,
training items masked (and validation items too when testing).

A model is evaluated through its ranking tables (:class:`~addrl_graph.nn.scoring.ChunkTables`,
``model.tables(graph)``, computed once per call) and the library's one scoring kernel.
"""
from __future__ import annotations

import logging
import time
from typing import Sequence

import torch
from torch import nn
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from addrl_graph.data.schema import TEST, TRAIN, VALID
from addrl_graph.data.seen import UserItems
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.ranking import ranking_metrics
from addrl_graph.nn.scoring import ChunkTables, torch_threads

log = logging.getLogger(__name__)

SPLITS = {'valid': VALID, 'test': TEST}


@torch.no_grad()
def evaluate(model: nn.Module | ChunkTables, data: HeteroData, split: str = 'valid',
             ks: Sequence[int] = (10, 20, 50), user_batch_size: int = 1024,
             authors_ndcg: bool = False, device: str | torch.device = 'cpu',
             progress: bool = True, num_threads: int | None = None,
             user_block: int | None = None, item_block: int | None = None,
             graph: TrainGraph | None = None) -> dict[str, float]:
    r"""Rank all items for every user with a held-out item of ``split`` and average
    Recall / NDCG / Precision / Hit @ every k over those users.

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
        graph: the :class:`~addrl_graph.data.train_graph.TrainGraph` the model reads; built
            from ``data`` when :obj:`None`.

    Returns:
        ``{'recall@k', 'ndcg@k', 'precision@k', 'hit@k'[, 'authors_ndcg@k'] for each k:
        float, 'num_users': int}``.

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
    metrics = ranking_metrics(ks, authors_ndcg).to(device)
    top = min(metrics.max_k, num_items)
    start = time.perf_counter()
    with torch_threads(num_threads):
        tables = _tables(model, data, graph, device)
        if tables.num_items != num_items:
            raise ConfigError(f'the model\'s item table has {tables.num_items} rows for '
                              f'{num_items} items')
        bar = tqdm(total=users.numel(), desc=f'evaluate {split}', unit='user',
                   disable=not progress)
        for b0 in range(0, users.numel(), user_batch_size):
            batch = users[b0:b0 + user_batch_size]
            scores = tables.scores(batch, user_block=user_block, item_block=item_block)
            row, col = masked.pairs(batch)
            scores[row.to(device), col.to(device)] = float('-inf')
            pred = scores.topk(top, dim=1).indices
            metrics.update(pred, torch.stack(held.pairs(batch)).to(device))
            bar.update(batch.numel())
        bar.close()
    result = {name: float(value) for name, value in metrics.compute().items()}
    result['num_users'] = int(users.numel())
    log.info('evaluated %s on %d users x %d items in %.1f s', split, users.numel(), num_items,
             time.perf_counter() - start)
    return result


def _tables(model: nn.Module | ChunkTables, data: HeteroData, graph: TrainGraph | None,
            device: torch.device) -> ChunkTables:
    """The model's ranking tables over ``graph`` (the ``TRAIN`` graph of ``data`` when none is
    given) on ``device``, computed in eval mode; tables are passed through."""
    if isinstance(model, ChunkTables):
        return model.to(device)
    graph = (graph if graph is not None else TrainGraph.from_data(data)).to(
        next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        return model.tables(graph).to(device)
    finally:
        model.train(was_training)
