r"""AD-DRL: attribute-driven disentangled multimodal representations (Li et al., ACM MM 2024).

Every user and item is a stack of :math:`K` chunks of width :math:`d`; chunk :math:`k < A`
belongs to attribute :math:`k` (in the column order of ``item.attr``), the remaining
``free_chunks`` to no attribute (the paper's "others"). The ID chunks come from an ID encoder
(:mod:`addrl_graph.nn.encoders`), an item's views are fused per chunk by attention
(:mod:`addrl_graph.nn.views`, Eq. 8-9), and a user scores an item chunk by chunk (Eq. 11):

.. math::
    s(u, i) = \sum_{k=1}^{K} \mathrm{softplus}\left(\langle \mathbf{v}_u^k,
    \mathbf{v}_y^k \rangle\right).

The graph is an input: ``model(batch, graph)`` is one training step's loss (Eq. 13,
:mod:`addrl_graph.nn.losses`), ``model.tables(graph)`` the ranking tables
(:class:`~addrl_graph.nn.scoring.ChunkTables`).

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``M`` items in a batch, ``N`` negatives
per positive, ``K`` chunks, ``d`` chunk width, ``A`` attributes, ``V_a`` values of attribute a.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.encoders import (ATTRIBUTE_ENCODERS, ChunkEncoder, ChunkSizes,
                                     build_encoder)
from addrl_graph.nn.hub import HubMixin
from addrl_graph.nn.losses import addrl_loss
from addrl_graph.nn.scoring import ChunkTables
from addrl_graph.nn.views import ItemChunks, ItemViews

log = logging.getLogger(__name__)


class ADDRL(HubMixin, nn.Module):
    r"""The AD-DRL model of `"Attribute-Driven Disentangled Representation Learning for
    Multimodal Recommendation" <https://arxiv.org/abs/2312.14433>`_.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        attribute_names (list[str]): attribute of chunk :math:`k`, in ``item.attr`` column order.
        num_values (list[int]): number of values :math:`V_a` of each attribute.
        text_dim (int): raw text feature width :math:`d_t` (0: no text modality).
        image_dim (int): raw image feature width :math:`d_v` (0: no image modality).
        config (ModelConfig, optional): hyper-parameters; :obj:`None` for the defaults.
        id_encoder (ChunkEncoder, optional): where the ID chunks come from; :obj:`None` builds
            ``config.encoder`` (:func:`~addrl_graph.nn.encoders.build_encoder`).

    Shapes:
        - **forward**: a :class:`~addrl_graph.loader.batch.TripletBatch` of ``B`` triplets and a
          graph → scalar loss and its terms
        - :meth:`id_chunks`: → ``[B, K, d]``, ``[M, K, d]``
        - :meth:`chunk_scores`: ``[B, K, d]``, ``[B, ..., K, d]`` → ``[B, ..., K]``
        - :meth:`chunks`: a graph → ``[U, K, d]`` and every item's views (``[I, K, d]``)
        - :meth:`tables`: → ``[U, K, d]``, ``[I, K, d]`` (and ``[I, K, 3]`` fusion weights)
    """
    #: Per-chunk activation of Eq. 11.
    chunk_activation = 'softplus'

    def __init__(self, num_users: int, num_items: int, attribute_names: list[str],
                 num_values: list[int], text_dim: int, image_dim: int,
                 config: ModelConfig | None = None, id_encoder: ChunkEncoder | None = None):
        super().__init__()
        self.config = config = config if config is not None else ModelConfig()
        _check_attributes(attribute_names, num_values, config.free_chunks)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.attribute_names = list(attribute_names)
        self.num_values = [int(v) for v in num_values]
        self.num_chunks = K = len(self.attribute_names) + config.free_chunks
        self.d_chunk = d = config.d_chunk
        sizes = ChunkSizes(self.num_users, self.num_items, K, d, tuple(self.attribute_names),
                           tuple(self.num_values))
        self.id_encoder = id_encoder if id_encoder is not None else build_encoder(
            config.encoder, sizes)
        if self.id_encoder.sizes != sizes:
            raise ConfigError(f'the id_encoder was built for {self.id_encoder.sizes}, the model '
                              f'needs {sizes}')
        self.views = ItemViews(K, d, text_dim, image_dim, config.views)
        # Eq. 3-5 chunk-index classifiers, one per view (user ID, item ID, text, image).
        self.intra_heads = (nn.ModuleDict({m: nn.Linear(d, K)
                                           for m in ['user'] + self.views.modalities})
                            if config.use_intra else None)
        # Eq. 10 attribute-value classifiers on the fused chunk of each attribute.
        self.low_heads = (nn.ModuleDict({a: nn.Linear(d, v) for a, v in
                                         zip(self.attribute_names, self.num_values)})
                          if config.use_low and self.attribute_names else None)
        self.reset_parameters()
        log.debug('ADDRL: K=%d chunks of d=%d, modalities=%s', K, d, self.views.modalities)

    @classmethod
    def from_graph(cls, graph: TrainGraph, config: ModelConfig | None = None,
                   id_encoder: ChunkEncoder | None = None) -> 'ADDRL':
        """Size the model for a training graph."""
        return cls(graph.num_users, graph.num_items, graph.attribute_names, graph.num_values,
                   graph.x_text.size(1), graph.x_image.size(1), config, id_encoder)

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (paper, Sec. 4.1.3), zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def batch_needs(self) -> dict[str, Any]:
        """What the trainer's loader must put in a batch: ``sampled_graph`` (the model can read
        a sampled neighbourhood), ``hops`` (its depth, one fan-out per encoder layer),
        ``attribute_neighbors`` (with attribute-value nodes)."""
        return {'sampled_graph': self.id_encoder.propagates,
                'hops': getattr(self.id_encoder, 'num_layers', 0),
                'attribute_neighbors': self.config.id_encoder in ATTRIBUTE_ENCODERS}

    def embedding_tables(self) -> list[nn.Embedding]:
        """The tables a step reads by row (sparse updates apply to them)."""
        return [self.id_encoder.user_embedding, self.id_encoder.item_embedding]

    # ------------------------------------------------------------------ training
    def id_chunks(self, batch: TripletBatch, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        """ID chunks of the batch's users ``[B, K, d]`` and items ``[M, K, d]``: propagated on
        the batch's sampled graph when it carries one, else over ``graph``; an encoder that
        does not propagate reads the batch's rows (``id_encoder.rows``)."""
        sub = batch.graph
        if sub is None and not self.id_encoder.propagates:
            return self.id_encoder.rows(batch.user_id, batch.item_id)
        users, items = self.id_encoder(graph if sub is None else sub)
        if sub is None:
            return users[batch.user_id], items[batch.item_id]
        return users[sub.locate('user', batch.user_id)], items[sub.locate('item', batch.item_id)]

    def forward(self, batch: TripletBatch, graph: TrainGraph) -> tuple[Tensor, dict[str, float]]:
        """One step's objective (Eq. 13): ``(total, {term: value})``."""
        user, ids = self.id_chunks(batch, graph)
        items = self.views(ids, batch.x_text, batch.x_image, batch.has_text, batch.has_image)
        return addrl_loss(self, user, items, batch)

    def chunk_scores(self, user: Tensor, item: Tensor) -> Tensor:
        """Eq. 11 per chunk: :math:`\\mathrm{softplus}(\\langle \\mathbf{v}_u^k,
        \\mathbf{v}_y^k\\rangle)`, broadcast over any middle axes (e.g. negatives); the user
        chunks are L2-normalised first when ``config.chunk_norm``.

        Shapes:
            - **user** ``[B, K, d]``, **item** ``[B, ..., K, d]`` → ``[B, ..., K]``
        """
        if self.config.chunk_norm:
            user = F.normalize(user, p=2, dim=-1)
        user = user[(slice(None),) + (None,) * (item.dim() - 3)]          # [B, 1.., K, d]
        return F.softplus((user * item).sum(dim=-1))

    # ------------------------------------------------------------------ ranking
    def _item_blocks(self, graph: TrainGraph, ids: Tensor, batch_size: int):
        """The views of ``batch_size`` items at a time (:class:`ItemChunks` per block)."""
        for start in range(0, self.num_items, batch_size):
            yield self.views(ids[start:start + batch_size],
                             *graph.item_features(slice(start, start + batch_size)))

    @torch.no_grad()
    def chunks(self, graph: TrainGraph, batch_size: int = 4096) -> tuple[Tensor, ItemChunks]:
        """The ID chunks of every user ``[U, K, d]`` and every view of every item, without
        gradients, ``batch_size`` items a step."""
        users, ids = self.id_encoder(graph)
        parts = list(self._item_blocks(graph, ids, batch_size))
        items = ItemChunks(*(None if getattr(parts[0], f) is None
                             else torch.cat([getattr(p, f) for p in parts])
                             for f in ('id', 'text', 'image', 'fused', 'weights', 'present')))
        # a view of a parameter (the embedding encoder's) keeps requires_grad under no_grad
        return users.detach(), items

    @torch.no_grad()
    def tables(self, graph: TrainGraph, batch_size: int = 4096) -> ChunkTables:
        """Ranking tables: user chunks (L2-normalised when ``config.chunk_norm``), fused item
        chunks and their Eq. 8 fusion weights (the other views of a block are dropped as soon
        as it is fused)."""
        users, ids = self.id_encoder(graph)
        fused, weights = zip(*((p.fused, p.weights)
                               for p in self._item_blocks(graph, ids, batch_size)))
        users = users.detach()
        if self.config.chunk_norm:
            users = F.normalize(users, p=2, dim=-1)
        return ChunkTables(users, torch.cat(fused), self.chunk_activation, torch.cat(weights))


def _check_attributes(names: list[str], num_values: list[int], free_chunks: int) -> None:
    if len(names) != len(num_values):
        raise ConfigError(f'attribute_names and num_values must have the same length '
                          f'(got {len(names)} and {len(num_values)})')
    if len(set(names)) != len(names):
        raise ConfigError(f'attribute names must be unique (got {list(names)})')
    reserved = set(dir(nn.ModuleDict()))
    for name, count in zip(names, num_values):
        if not isinstance(name, str) or not name or '.' in name or name in reserved:
            raise ConfigError(f'attribute name must be a non-empty string without "." that is '
                              f'not an nn.ModuleDict attribute; rename it in meta.json '
                              f'(got {name!r})')
        if int(count) < 1:
            raise ConfigError(f'attribute {name!r} needs at least one value (got {count})')
    if len(names) + free_chunks < 1:
        raise ConfigError('the model needs at least one chunk: give attributes or '
                          f'free_chunks >= 1 (got 0 attributes and free_chunks={free_chunks})')
