r"""DGCF (Wang et al., SIGIR 2020): intent-aware routing over the training user–item graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, check_sizes
from addrl_graph.nn.baselines.independence import MAX_ROWS, factor_correlation
from addrl_graph.nn.sparse import to_homogeneous_edges


def routing_weights(logits: Tensor, head: Tensor, tail: Tensor, num_nodes: int) -> Tensor:
    r"""Per intent, the normalised weight of every edge: :math:`S = \mathrm{softmax}_k(A)`,
    :math:`S_k(h, t) / \sqrt{D_k(h) D_k(t)}` with :math:`D_k(n) = \sum_t S_k(n, t)`.

    Shapes:
        - **logits** :math:`[E, K]`, **head** / **tail** :math:`[E]` → :math:`[E, K]`
    """
    share = logits.softmax(dim=-1)
    degree = scatter(share, head, dim=0, dim_size=num_nodes, reduce='sum').clamp_min(1e-8)
    inv_sqrt = degree.rsqrt()
    return share * inv_sqrt[head] * inv_sqrt[tail]


class DGCF(DotRanker):
    r"""DGCF from the `"Disentangled Graph Collaborative Filtering"
    <https://arxiv.org/abs/2007.01764>`_ paper. The ego embeddings of users and items are cut
    into :math:`K` intents of width :math:`d = D / K`; each of :math:`L` layers routes, for
    :math:`T` iterations, every intent's messages over the training edges (both directions)
    with weights :func:`routing_weights` of the routing logits :math:`A` (ones at the start),
    updating the logits by how well a message fits its head:

    .. math::
        \mathbf{x}^{(l+1)}_{h,k} = \sum_{t \in \mathcal{N}(h)}
        \frac{S_k(h, t)}{\sqrt{D_k(h) D_k(t)}}\, \mathbf{x}^{(l)}_{t,k}, \qquad
        A_k(h, t) \mathrel{+}= \hat{\mathbf{x}}^{(l+1)\top}_{h,k}
        \tanh(\hat{\mathbf{x}}^{(l)}_{t,k})

    (:math:`\hat{\cdot}` L2-normalised; the logits carry over from layer to layer). The final
    embeddings are the mean of the :math:`L + 1` layer outputs and
    :math:`s(u, i) = \sum_k \mathbf{x}_{u,k}^\top \mathbf{x}_{i,k}`; the ranking tables have
    one chunk per intent. Training adds :math:`\lambda_c` times the distance correlation of
    neighbouring intents :math:`(k, k+1)` over the final embeddings of the batch's first
    :data:`MAX_ROWS` users and positive items (stacked), as the authors' code does. The
    gradient flows through the routing, as in the authors' code. With :math:`T = 1` a layer
    is LightGCN's: every :math:`S_k = 1/K`, so every weight is :math:`1/\sqrt{d_h d_t}`.

    Deviations from the authors' code: the independence term reads rows of the batch, not a
    separate uniform sample of users and items, and averages over the :math:`K - 1` pairs
    (the code divides their sum by :math:`K(K+1)/2`, 3/10 of the mean at :math:`K = 4`); the
    objective is the harness's BPR over every negative (averaged; the paper draws one) plus
    L2 on the ego embeddings a batch touches (the paper's form); message passing is plain
    gather / scatter (``torch_geometric.utils.scatter``) instead of sparse incidence
    products, with the same sums; duplicate training edges count twice.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        embedding_dim (int): width :math:`D`; a multiple of ``num_factors``.
            (default: :obj:`64`)
        num_factors (int): intents :math:`K`. (default: :obj:`4`)
        num_layers (int): layers :math:`L`. (default: :obj:`1`)
        num_iterations (int): routing iterations :math:`T` per layer. (default: :obj:`2`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-3`)
        cor_weight (float): :math:`\lambda_c`, weight of the independence term.
            (default: :obj:`1e-2`)

    Shapes:
        - :meth:`propagate`: a graph → ``[U + I, K, d]``
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_factors: int = 4, num_layers: int = 1, num_iterations: int = 2,
                 l2: float = 1e-3, cor_weight: float = 1e-2):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim, num_factors=num_factors,
                    num_iterations=num_iterations)
        if num_layers < 0:
            raise ConfigError(f'num_layers must be >= 0 (got {num_layers})')
        if embedding_dim % num_factors:
            raise ConfigError(f'embedding_dim must be a multiple of num_factors (got '
                              f'{embedding_dim} and {num_factors})')
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.score_chunks = int(num_factors)
        self.num_layers, self.num_iterations = int(num_layers), int(num_iterations)
        self.l2, self.cor_weight = float(l2), float(cor_weight)
        self.embedding = nn.Embedding(self.num_users + self.num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.embedding.weight)

    @classmethod
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'DGCF':
        return cls(graph.num_users, graph.num_items, **kwargs)

    def propagate(self, graph: TrainGraph) -> Tensor:
        """Final intent embeddings of every node (users, then items)."""
        tail, head = graph.cached('homogeneous_edges', lambda: to_homogeneous_edges(
            graph.edge_index, graph.num_users))
        num_nodes = self.num_users + self.num_items
        x = self.embedding.weight.view(num_nodes, self.score_chunks, -1)
        logits = x.new_ones(head.numel(), self.score_chunks)
        layers = [x]
        for _ in range(self.num_layers):
            x_tail = x[tail]                                                  # [E, K, d]
            for _ in range(self.num_iterations):
                weight = routing_weights(logits, head, tail, num_nodes)
                out = scatter(x_tail * weight.unsqueeze(-1), head, dim=0, dim_size=num_nodes,
                              reduce='sum')                                   # [N, K, d]
                fit = F.normalize(out[head], dim=-1) * torch.tanh(F.normalize(x_tail, dim=-1))
                logits = logits + fit.sum(dim=-1)
            x = out
            layers.append(x)
        return torch.stack(layers).mean(dim=0)

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        out = self.propagate(graph).flatten(1)
        ego = self.embedding.weight
        item_nodes = batch.item_id + self.num_users
        return (out[batch.user_id], out[item_nodes], [ego[batch.user_id]], [ego[item_nodes]])

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        out = self.propagate(graph).flatten(1)
        return out[:self.num_users], out[self.num_users:]

    def auxiliary_terms(self, batch: TripletBatch, graph: TrainGraph, user: Tensor,
                        item: Tensor) -> dict[str, Tensor]:
        """``{'cor'}``: :math:`\\lambda_c` times the mean distance correlation of neighbouring
        intents (see the class docstring)."""
        rows = torch.cat([user[:MAX_ROWS], item[batch.pos_index[:MAX_ROWS]]])
        factors = rows.unflatten(-1, (self.score_chunks, -1))
        return {'cor': self.cor_weight * factor_correlation(factors, 'adjacent')}
