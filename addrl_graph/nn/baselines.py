r"""Baseline rankers trained and evaluated by the same harness as AD-DRL.

- :class:`BPRMF`: matrix factorisation trained with BPR (Rendle et al., UAI 2009).
- :class:`LightGCNRanker`: PyG's :class:`~torch_geometric.nn.models.LightGCN` (He et al.,
  SIGIR 2020) propagated over the training user–item edges.
- :class:`VBPR`: visual BPR (He & McAuley, AAAI 2016) on the items' image and text features.

Every baseline is a ranker for the evaluator with one chunk (:math:`K = 1`) and
``chunk_activation = 'identity'``: ``item_table`` gives ``[I, 1, D]``, ``user_table`` gives
``[B, 1, D]`` and the score is their dot product. Every baseline trains on the same objective,

.. math::
    \mathcal{L} = \frac{1}{B} \sum_{b} \frac{1}{N} \sum_{n}
    -\log \sigma\big(s(u_b, i^+_b) - s(u_b, i^-_{b,n})\big)
    + \lambda \frac{1}{2B} \sum_{e} \lVert e \rVert_2^2,

BPR over every negative (averaged over the batch) plus L2 on the embeddings the batch touches,
counted once per occurrence (users, positives, each negative), in the form of
:func:`addrl_graph.nn.losses.l2_loss`.

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``M`` unique items in a batch, ``N``
negatives per positive, ``D`` width of the flattened score vector.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LightGCN

from addrl_graph.loader.batch import TripletBatch
from addrl_graph.data.schema import TRAIN, split_edges
from addrl_graph.errors import ConfigError
from addrl_graph.nn.losses import bpr_loss, l2_loss

log = logging.getLogger(__name__)

ITEM_FIELDS = ('x_text', 'x_image', 'has_text', 'has_image')


class _DotRanker(nn.Module):
    """Shared objective and table plumbing of the baselines; subclasses provide
    :meth:`_batch_vectors`."""
    #: Score of one chunk: the plain dot product of ``user_table`` and ``item_table`` rows.
    chunk_activation = 'identity'
    l2: float

    def _batch_vectors(self, batch: TripletBatch
                       ) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
        """``(user [B, D], item [M, D], user_reg, item_reg)``: score vectors of the batch and the
        embeddings its L2 term penalises (``user_reg`` rows align with users, ``item_reg`` rows
        with ``batch.item_id``)."""
        raise NotImplementedError

    def loss(self, batch: TripletBatch) -> tuple[Tensor, dict[str, float]]:
        """BPR over every negative plus :math:`\\lambda`·L2 (see the module docstring).

        Returns:
            the scalar loss and its terms ``{'bpr', 'l2', 'total'}`` as floats.
        """
        user, item, user_reg, item_reg = self._batch_vectors(batch)
        pos = (user * item[batch.pos_index]).sum(dim=-1)                    # [B]
        neg = torch.einsum('bd,bnd->bn', user, item[batch.neg_index])       # [B, N]
        bpr = bpr_loss(pos, neg, negatives='each', reduction='mean')
        touched = [r[index] for r in item_reg for index in (batch.pos_index, batch.neg_index)]
        l2 = self.l2 * l2_loss(*user_reg, *touched, batch_size=batch.num_users)
        total = bpr + l2
        return total, {'bpr': bpr.item(), 'l2': l2.item(), 'total': total.item()}

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device


def _check_sizes(num_users: int, num_items: int, **dims: int) -> None:
    for name, value in dict(num_users=num_users, num_items=num_items, **dims).items():
        if int(value) < 1:
            raise ConfigError(f'{name} must be at least 1 (got {value})')


class BPRMF(_DotRanker):
    r"""Matrix factorisation trained with BPR, from the `"BPR: Bayesian Personalized Ranking
    from Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_ paper:
    :math:`s(u, i) = \mathbf{p}_u^\top \mathbf{q}_i`.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        embedding_dim (int): width :math:`D` of the user and item embeddings.
            (default: :obj:`64`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-4`)

    Shapes:
        - :meth:`forward`: ``[P]`` users, ``[P]`` items → ``[P]`` scores
        - :meth:`item_table`: → ``[I, 1, D]``; :meth:`user_table`: ``[B]`` → ``[B, 1, D]``
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 l2: float = 1e-4):
        super().__init__()
        _check_sizes(num_users, num_items, embedding_dim=embedding_dim)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.l2 = float(l2)
        self.user_embedding = nn.Embedding(self.num_users, embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    @classmethod
    def from_graph(cls, data: HeteroData, meta: dict[str, Any], **kwargs: Any) -> 'BPRMF':
        """Size the model from a processed graph (see :mod:`addrl_graph.data.schema`)."""
        return cls(data['user'].num_nodes, data['item'].num_nodes, **kwargs)

    def forward(self, user_id: Tensor, item_id: Tensor) -> Tensor:
        """Scores of aligned pairs."""
        return (self.user_embedding(user_id) * self.item_embedding(item_id)).sum(dim=-1)

    def _batch_vectors(self, batch: TripletBatch):
        user = self.user_embedding(batch.user_id)
        item = self.item_embedding(batch.item_id)
        return user, item, [user], [item]

    @torch.no_grad()
    def item_table(self, item_store: Any = None) -> Tensor:
        """Item embeddings ``[I, 1, D]`` (``item_store`` is not needed)."""
        return self.item_embedding.weight.detach().unsqueeze(1).clone()

    @torch.no_grad()
    def user_table(self, user_id: Tensor) -> Tensor:
        """User embeddings ``[B] → [B, 1, D]``."""
        return self.user_embedding(user_id.to(self._device)).unsqueeze(1)


def normalized_adjacency(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""The symmetric normalised bipartite adjacency :math:`D^{-1/2} A D^{-1/2}` of LightGCN as
    a ``torch.sparse_csr`` matrix over homogeneous node indices (users ``0..U-1``, items
    ``U..U+I-1``), with the same weights as PyG's :class:`~torch_geometric.nn.conv.LGConv`
    (duplicate edges add up, isolated nodes get zero rows).

    Args:
        edge_index: ``[2, E]`` user → item edges (item indices local, ``0..I-1``).

    Returns:
        ``[U + I, U + I]`` sparse CSR tensor.
    """
    homogeneous = to_homogeneous_edges(edge_index, num_users)
    num_nodes = num_users + num_items
    homogeneous, weight = gcn_norm(homogeneous, None, num_nodes, add_self_loops=False)
    # LGConv aggregates at the target (row 1): the matrix multiplied from the left is adj_t.
    return sparse_csr(homogeneous.flip(0), weight, num_nodes)


def sparse_csr(index: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    """The ``[n, n]`` ``torch.sparse_csr`` matrix with ``value[e]`` at ``(index[0, e],
    index[1, e])`` (duplicates add up)."""
    coo = torch.sparse_coo_tensor(index, value, (num_nodes, num_nodes),
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta',
                                category=UserWarning)
        return coo.to_sparse_csr()


def to_homogeneous_edges(edge_index: Tensor, num_users: int) -> Tensor:
    """User → item ``[2, E]`` (local item indices) → both directions over homogeneous node
    indices, ``[2, 2E]``."""
    user, item = edge_index[0], edge_index[1] + num_users
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj``, whose backward reuses ``adj`` instead of
    transposing it (PyTorch's generic backward sorts the CSR indices at every call)."""
    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad)


def symmetric_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``[n, n]`` symmetric sparse ``adj`` times ``[n, D]`` dense ``x`` (no gradient to
    ``adj``)."""
    return _SymmetricSpMM.apply(adj, x)


class LightGCNRanker(_DotRanker):
    r"""LightGCN from the `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper, as a ranker over the training
    user–item graph:

    .. math::
        \mathbf{x}^{(l+1)} = D^{-1/2} A D^{-1/2}\, \mathbf{x}^{(l)}, \qquad
        \mathbf{x} = \sum_{l=0}^{L} \alpha_l \mathbf{x}^{(l)}, \qquad
        s(u, i) = \mathbf{x}_u^\top \mathbf{x}_{U + i}.

    PyG's :class:`~torch_geometric.nn.models.LightGCN` holds the ego embeddings
    :math:`\mathbf{x}^{(0)}` and the layer weights :math:`\alpha` (uniform,
    :math:`1/(L+1)`); :meth:`propagate` runs the loop of its ``get_embedding`` with each
    layer one product with a normalised ``torch.sparse_csr`` adjacency, built once (lazily, on
    the model's device), instead of PyG's gather/scatter over the edges with the normalisation
    recomputed per layer (about 5× faster per training batch on CPU; the result is the same).
    Every training batch propagates over the whole graph; the L2 term is on the ego embeddings
    of the batch, as in the paper.

    :meth:`item_table` propagates once and caches the result; :meth:`user_table` reuses the
    cache as long as the embeddings have not changed (tracked through the tensor version
    counter, which optimiser steps and ``load_state_dict`` bump) and the model has not been
    put back in training mode, so one evaluation pass propagates once.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        edge_index (torch.Tensor): ``[2, E]`` training user → item edges, item indices local
            (``0..I-1``); the reverse direction is added here.
        embedding_dim (int): width :math:`D`. (default: :obj:`64`)
        num_layers (int): number of propagation layers :math:`L`. (default: :obj:`3`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-4`)

    Shapes:
        - :meth:`propagate`: → ``[U + I, D]``
        - :meth:`forward`: ``[P]`` users, ``[P]`` items → ``[P]`` scores
        - :meth:`item_table`: → ``[I, 1, D]``; :meth:`user_table`: ``[B]`` → ``[B, 1, D]``
    """
    def __init__(self, num_users: int, num_items: int, edge_index: Tensor,
                 embedding_dim: int = 64, num_layers: int = 3, l2: float = 1e-4):
        super().__init__()
        _check_sizes(num_users, num_items, embedding_dim=embedding_dim)
        if num_layers < 0:
            raise ConfigError(f'num_layers must be >= 0 (got {num_layers})')
        _check_edges(edge_index, num_users, num_items)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.l2 = float(l2)
        self.gnn = LightGCN(self.num_users + self.num_items, embedding_dim, num_layers,
                            normalize=False)
        # The graph is rebuilt from the data, not saved in checkpoints.
        self.register_buffer('edge_index', edge_index.long(), persistent=False)
        self._adj: Tensor | None = None
        self._table: tuple[tuple[int, ...], Tensor] | None = None

    def reset_parameters(self) -> None:
        self.gnn.reset_parameters()
        self._table = None

    @classmethod
    def from_graph(cls, data: HeteroData, meta: dict[str, Any],
                   **kwargs: Any) -> 'LightGCNRanker':
        """Size the model from a processed graph and propagate over its training edges."""
        return cls(data['user'].num_nodes, data['item'].num_nodes,
                   split_edges(data, TRAIN), **kwargs)

    def adjacency(self) -> Tensor:
        """The normalised ``[U + I, U + I]`` CSR adjacency on the model's device (cached)."""
        device = self.gnn.embedding.weight.device
        if self._adj is None or self._adj.device != device:
            self._adj = normalized_adjacency(self.edge_index.to(device), self.num_users,
                                             self.num_items)
            log.debug('LightGCN adjacency: %d nodes, %d entries on %s', self._adj.size(0),
                      self._adj.values().numel(), device)
        return self._adj

    def propagate(self) -> Tensor:
        """Final embeddings of every node, :math:`\\sum_l \\alpha_l \\mathbf{x}^{(l)}`: the
        loop of :meth:`LightGCN.get_embedding` with each layer a :func:`symmetric_spmm`."""
        adj, alpha = self.adjacency(), self.gnn.alpha
        x = self.gnn.embedding.weight
        out = x * alpha[0]
        for layer in range(self.gnn.num_layers):
            x = symmetric_spmm(adj, x)
            out = out + x * alpha[layer + 1]
        return out

    def forward(self, user_id: Tensor, item_id: Tensor) -> Tensor:
        """Scores of aligned pairs (propagates over the whole graph)."""
        out = self.propagate()
        return (out[user_id] * out[item_id + self.num_users]).sum(dim=-1)

    def _batch_vectors(self, batch: TripletBatch):
        out = self.propagate()
        ego = self.gnn.embedding.weight
        item_nodes = batch.item_id + self.num_users
        return (out[batch.user_id], out[item_nodes], [ego[batch.user_id]], [ego[item_nodes]])

    def train(self, mode: bool = True) -> 'LightGCNRanker':
        if mode:
            self._table = None
        return super().train(mode)

    def __getstate__(self) -> dict[str, Any]:
        # Caches are rebuilt on demand; a sparse CSR tensor cannot be deep-copied or pickled.
        return {**super().__getstate__(), '_adj': None, '_table': None}

    def _cached_propagation(self) -> Tensor:
        weight, alpha = self.gnn.embedding.weight, self.gnn.alpha
        key = (weight._version, weight.data_ptr(), alpha._version, alpha.data_ptr())
        if self._table is None or self._table[0] != key:
            self._table = (key, self.propagate().detach())
        return self._table[1]

    @torch.no_grad()
    def item_table(self, item_store: Any = None) -> Tensor:
        """Propagated item embeddings ``[I, 1, D]`` (``item_store`` is not needed); propagates
        and refreshes the cache that :meth:`user_table` reads."""
        self._table = None
        return self._cached_propagation()[self.num_users:].unsqueeze(1)

    @torch.no_grad()
    def user_table(self, user_id: Tensor) -> Tensor:
        """Propagated user embeddings ``[B] → [B, 1, D]``, from the cache when it is current."""
        out = self._cached_propagation()
        return out[user_id.to(out.device)].unsqueeze(1)


