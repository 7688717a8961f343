"""Full-ranking evaluation (DESIGN.md, Protocol): every user with a held-out item ranks all items,
training items masked (and validation items too when testing).

A model is evaluated through the :class:`Ranker` protocol: it returns chunked user and item tables,
and the score is :math:`s(u, i) = \\sum_k act(\\langle u_k, i_k \\rangle)` (AD-DRL Eq. 11 with
``act = softplus``; ``identity`` reduces to one dot product of the flattened vectors).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from addrl_graph.data.schema import INTERACTS, TEST, TRAIN, VALID
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.ranking import ranking_metrics

log = logging.getLogger(__name__)

ACTIVATIONS = ('softplus', 'identity')
SPLITS = {'valid': VALID, 'test': TEST}
# Tile of the blocked softplus scorer. Measured on a 2-core AMD EPYC (1 MiB L2 per core), 2
# threads, U = 21,400, I = 36,224, K = 5, d = 32, full test evaluation of all users: 128x512 7.1 s,
# 256x512 7.0 s, 128x1024 7.4 s, 64x256 8.4 s (1 thread, 128x512: 13.3 s; identity: 3.3 s).
# A [K, 128, 512] float tile is 1.3 MB per worker. On CUDA a tile is the whole user batch by
# CUDA_ITEM_BLOCK items (unmeasured: no GPU here).
USER_BLOCK, ITEM_BLOCK = 128, 512
CUDA_ITEM_BLOCK = 8192


@runtime_checkable
class Ranker(Protocol):
    """What :func:`evaluate` needs from a model.

    Attributes:
        chunk_activation: ``'softplus'`` (AD-DRL Eq. 11) or ``'identity'``.

    Shapes:
        - **item_table(item_store)** → :math:`[I, K, d]`
        - **user_table(user_id [B])** → :math:`[B, K, d]`
    """
    chunk_activation: str

    def item_table(self, item_store: Any) -> Tensor: ...

    def user_table(self, user_id: Tensor) -> Tensor: ...


@contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def chunk_scores(user: Tensor, item: Tensor, activation: str = 'softplus',
                 user_block: int | None = None, item_block: int | None = None,
                 num_workers: int | None = None) -> Tensor:
    r"""Scores :math:`s(u, i) = \sum_k act(\langle u_k, i_k \rangle)` of every user–item pair.

    ``identity`` is one matrix product of the flattened ``[K * d]`` vectors. ``softplus`` walks
    ``[user_block, item_block]`` tiles: per tile one batched matmul gives the ``K`` chunk
    products into a reused ``[K, user_block, item_block]`` buffer, softplus runs in place on it
    while it is in cache, and the chunk sum is written into the ``[B, I]`` result; no
    ``[B, I, K]`` tensor is ever allocated. On CPU, ``num_workers`` Python threads take turns
    over user blocks, each running single-threaded torch ops (ops on cache-sized tiles are too
    small for torch's intra-op pool, whose per-op barrier stalls whenever a core is busy).

    Args:
        user: chunked user vectors.
        item: chunked item vectors.
        activation: ``'softplus'`` or ``'identity'``. (default: ``'softplus'``)
        user_block: users per tile; ``None`` picks :data:`USER_BLOCK` on CPU and ``B``
            elsewhere.
        item_block: items per tile; ``None`` picks :data:`ITEM_BLOCK` on CPU and
            :data:`CUDA_ITEM_BLOCK` elsewhere.
        num_workers: CPU threads; ``None`` uses :func:`torch.get_num_threads`.

    Shapes:
        - **user** :math:`[B, K, d]`, **item** :math:`[I, K, d]` → :math:`[B, I]`
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(f'chunk_activation must be one of {ACTIVATIONS} (got {activation!r})')
    if user.dim() != 3 or item.dim() != 3 or user.shape[1:] != item.shape[1:]:
        raise ConfigError(f'user and item tables must be [B, K, d] and [I, K, d] with the same '
                          f'K and d (got {tuple(user.shape)} and {tuple(item.shape)})')
    num_users, num_chunks, _ = user.shape
    num_items = item.size(0)
    if activation == 'identity':
        return user.reshape(num_users, -1) @ item.reshape(num_items, -1).t()
    on_cpu = user.device.type == 'cpu'
    ub = max(1, user_block or (USER_BLOCK if on_cpu else num_users))
    ib = max(1, item_block or (ITEM_BLOCK if on_cpu else CUDA_ITEM_BLOCK))
    out = user.new_empty(num_users, num_items)
    if out.numel() == 0:
        return out
    u = user.transpose(0, 1).contiguous()  # [K, B, d]
    item_blocks = [item[i0:i0 + ib].permute(1, 2, 0).contiguous()  # [K, d, ib]
                   for i0 in range(0, num_items, ib)]
    starts = list(range(0, num_users, ub))

    def work(my_starts: list[int]) -> None:
        buf = user.new_empty(num_chunks, min(ub, num_users), min(ib, num_items))
        for b0 in my_starts:
            ublk = u[:, b0:b0 + ub]
            for j, iblk in enumerate(item_blocks):
                tile = buf[:, :ublk.size(1), :iblk.size(2)]
                torch.bmm(ublk, iblk, out=tile)
                torch.ops.aten.softplus.out(tile, 1, 20, out=tile)
                torch.sum(tile, dim=0, out=out[b0:b0 + ub, j * ib:(j + 1) * ib])

    workers = min(len(starts), num_workers or torch.get_num_threads()) if on_cpu else 1
    if workers <= 1:
        work(starts)
        return out
    with _threads(1), ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, [starts[w::workers] for w in range(workers)]))
    return out


