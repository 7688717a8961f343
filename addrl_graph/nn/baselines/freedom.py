r"""FREEDOM (Zhou & Shen, ACM MM 2023): a frozen item–item graph from the item features and a
degree-sensitively pruned user–item graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.data.schema import INTERACTS, REV_INTERACTS
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, batch_bpr, check_sizes, project_features
from addrl_graph.nn.encoders.lightgcn import lightgcn_adjacency
from addrl_graph.nn.sparse import (layer_weights, lightgcn_propagate, normalized_adjacency,
                                   sparse_csr)

#: Item rows whose similarities to every item are computed at once for the kNN graph.
SIMILARITY_BLOCK = 1024


def knn_edges(x: Tensor, has: Tensor, k: int) -> Tensor:
    """``[2, E]`` edges (item, neighbour) from every item that has the modality to its ``k``
    most cosine-similar items that have it (itself included), in blocks of
    :data:`SIMILARITY_BLOCK` rows.

    Shapes:
        - **x** :math:`[I, d_m]`, **has** :math:`[I]` → :math:`[2, |has| \\cdot k]`
    """
    rows = has.nonzero().view(-1)
    k = min(k, rows.numel())
    unit = F.normalize(x[rows].float(), dim=-1)
    blocks = [(unit[start:start + SIMILARITY_BLOCK] @ unit.t()).topk(k, dim=-1).indices
              for start in range(0, rows.numel(), SIMILARITY_BLOCK)]
    neighbours = rows[torch.cat(blocks)] if blocks else rows.new_zeros(0, k)
    return torch.stack([rows.repeat_interleave(k), neighbours.reshape(-1)])


def item_item_adjacency(graph: TrainGraph, k: int, image_weight: float) -> Tensor:
    r"""FREEDOM's frozen ``[I, I]`` CSR item–item matrix
    :math:`w_v \hat{S}^v + (1 - w_v) \hat{S}^t`: per modality the kNN graph of
    :func:`knn_edges` with every edge weighted :math:`1/k` (the normalised Laplacian of a graph
    whose rows all hold :math:`k` entries); a modality the graph lacks is left out and the
    other weighs 1. Memoised on the graph."""
    def build() -> Tensor:
        present = [(x, has, w) for x, has, w in ((graph.x_image, graph.has_image, image_weight),
                                                 (graph.x_text, graph.has_text, 1 - image_weight))
                   if x.size(1)]
        index, value = [], []
        for x, has, weight in present:
            edges = knn_edges(x, has, k)
            share = 1.0 if len(present) == 1 else weight
            index.append(edges)
            value.append(edges.new_full((edges.size(1),), share / max(1, min(k, int(has.sum()))),
                                        dtype=torch.float))
        return sparse_csr(torch.cat(index, dim=1), torch.cat(value), graph.num_items)
    return graph.cached(('freedom_item_graph', k, image_weight), build)


def pruned_adjacency(graph: TrainGraph, dropout: float) -> Tensor:
    r"""Degree-sensitive edge pruning: the ``[U + I, U + I]`` normalised adjacency
    (:func:`~addrl_graph.nn.sparse.normalized_adjacency`) of
    :math:`\lfloor E (1 - \rho) \rfloor` training edges drawn without replacement with
    probability :math:`\propto 1 / \sqrt{d_u d_i}` (degrees of the whole training graph,
    memoised on it). Every call draws anew, from the global torch generator."""
    edges = graph.edge_index
    keep = int(edges.size(1) * (1 - dropout))
    if keep < 1:
        return normalized_adjacency(edges[:, :0], graph.num_users, graph.num_items)
    weight = graph.cached('freedom_edge_weights', lambda: (
        graph.in_degree(REV_INTERACTS)[edges[0]] * graph.in_degree(INTERACTS)[edges[1]]).rsqrt())
    chosen = torch.multinomial(weight, keep)
    return normalized_adjacency(edges[:, chosen], graph.num_users, graph.num_items)


class FREEDOM(DotRanker):
    r"""FREEDOM from the `"A Tale of Two Graphs: Freezing and Denoising Graph Structures for
    Multimodal Recommendation" <https://arxiv.org/abs/2211.06924>`_ paper. LightGCN over the
    user–item graph (the mean of the :math:`L + 1` layer outputs), plus the item ID embeddings
    propagated :math:`L_m` times over the frozen item–item graph :math:`S`
    (:func:`item_item_adjacency`, from the text and image features):

    .. math::
        [\mathbf{h}_u; \mathbf{h}_i] = \tfrac{1}{L + 1} \textstyle\sum_{l=0}^{L}
        \tilde{A}^l \mathbf{e}, \qquad
        s(u, i) = \mathbf{h}_u^\top (\mathbf{h}_i + S^{L_m} \mathbf{e}_i).

    While training, :math:`\tilde{A}` is the normalised adjacency of a degree-sensitively
    pruned edge set (:func:`pruned_adjacency`, ratio :math:`\rho`); the ranking tables always
    use the whole training graph. The features enter the score only through :math:`S`;
    training adds, per modality :math:`m`, :math:`\lambda_a` times the BPR term of the user
    embeddings :math:`\mathbf{h}_u` against the projected features
    :math:`\mathbf{W}_m \mathbf{f}^m_i + \mathbf{b}_m` of the batch's items.

    Deviations from the authors' code (MMRec): the pruned graph is drawn anew at every
    training step, not once per epoch (the harness has no epoch hook); the raw features are
    fixed inputs, L2-normalised per modality before the projection (MMRec fine-tunes them as
    embeddings inside the alignment term), and a missing modality's features and projections
    are zeros; items without a modality have no neighbours in its kNN graph; BPR averages over
    every negative (MMRec draws one); an optional L2 term on the ego embeddings (off by
    default, as in the paper).

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        text_dim (int): width :math:`d_t` of the text features (0: none).
        image_dim (int): width :math:`d_v` of the image features (0: none).
        embedding_dim (int): width :math:`D`. (default: :obj:`64`)
        num_layers (int): user–item layers :math:`L`. (default: :obj:`2`)
        mm_layers (int): item–item layers :math:`L_m`. (default: :obj:`1`)
        knn_k (int): neighbours per item in each modality's kNN graph. (default: :obj:`10`)
        image_weight (float): :math:`w_v`, the image graph's share of :math:`S`.
            (default: :obj:`0.1`)
        edge_dropout (float): :math:`\rho`, the share of training edges pruned per step.
            (default: :obj:`0.8`)
        align_weight (float): :math:`\lambda_a`. (default: :obj:`1e-4`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`0.0`)
        feature_norm (bool): L2-normalise each modality's raw feature rows.
            (default: :obj:`True`)

    Shapes:
        - :meth:`propagate`: a graph and ``[U + I, U + I]`` adjacency → ``[U, D]``, ``[I, D]``
    """
    def __init__(self, num_users: int, num_items: int, text_dim: int, image_dim: int,
                 embedding_dim: int = 64, num_layers: int = 2, mm_layers: int = 1,
                 knn_k: int = 10, image_weight: float = 0.1, edge_dropout: float = 0.8,
                 align_weight: float = 1e-4, l2: float = 0.0, feature_norm: bool = True):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim, knn_k=knn_k)
        if text_dim < 0 or image_dim < 0 or text_dim + image_dim == 0:
            raise ConfigError(f'FREEDOM needs text or image features (got text_dim={text_dim}, '
                              f'image_dim={image_dim}); use lightgcn for a graph without them')
        if num_layers < 0 or mm_layers < 0:
            raise ConfigError(f'num_layers and mm_layers must be >= 0 (got {num_layers} and '
                              f'{mm_layers})')
        if not (0 <= image_weight <= 1 and 0 <= edge_dropout < 1):
            raise ConfigError(f'image_weight must be in [0, 1] and edge_dropout in [0, 1) '
                              f'(got {image_weight} and {edge_dropout})')
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.mm_layers, self.knn_k = int(mm_layers), int(knn_k)
        self.image_weight, self.edge_dropout = float(image_weight), float(edge_dropout)
        self.l2, self.align_weight, self.feature_norm = float(l2), float(align_weight), feature_norm
        self.user_embedding = nn.Embedding(self.num_users, embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, embedding_dim)
        self.text_proj = nn.Linear(text_dim, embedding_dim) if text_dim else None
        self.image_proj = nn.Linear(image_dim, embedding_dim) if image_dim else None
        self.register_buffer('alpha', layer_weights(num_layers), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        for proj in (self.text_proj, self.image_proj):
            if proj is not None:
                proj.reset_parameters()

    @classmethod
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'FREEDOM':
        """Feature widths from the graph's ``x_text`` and ``x_image``."""
        return cls(graph.num_users, graph.num_items, graph.x_text.size(1),
                   graph.x_image.size(1), **kwargs)

    def propagate(self, graph: TrainGraph, adj: Tensor) -> tuple[Tensor, Tensor]:
        """:math:`\\mathbf{h}_u` of every user and :math:`\\mathbf{h}_i + S^{L_m}
        \\mathbf{e}_i` of every item, over the user–item adjacency ``adj``."""
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = lightgcn_propagate(adj, ego, self.alpha)
        item_graph = item_item_adjacency(graph, self.knn_k, self.image_weight)
        h = self.item_embedding.weight
        for _ in range(self.mm_layers):
            h = torch.sparse.mm(item_graph, h)
        return out[:self.num_users], out[self.num_users:] + h

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        prune = self.training and self.edge_dropout > 0
        adj = pruned_adjacency(graph, self.edge_dropout) if prune else lightgcn_adjacency(graph)
        user, item = self.propagate(graph, adj)
        return (user[batch.user_id], item[batch.item_id], [self.user_embedding(batch.user_id)],
                [self.item_embedding(batch.item_id)])

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        return self.propagate(graph, lightgcn_adjacency(graph))

    def auxiliary_terms(self, batch: TripletBatch, graph: TrainGraph, user: Tensor,
                        item: Tensor) -> dict[str, Tensor]:
        """``{'align'}``: :math:`\\lambda_a` times the BPR terms of the users against each
        modality's projected item features."""
        terms = [batch_bpr(batch, user, project_features(proj, x, has, self.feature_norm))
                 for proj, x, has in ((self.text_proj, batch.x_text, batch.has_text),
                                      (self.image_proj, batch.x_image, batch.has_image))
                 if proj is not None]
        return {'align': self.align_weight * sum(terms)}
