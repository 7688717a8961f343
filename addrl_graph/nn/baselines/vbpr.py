r"""Visual BPR (He & McAuley, AAAI 2016) on the items' image and text features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, check_sizes

#: Items whose vectors are computed at once for the ranking tables.
ITEM_BATCH = 4096


class VBPR(DotRanker):
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
    \mathbf{f}_i, b_i]`, so :math:`D = \text{embedding\_dim} + \text{feature\_dim} + 2`. The
    L2 term covers :math:`\boldsymbol{\gamma}_u, \boldsymbol{\theta}_u,
    \boldsymbol{\gamma}_i, b_i`; :math:`\mathbf{E}` and :math:`\boldsymbol{\beta}'` are left to
    the optimiser.

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
            AD-DRL does by default). (default: :obj:`True`)
    """
    def __init__(self, num_users: int, num_items: int, text_dim: int, image_dim: int,
                 embedding_dim: int = 32, feature_dim: int = 32, l2: float = 1e-4,
                 feature_norm: bool = True):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim, feature_dim=feature_dim)
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
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'VBPR':
        """Feature widths from the graph's ``x_text`` and ``x_image``."""
        return cls(graph.num_users, graph.num_items, graph.x_text.size(1),
                   graph.x_image.size(1), **kwargs)

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

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        user = self._user_vectors(batch.user_id)
        item = self._item_vectors(batch.item_id, batch.x_text, batch.x_image, batch.has_text,
                                  batch.has_image)
        return (user, item, [self.user_gamma(batch.user_id), self.user_theta(batch.user_id)],
                [self.item_gamma(batch.item_id), self.item_bias(batch.item_id)])

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        device = self.item_gamma.weight.device
        rows = [self._item_vectors(torch.arange(start, min(start + ITEM_BATCH, self.num_items),
                                                device=device),
                                   *graph.item_features(slice(start, start + ITEM_BATCH)))
                for start in range(0, self.num_items, ITEM_BATCH)]
        users = torch.arange(self.num_users, device=device)
        return self._user_vectors(users), torch.cat(rows)