def _by_user(edge_index: Tensor) -> tuple[Tensor, Tensor]:
    """Edges sorted by user, and their user column (for ``searchsorted`` range look-ups)."""
    perm = torch.argsort(edge_index[0], stable=True)
    edge_index = edge_index[:, perm]
    return edge_index, edge_index[0].contiguous()


def _edges_of(users: Tensor, edge_index: Tensor, sorted_users: Tensor,
              position: Tensor) -> tuple[Tensor, Tensor]:
    """(row in the batch, item) of every edge whose user is in ``users`` (ascending)."""
    lo = int(torch.searchsorted(sorted_users, users[0]))
    hi = int(torch.searchsorted(sorted_users, users[-1], right=True))
    row, col = edge_index[0, lo:hi], edge_index[1, lo:hi]
    pos = position[row]
    keep = pos >= 0
    return pos[keep], col[keep]


@torch.no_grad()
def evaluate(ranker: Ranker, data: HeteroData, split: str = 'valid',
             ks: Sequence[int] = (10, 20, 50), user_batch_size: int = 1024,
             authors_ndcg: bool = False, device: str | torch.device = 'cpu',
             progress: bool = True, num_threads: int | None = None,
             user_block: int | None = None, item_block: int | None = None) -> dict[str, float]:
    r"""Rank all items for every user with a held-out item of ``split`` and average
    Recall / NDCG / Precision / Hit @ every k over those users.

    Training items are masked; validation items are masked too when ``split='test'``. NDCG's
    ideal DCG counts ``min(k, number of held-out items)`` hits. The item table is computed once.

    Args:
        ranker: a model following :class:`Ranker` (put in eval mode for the call).
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
        user_block, item_block: tile of the softplus scorer (see :func:`chunk_scores`).

    Returns:
        ``{'recall@k', 'ndcg@k', 'precision@k', 'hit@k'[, 'authors_ndcg@k'] for each k:
        float, 'num_users': int}``.

    Shapes:
        - **ranker.item_table** :math:`[I, K, d]` (given ``data['item']`` as it is, on any
          device: the ranker moves what it needs), **ranker.user_table** :math:`[B, K, d]`
    """
    if split not in SPLITS:
        raise ConfigError(f'split must be one of {tuple(SPLITS)} (got {split!r})')
    if user_batch_size <= 0:
        raise ConfigError(f'user_batch_size must be positive (got {user_batch_size})')
    activation = getattr(ranker, 'chunk_activation', None)
    if activation not in ACTIVATIONS:
        raise ConfigError(f'ranker.chunk_activation must be one of {ACTIVATIONS} '
                          f'(got {activation!r})')
    device = torch.device(device)
    store = data[INTERACTS]
    edge_index, edge_split = store.edge_index, store.split
    held, held_users = _by_user(edge_index[:, edge_split == SPLITS[split]])
    mask_splits = (TRAIN,) if split == 'valid' else (TRAIN, VALID)
    is_masked = torch.isin(edge_split, torch.tensor(mask_splits))
    masked, masked_users = _by_user(edge_index[:, is_masked])
    users = torch.unique(held_users)
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    metrics = ranking_metrics(ks, authors_ndcg).to(device)
    top = min(metrics.max_k, num_items)

    was_training = getattr(ranker, 'training', None)
    if was_training:
        ranker.eval()  # type: ignore[attr-defined]
    start = time.perf_counter()
    try:
        with _threads(num_threads):
            items = ranker.item_table(data['item']).to(device)
            if items.size(0) != num_items:
                raise ConfigError(f'ranker.item_table returned {items.size(0)} rows for '
                                  f'{num_items} items')
            position = torch.full((num_users,), -1, dtype=torch.long)
            bar = tqdm(total=users.numel(), desc=f'evaluate {split}', unit='user',
                       disable=not progress)
            for b0 in range(0, users.numel(), user_batch_size):
                batch = users[b0:b0 + user_batch_size]
                position[batch] = torch.arange(batch.numel())
                scores = chunk_scores(ranker.user_table(batch.to(device)).to(device), items,
                                      activation, user_block, item_block)
                row, col = _edges_of(batch, masked, masked_users, position)
                scores[row.to(device), col.to(device)] = float('-inf')
                pred = scores.topk(top, dim=1).indices
                row, col = _edges_of(batch, held, held_users, position)
                metrics.update(pred, torch.stack([row, col]).to(device))
                position[batch] = -1
                bar.update(batch.numel())
            bar.close()
    finally:
        if was_training:
            ranker.train()  # type: ignore[attr-defined]
    result = {name: float(value) for name, value in metrics.compute().items()}
    result['num_users'] = int(users.numel())
    log.info('evaluated %s on %d users x %d items in %.1f s', split, users.numel(), num_items,
             time.perf_counter() - start)
    return result