def _check_edges(edge_index: Tensor, num_users: int, num_items: int) -> None:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ConfigError(f'edge_index must be [2, E] (got {list(edge_index.shape)})')
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index[0].max()) >= num_users
                               or int(edge_index[1].max()) >= num_items):
        raise ConfigError(f'edge_index must hold user indices < {num_users} in row 0 and item '
                          f'indices < {num_items} in row 1')


class VBPR(_DotRanker):
    r"""Visual BPR from the `"VBPR: Visual Bayesian Personalized Ranking from Implicit
    Feedback" <https://arxiv.org/abs/1510.01784>`_ paper, on the concatenated image and text
    features :math:`\mathbf{f}_i` of the item (a missing modality is zeros):

    .. math::
        s(u, i) = b_i + \boldsymbol{\gamma}_u^\top \boldsymbol{\gamma}_i
        + \boldsymbol{\theta}_u^\top (\mathbf{E} \mathbf{f}_i)
        + \boldsymbol{\beta}'^\top \mathbf{f}_i.

    The user bias :math:`\beta_u` and the global offset cancel in BPR and are left out. The
    score is one dot product of a user vector
    :math:`[\boldsymbol{\gamma}_u, \boldsymbol{\theta}_u, 1, 1]` and an item vector
    :math:`[\boldsymbol{\gamma}_i, \mathbf{E}\mathbf{f}_i, \boldsymbol{\beta}'^\top
    \mathbf{f}_i, b_i]`, so the tables have :math:`D = \text{embedding\_dim} +
    \text{feature\_dim} + 2`. The L2 term covers :math:`\boldsymbol{\gamma}_u,
    \boldsymbol{\theta}_u, \boldsymbol{\gamma}_i, b_i`; :math:`\mathbf{E}` and
    :math:`\boldsymbol{\beta}'` are left to the optimiser's weight decay.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        text_dim (int): width :math:`d_t` of the text features (0: none).
        image_dim (int): width :math:`d_v` of the image features (0: none).
        embedding_dim (int): width of :math:`\boldsymbol{\gamma}`. (default: :obj:`32`)
        feature_dim (int): width of :math:`\boldsymbol{\theta}_u` and
            :math:`\mathbf{E}\mathbf{f}_i`. (default: :obj:`32`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-4`)
        feature_norm (bool): L2-normalise each modality's feature row before concatenating (as
            AD-DRL does by default), so both modalities start on the same scale.
            (default: :obj:`True`)

    Shapes:
        - :meth:`forward`: ``[P]`` users, ``[P]`` items, ``[P, d_t]``, ``[P, d_v]``, ``[P]``,
          ``[P]`` → ``[P]`` scores
        - :meth:`item_table`: → ``[I, 1, D]``; :meth:`user_table`: ``[B]`` → ``[B, 1, D]``
    """
    def __init__(self, num_users: int, num_items: int, text_dim: int, image_dim: int,
                 embedding_dim: int = 32, feature_dim: int = 32, l2: float = 1e-4,
                 feature_norm: bool = True):
        super().__init__()
        _check_sizes(num_users, num_items, embedding_dim=embedding_dim, feature_dim=feature_dim)
        if text_dim < 0 or image_dim < 0 or text_dim + image_dim == 0:
            raise ConfigError(f'VBPR needs text or image features (got text_dim={text_dim}, '
                              f'image_dim={image_dim}); use bpr-mf for a graph without them')
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.text_dim, self.image_dim = int(text_dim), int(image_dim)
        self.l2, self.feature_norm = float(l2), bool(feature_norm)
        self.user_gamma = nn.Embedding(self.num_users, embedding_dim)
        self.user_theta = nn.Embedding(self.num_users, feature_dim)
        self.item_gamma = nn.Embedding(self.num_items, embedding_dim)
        self.item_bias = nn.Embedding(self.num_items, 1)
        self.feature_proj = nn.Linear(text_dim + image_dim, feature_dim, bias=False)  # E
        self.feature_bias = nn.Linear(text_dim + image_dim, 1, bias=False)          # beta'
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_gamma, self.user_theta, self.item_gamma):
            nn.init.normal_(emb.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        self.feature_proj.reset_parameters()
        nn.init.zeros_(self.feature_bias.weight)

    @classmethod
    def from_graph(cls, data: HeteroData, meta: dict[str, Any], **kwargs: Any) -> 'VBPR':
        """Size the model from a processed graph (feature widths from ``item.x_text`` and
        ``item.x_image``)."""
        item = data['item']
        return cls(data['user'].num_nodes, item.num_nodes, item.x_text.size(1),
                   item.x_image.size(1), **kwargs)

    def features(self, x_text: Tensor, x_image: Tensor, has_text: Tensor,
                 has_image: Tensor) -> Tensor:
        """:math:`\\mathbf{f}_i`: ``[M, d_v + d_t]``, image then text, zeros where missing."""
        views = []
        for x, has in ((x_image, has_image), (x_text, has_text)):
            if x.size(-1):
                x = F.normalize(x, p=2, dim=-1) if self.feature_norm else x
                views.append(x * has.unsqueeze(-1).to(x.dtype))
        return torch.cat(views, dim=-1)

    def _item_vectors(self, item_id: Tensor, *item_fields: Tensor) -> Tensor:
        f = self.features(*item_fields)
        return torch.cat([self.item_gamma(item_id), self.feature_proj(f), self.feature_bias(f),
                          self.item_bias(item_id)], dim=-1)

    def _user_vectors(self, user_id: Tensor) -> Tensor:
        gamma, theta = self.user_gamma(user_id), self.user_theta(user_id)
        return torch.cat([gamma, theta, gamma.new_ones(gamma.size(0), 2)], dim=-1)

    def forward(self, user_id: Tensor, item_id: Tensor, x_text: Tensor, x_image: Tensor,
                has_text: Tensor, has_image: Tensor) -> Tensor:
        """Scores of aligned pairs, term by term as in the paper."""
        f = self.features(x_text, x_image, has_text, has_image)
        return (self.item_bias(item_id).squeeze(-1)
                + (self.user_gamma(user_id) * self.item_gamma(item_id)).sum(dim=-1)
                + (self.user_theta(user_id) * self.feature_proj(f)).sum(dim=-1)
                + self.feature_bias(f).squeeze(-1))

    def _batch_vectors(self, batch: TripletBatch):
        user = self._user_vectors(batch.user_id)
        item = self._item_vectors(batch.item_id, batch.x_text, batch.x_image, batch.has_text,
                                  batch.has_image)
        return (user, item, [self.user_gamma(batch.user_id), self.user_theta(batch.user_id)],
                [self.item_gamma(batch.item_id), self.item_bias(batch.item_id)])

    @torch.no_grad()
    def item_table(self, item_store: Any, batch_size: int = 4096) -> Tensor:
        """Item vectors ``[I, 1, D]`` from ``item_store`` (``data['item']``: ``x_text``,
        ``x_image``, ``has_text``, ``has_image``, on any device), ``batch_size`` items a step."""
        device = self._device
        rows = []
        for start in range(0, self.num_items, batch_size):
            stop = min(start + batch_size, self.num_items)
            rows.append(self._item_vectors(torch.arange(start, stop, device=device),
                                           *(item_store[k][start:stop].to(device)
                                             for k in ITEM_FIELDS)))
        return torch.cat(rows).unsqueeze(1)

    @torch.no_grad()
    def user_table(self, user_id: Tensor) -> Tensor:
        """User vectors ``[B] → [B, 1, D]``."""
        return self._user_vectors(user_id.to(self._device)).unsqueeze(1)
