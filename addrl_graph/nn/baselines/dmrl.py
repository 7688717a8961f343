r"""DMRL (Liu et al., IEEE TMM 2022): disentangled factors per modality, weighted per user."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, check_sizes, project_features
from addrl_graph.nn.baselines.independence import MAX_ROWS, factor_correlation

#: Hidden width of the two-layer feature networks (Cornac's DMRL).
FEATURE_HIDDEN = 150


def feature_network(in_dim: int, out_dim: int) -> nn.Sequential:
    """Raw features ``[M, in_dim]`` → ``[M, out_dim]``: two linear layers, each followed by a
    leaky ReLU."""
    return nn.Sequential(nn.Linear(in_dim, FEATURE_HIDDEN), nn.LeakyReLU(),
                         nn.Linear(FEATURE_HIDDEN, out_dim), nn.LeakyReLU())


class DMRL(DotRanker):
    r"""DMRL from the `"Disentangled Multimodal Representation Learning for Recommendation"
    <https://arxiv.org/abs/2203.05406>`_ paper. Users, item IDs and the item's text and image
    features (through :func:`feature_network`) each give :math:`K` factors of width
    :math:`d = D / K`; a weight-shared attention network gives every user, per factor, a
    weight for each modality :math:`m` (ID, text, image), and

    .. math::
        \boldsymbol{\alpha}_{u,k} = \mathrm{softmax}\big(\mathbf{W}_2
        \tanh(\mathbf{W}_1 \mathbf{u}_k + \mathbf{b}_1)\big), \qquad
        s(u, i) = \sum_k s_k(u, i) = \sum_k \sum_m \alpha_{u,k,m}\,
        \mathbf{u}_k^\top \mathbf{x}^m_{i,k}.

    Training adds :math:`\lambda_c` times the distance correlation between the factors
    (:mod:`~addrl_graph.nn.baselines.independence`, every pair :math:`k < k'`), averaged over
    the user, item-ID, text and image factors of the batch's first :data:`MAX_ROWS`
    triplets (users and positives; text and image rows of items that have them).

    The ranking tables have :math:`K` chunks, one per factor: chunk :math:`k` of a user is
    :math:`[\alpha_{u,k,m} \mathbf{u}_k]_m` and of an item :math:`[\mathbf{x}^m_{i,k}]_m`,
    so a chunk's dot product is the factor score :math:`s_k(u, i)`.

    Deviations from the paper, all so that a score is a dot product of a user row and an item
    row (what :class:`~addrl_graph.nn.scoring.ChunkTables` ranks all items with): the attention
    reads the user's factor :math:`\mathbf{u}_k` only, where DMRL's (as Cornac implements it)
    reads :math:`[\mathbf{u}_k; \mathbf{x}^{id}_{i,k}; \mathbf{x}^t_{i,k}; \mathbf{x}^v_{i,k}]`,
    so the weights are per user and factor, not per user–item pair (and the tables carry no
    ``item_weights``: the weights sit on the user side); each modality score is the plain dot
    product, without DMRL's softplus. Also: the objective is the harness's
    BPR over every negative (averaged) plus L2 on the user and item-ID embeddings a batch
    touches, where Cornac's DMRL uses the hardest negative and weight decay on all parameters;
    the independence term averages over factor pairs and views (Cornac sums the pairs and
    divides by :math:`K(K+1)/2`); raw features are L2-normalised per modality first, and a
    missing modality's factors are zeros, so it adds nothing to the score.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        text_dim (int): width :math:`d_t` of the text features (0: none).
        image_dim (int): width :math:`d_v` of the image features (0: none).
        embedding_dim (int): width :math:`D` of all :math:`K` factors together; a multiple of
            ``num_factors``. (default: :obj:`128`)
        num_factors (int): :math:`K`. (default: :obj:`4`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-2`)
        cor_weight (float): :math:`\lambda_c`, weight of the independence term.
            (default: :obj:`1e-3`)
        feature_norm (bool): L2-normalise each modality's raw feature rows.
            (default: :obj:`True`)

    Shapes:
        - :meth:`user_vectors`: ``[B]`` → ``[B, K * V * d]``; :meth:`item_vectors`: ``[M]``
          item ids and their features → ``[M, K * V * d]`` (``V`` views: ID, and text and
          image where the graph has them)
    """
    def __init__(self, num_users: int, num_items: int, text_dim: int, image_dim: int,
                 embedding_dim: int = 128, num_factors: int = 4, l2: float = 1e-2,
                 cor_weight: float = 1e-3, feature_norm: bool = True):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim, num_factors=num_factors)
        if text_dim < 0 or image_dim < 0 or text_dim + image_dim == 0:
            raise ConfigError(f'DMRL needs text or image features (got text_dim={text_dim}, '
                              f'image_dim={image_dim}); use bpr-mf for a graph without them')
        if embedding_dim % num_factors:
            raise ConfigError(f'embedding_dim must be a multiple of num_factors (got '
                              f'{embedding_dim} and {num_factors})')
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.score_chunks = int(num_factors)
        self.l2, self.cor_weight, self.feature_norm = float(l2), float(cor_weight), feature_norm
        self.user_embedding = nn.Embedding(self.num_users, embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, embedding_dim)
        self.text_net = feature_network(text_dim, embedding_dim) if text_dim else None
        self.image_net = feature_network(image_dim, embedding_dim) if image_dim else None
        self.num_views = 1 + (text_dim > 0) + (image_dim > 0)
        d = embedding_dim // num_factors
        self.attention = nn.Sequential(nn.Linear(d, self.num_views), nn.Tanh(),
                                       nn.Linear(self.num_views, self.num_views,
                                                 bias=False), nn.Softmax(dim=-1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_embedding.weight)
        nn.init.xavier_normal_(self.item_embedding.weight)
        for net in (self.text_net, self.image_net, self.attention):
            for layer in (net or []):
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    @classmethod
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'DMRL':
        """Feature widths from the graph's ``x_text`` and ``x_image``."""
        return cls(graph.num_users, graph.num_items, graph.x_text.size(1),
                   graph.x_image.size(1), **kwargs)

    def user_factors(self, user_id: Tensor) -> Tensor:
        """``[B, K, d]`` factors of users ``user_id``."""
        return self.user_embedding(user_id).unflatten(-1, (self.score_chunks, -1))

    def user_vectors(self, user_id: Tensor) -> Tensor:
        factors = self.user_factors(user_id)
        alpha = self.attention(factors)                                   # [B, K, V]
        return (alpha.unsqueeze(-1) * factors.unsqueeze(2)).flatten(1)    # [B, K, V, d]

    def item_vectors(self, item_id: Tensor, x_text: Tensor, x_image: Tensor, has_text: Tensor,
                     has_image: Tensor) -> Tensor:
        views = [self.item_embedding(item_id)]
        for net, x, has in ((self.text_net, x_text, has_text),
                            (self.image_net, x_image, has_image)):
            if net is not None:
                views.append(project_features(net, x, has, self.feature_norm))
        return torch.stack([v.unflatten(-1, (self.score_chunks, -1)) for v in views],
                           dim=2).flatten(1)

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        item = self.item_vectors(batch.item_id, batch.x_text, batch.x_image, batch.has_text,
                                 batch.has_image)
        return (self.user_vectors(batch.user_id), item,
                [self.user_embedding(batch.user_id)], [self.item_embedding(batch.item_id)])

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        device = self.user_embedding.weight.device
        users = torch.arange(self.num_users, device=device)
        items = torch.arange(self.num_items, device=device)
        return self.user_vectors(users), self.item_vectors(items, *graph.item_features(items))

    def auxiliary_terms(self, batch: TripletBatch, graph: TrainGraph, user: Tensor,
                        item: Tensor) -> dict[str, Tensor]:
        """``{'cor'}``: :math:`\\lambda_c` times the mean factor distance correlation of the
        user, item-ID, text and image views (see the class docstring)."""
        rows = batch.pos_index[:MAX_ROWS]
        views = item[rows].unflatten(-1, (self.score_chunks, self.num_views, -1))
        masks = [None] + [has[rows] for net, has in ((self.text_net, batch.has_text),
                                                     (self.image_net, batch.has_image))
                          if net is not None]
        parts = [self.user_factors(batch.user_id[:MAX_ROWS])]
        parts += [views[:, :, m] if mask is None else views[mask, :, m]
                  for m, mask in enumerate(masks)]
        cor = sum(factor_correlation(p, 'all') for p in parts) / len(parts)
        return {'cor': self.cor_weight * cor}
