r"""The ranking interface every model of the library offers, and its one scoring kernel.

A model maps the training graph to :class:`ChunkTables` (``model.tables(graph)``): chunked user
and item tables and the activation of a chunk's dot product. Every score of the library is

.. math::
    s_\xi(u, i) = \sum_{k=1}^{K} \xi_k \, \mathrm{act}(\langle \mathbf{u}_k, \mathbf{i}_k
    \rangle),

AD-DRL's Eq. 11 with ``act = softplus`` (and Eq. 14's control weights :math:`\xi`, all ones by
default); the baselines have one chunk and ``act = identity``, a plain dot product. Evaluation,
explanations, studies and serving all read scores through :meth:`ChunkTables.scores`,
:meth:`~ChunkTables.score_terms` and :meth:`~ChunkTables.full_sort`.

Why a hand-written kernel: ``softplus`` of every chunk product of a ``[B, I]`` block would need
a ``[B, I, K]`` tensor; :func:`chunk_scores` walks cache-sized tiles instead (see there). It
reads the item table chunk-major, ``[K, d, I]`` (:func:`item_layout`); a :class:`ChunkTables`
lays its table out so once, on first use, and every later call reuses it (full-ranking
evaluation scores one batch of users after the other, the service one user per request).

Shapes legend: ``U`` users, ``I`` items, ``B`` users scored at once, ``M`` items, ``K`` chunks,
``d`` chunk width, ``k`` list length.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from addrl_graph.errors import ConfigError

ACTIVATIONS = ('softplus', 'identity')
# Tile of the blocked softplus scorer. Measured on a 2-core AMD EPYC (1 MiB L2 per core), 2
# threads, U = 21,400, I = 36,224, K = 5, d = 32, full test evaluation of all users: 128x512 7.1 s,
# 256x512 7.0 s, 128x1024 7.4 s, 64x256 8.4 s (1 thread, 128x512: 13.3 s; identity: 3.3 s).
# A [K, 128, 512] float tile is 1.3 MB per worker. On CUDA a tile is the whole user batch by
# CUDA_ITEM_BLOCK items (unmeasured: no GPU here).
USER_BLOCK, ITEM_BLOCK = 128, 512
CUDA_ITEM_BLOCK = 8192


@contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` torch CPU threads (``None``: unchanged)."""
    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_tables(user: Tensor, item: Tensor, activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ConfigError(f'chunk activation must be one of {ACTIVATIONS} (got {activation!r})')
    if user.dim() != 3 or item.dim() != 3 or user.shape[1:] != item.shape[1:]:
        raise ConfigError(f'user and item tables must be [B, K, d] and [I, K, d] with the same '
                          f'K and d (got {tuple(user.shape)} and {tuple(item.shape)})')


def item_layout(item: Tensor) -> Tensor:
    """The kernel's chunk-major copy of an item table: ``[I, K, d]`` → ``[K, d, I]``.

    Made once per :class:`ChunkTables`; remade on every :func:`chunk_scores` call before, it
    was ~1/4 of a full ranking (U = 21,400, I = 36,224, K = 5, d = 64, 1,024-user batches, 2
    threads on the shared 2-core machine: 42.3 s then, 32.0 s now, medians of 5)."""
    return item.permute(1, 2, 0).contiguous()


def chunk_scores(user: Tensor, item: Tensor, activation: str = 'softplus',
                 xi: Tensor | None = None, user_block: int | None = None,
                 item_block: int | None = None, num_workers: int | None = None, *,
                 layout: Tensor | None = None) -> Tensor:
    r"""Scores :math:`s_\xi(u, i) = \sum_k \xi_k\, act(\langle u_k, i_k \rangle)` of every
    user–item pair.

    ``identity`` is one matrix product of the flattened ``[K * d]`` vectors (the chunks scaled
    by :math:`\xi` first). ``softplus`` walks ``[user_block, item_block]`` tiles: per tile one
    batched matmul gives the ``K`` chunk products into a reused ``[K, user_block,
    item_block]`` buffer, softplus (and :math:`\xi`) run in place on it while it is in cache,
    and the chunk sum is written into the ``[B, I]`` result; no ``[B, I, K]`` tensor is ever
    allocated. The item tiles are column slices (views) of the ``[K, d, I]`` layout. On CPU,
    ``num_workers`` Python threads take turns over user blocks, each
    running single-threaded torch ops (ops on cache-sized tiles are too small for torch's
    intra-op pool, whose per-op barrier stalls whenever a core is busy).

    Args:
        user: chunked user vectors.
        item: chunked item vectors.
        activation: ``'softplus'`` or ``'identity'``. (default: ``'softplus'``)
        xi: ``[K]`` control weights of Eq. 14; :obj:`None` for all ones.
        user_block: users per tile; ``None`` picks :data:`USER_BLOCK` on CPU and ``B``
            elsewhere.
        item_block: items per tile; ``None`` picks :data:`ITEM_BLOCK` on CPU and
            :data:`CUDA_ITEM_BLOCK` elsewhere.
        num_workers: CPU threads; ``None`` uses :func:`torch.get_num_threads`.
        layout: ``item_layout(item)`` when already computed (:attr:`ChunkTables.item_layout`);
            ``None`` computes it (``softplus`` only; ``identity`` reads ``item`` as it is).

    Shapes:
        - **user** :math:`[B, K, d]`, **item** :math:`[I, K, d]`, **layout**
          :math:`[K, d, I]` → :math:`[B, I]`
    """
    _check_tables(user, item, activation)
    if layout is not None and layout.shape != item.permute(1, 2, 0).shape:
        raise ConfigError(f'layout must be the [K, d, I] item_layout of the [I, K, d] item '
                          f'table (got {tuple(layout.shape)} for {tuple(item.shape)})')
    num_users, num_chunks, _ = user.shape
    num_items = item.size(0)
    if activation == 'identity':
        if xi is not None:
            user = user * xi.view(1, -1, 1)
        return user.reshape(num_users, -1) @ item.reshape(num_items, -1).t()
    on_cpu = user.device.type == 'cpu'
    ub = max(1, user_block or (USER_BLOCK if on_cpu else num_users))
    ib = max(1, item_block or (ITEM_BLOCK if on_cpu else CUDA_ITEM_BLOCK))
    out = user.new_empty(num_users, num_items)
    if out.numel() == 0:
        return out
    u = user.transpose(0, 1).contiguous()  # [K, B, d]
    layout = item_layout(item) if layout is None else layout
    item_blocks = [layout[:, :, i0:i0 + ib] for i0 in range(0, num_items, ib)]  # [K, d, ib]
    starts = list(range(0, num_users, ub))
    scale = None if xi is None else xi.to(user).view(-1, 1, 1)

    def work(my_starts: list[int]) -> None:
        buf = user.new_empty(num_chunks, min(ub, num_users), min(ib, num_items))
        for b0 in my_starts:
            ublk = u[:, b0:b0 + ub]
            for j, iblk in enumerate(item_blocks):
                tile = buf[:, :ublk.size(1), :iblk.size(2)]
                torch.bmm(ublk, iblk, out=tile)
                torch.ops.aten.softplus.out(tile, 1, 20, out=tile)
                if scale is not None:
                    tile.mul_(scale)
                torch.sum(tile, dim=0, out=out[b0:b0 + ub, j * ib:(j + 1) * ib])

    workers = min(len(starts), num_workers or torch.get_num_threads()) if on_cpu else 1
    if workers <= 1:
        work(starts)
        return out
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, [starts[w::workers] for w in range(workers)]))
    return out


@dataclass
class ChunkTables:
    """A trained model's ranking tables over one graph (see the module docstring).

    Attributes:
        user: ``[U, K, d]`` user chunks.
        item: ``[I, K, d]`` item chunks.
        activation: ``'softplus'`` or ``'identity'``.
        item_weights: ``[I, K, 3]`` AD-DRL's Eq. 8 fusion weights over (ID, text, image), or
            :obj:`None` for a model without views.

    The kernel's ``[K, d, I]`` copy of ``item`` (:attr:`item_layout`) is made on first use and
    kept while ``item`` is the same, unmodified tensor; :meth:`to` gives tables with their own.

    Shapes:
        - :meth:`scores`: ``[B]`` → ``[B, I]``; :meth:`score_terms`: ``[B]`` (, ``[M]``) →
          ``[B, M, K]``; :meth:`user_terms`: ``[B]`` → ``[B, K, I]``; :meth:`sum_terms`:
          ``[..., K, I]``, ``[K]`` → ``[..., I]``; :meth:`pair_terms`: ``[E]``, ``[E]`` →
          ``[E, K]``; :meth:`full_sort`: ``[B]`` → ``[B, k]``, ``[B, k]``
    """
    user: Tensor
    item: Tensor
    activation: str
    item_weights: Tensor | None = None
    # (item it was made from, item._version then, [K, d, I] layout)
    _layout: tuple[Tensor, int, Tensor] | None = field(default=None, init=False, repr=False,
                                                       compare=False)

    def __post_init__(self) -> None:
        _check_tables(self.user, self.item, self.activation)

    @property
    def num_users(self) -> int:
        return self.user.size(0)

    @property
    def num_items(self) -> int:
        return self.item.size(0)

    @property
    def num_chunks(self) -> int:
        return self.user.size(1)

    @property
    def device(self) -> torch.device:
        return self.item.device

    def to(self, device: torch.device | str) -> 'ChunkTables':
        weights = None if self.item_weights is None else self.item_weights.to(device)
        return ChunkTables(self.user.to(device), self.item.to(device), self.activation, weights)

    @property
    def item_layout(self) -> Tensor:
        """``[K, d, I]`` :func:`item_layout` of ``item``, computed once (again only if ``item``
        is replaced or modified in place)."""
        # an inference-mode tensor has no version counter (and cannot change outside that mode)
        version = -1 if self.item.is_inference() else self.item._version
        cached = self._layout
        if cached is None or cached[0] is not self.item or cached[1] != version:
            self._layout = cached = (self.item, version, item_layout(self.item))
        return cached[2]

    def _activate(self, dots: Tensor) -> Tensor:
        return F.softplus(dots) if self.activation == 'softplus' else dots

    def scores(self, users: Tensor, xi: Tensor | None = None, **tiles: int | None) -> Tensor:
        """:math:`s_\\xi(u, i)` of ``[B]`` users with every item, through
        :func:`chunk_scores` (``tiles``: its ``user_block``, ``item_block``)."""
        layout = self.item_layout if self.activation == 'softplus' else None
        return chunk_scores(self.user[users.to(self.device)], self.item, self.activation, xi,
                            **tiles, layout=layout)

    def user_terms(self, users: Tensor) -> Tensor:
        """The terms :math:`act(\\langle u_k, i_k \\rangle)` of ``[B]`` users with every item,
        chunk-major: ``[B, K, I]``, from one batched product per chunk on
        :attr:`item_layout` (for a few users, e.g. a request: many users make a large tensor,
        which :meth:`scores` never allocates)."""
        user = self.user[users.to(self.device)].transpose(0, 1)               # [K, B, d]
        return self._activate(torch.bmm(user, self.item_layout)).transpose(0, 1)

    @staticmethod
    def sum_terms(terms: Tensor, xi: Tensor | None = None) -> Tensor:
        """:math:`s_\\xi` from :meth:`user_terms`: ``[..., K, I]`` terms, ``[K]`` xi (all ones
        when :obj:`None`) → ``[..., I]``."""
        return (terms if xi is None else terms * xi.to(terms).view(-1, 1)).sum(dim=-2)

    def score_terms(self, users: Tensor, items: Tensor | None = None) -> Tensor:
        """The terms :math:`act(\\langle u_k, i_k \\rangle)` of ``[B]`` users with ``[M]``
        items (default: all): ``[B, M, K]``."""
        item = self.item if items is None else self.item[items.to(self.device)]
        return self._activate(torch.einsum('bkd,ikd->bik', self.user[users.to(self.device)],
                                           item))

    def pair_terms(self, users: Tensor, items: Tensor) -> Tensor:
        """The terms of aligned pairs: ``[E]`` users, ``[E]`` items → ``[E, K]``."""
        user, item = self.user[users.to(self.device)], self.item[items.to(self.device)]
        return self._activate((user * item).sum(-1))

    def full_sort(self, users: Tensor, k: int, mask: Tensor | None = None,
                  xi: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The ``k`` best items of ``[B]`` users by :math:`s_\\xi`, ``mask`` (``[B, I]`` bool)
        items left out.

        Returns:
            ``(scores [B, k], items [B, k])``; a slot is ``-inf`` / ``-1`` where a user has
            fewer than ``k`` items left.
        """
        if not 1 <= k <= self.num_items:
            raise ConfigError(f'k must be between 1 and the number of items '
                              f'({self.num_items}) (got {k})')
        scores = self.scores(users, xi)
        if mask is not None:
            scores = scores.masked_fill(mask.to(scores.device), float('-inf'))
        top, idx = scores.topk(k, dim=1)
        return top, idx.masked_fill(top == float('-inf'), -1)
