r"""AD-DRL: attribute-driven disentangled multimodal representations (Li et al., ACM MM 2024).

Every user and item is a stack of :math:`K` chunks of width :math:`d`; chunk :math:`k < A`
belongs to attribute :math:`k` (in the column order of ``item.attr``), the remaining
``free_chunks`` to no attribute (the paper's "others"). An item has up to three views of its
chunks (ID embedding, text, image), fused per chunk by attention (Eq. 8-9), and a user scores
an item chunk by chunk (Eq. 11):

.. math::
    s(u, i) = \sum_{k=1}^{K} \mathrm{softplus}\left(\langle \mathbf{v}_u^k,
    \mathbf{v}_y^k \rangle\right).

The fused item chunks do not depend on the user, so :meth:`ADDRL.item_table` computes them once
for ranking. The losses (Eq. 3-7, 10, 12-13) live in :mod:`addrl_graph.nn.losses`.

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``M`` items in a batch, ``N`` negatives
per positive, ``K`` chunks, ``d`` chunk width, ``A`` attributes, ``V_a`` values of attribute a.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import TRAIN, split_edges
from addrl_graph.data.schema import attribute_names as meta_attribute_names
from addrl_graph.nn.encoders import build_encoder
from addrl_graph.errors import ConfigError

log = logging.getLogger(__name__)

#: Column order of the fusion weights returned by :meth:`ADDRL.item_chunks`.
MODALITIES = ('id', 'text', 'image')

_ACTIVATIONS = {
    'leaky_relu': lambda x: F.leaky_relu(x, negative_slope=0.2),
    'tanh': torch.tanh,
    'sigmoid': torch.sigmoid,
    'none': lambda x: x,
}


@dataclass
class ItemChunks:
    """The chunked views of ``M`` items and their fusion.

    Attributes:
        id: ``[M, K, d]`` item ID chunks (Eq. 2).
        text: ``[M, K, d]`` projected text chunks (Eq. 1-2), or ``None`` when the model has no
            text modality. Rows of items without text are zero.
        image: ``[M, K, d]`` projected image chunks, or ``None``; rows without image are zero.
        fused: ``[M, K, d]`` fused chunks :math:`\\mathbf{v}_y^k` (Eq. 9).
        weights: ``[M, K, 3]`` attention over (ID, text, image) (Eq. 8); 0 for a modality the
            item or the model lacks.
        present: ``[M, 3]`` bool, which of (ID, text, image) each item has.
    """
    id: Tensor
    text: Tensor | None
    image: Tensor | None
    fused: Tensor
    weights: Tensor
    present: Tensor


class ADDRL(nn.Module):
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
        train_edge_index (torch.Tensor, optional): ``[2, E]`` training user → item edges, needed
            by a graph ``config.id_encoder`` (:meth:`from_graph` passes them).
        item_attr (torch.Tensor, optional): ``[I, A]`` attribute values of the items, needed by
            the ``gcn`` and ``sage`` encoders.

    The ID chunks are the ego embeddings ``user_embedding`` / ``item_embedding`` passed through
    ``self.encoder`` (:mod:`addrl_graph.nn.encoders`; the identity for ``'embedding'``). A graph
    encoder runs on the whole graph: :meth:`user_chunks` propagates (when gradients are on) and
    caches the tables, :meth:`item_chunks` reuses them while no parameter has changed, so one
    training step propagates once and one evaluation propagates once. Given a batch's
    :class:`~addrl_graph.loader.batch.SampledGraph` (mini-batch training with neighbour sampling) both
    compute the ID chunks of the batch's users and items on that sub-graph instead, once per
    step as well; ranking and explanations (:meth:`item_table`, :meth:`user_table`) always use
    the whole graph.

    Shapes:
        - :meth:`user_chunks`: ``[B]`` → ``[B, K, d]``
        - :meth:`item_chunks`: ``[M]``, ``[M, d_t]``, ``[M, d_v]``, ``[M]``, ``[M]`` →
          :class:`ItemChunks`
        - :meth:`id_tables`: → ``[U, K, d]``, ``[I, K, d]`` (the sampled graph's nodes when
          given one)
        - :meth:`chunk_scores`: ``[B, K, d]``, ``[B, ..., K, d]`` → ``[B, ..., K]``
        - :meth:`item_table`: → ``[I, K, d]``; :meth:`user_table`: ``[B]`` → ``[B, K, d]``
    """
    #: Per-chunk activation of Eq. 11: ``s(u, i) = sum_k softplus(user_table · item_table)``.
    chunk_activation = 'softplus'

    def __init__(self, num_users: int, num_items: int, attribute_names: list[str],
                 num_values: list[int], text_dim: int, image_dim: int,
                 config: ModelConfig | None = None, train_edge_index: Tensor | None = None,
                 item_attr: Tensor | None = None):
        super().__init__()
        self.config = config = (config if config is not None else ModelConfig()).validate()
        _check_attributes(attribute_names, num_values, config.free_chunks)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.attribute_names = list(attribute_names)
        self.num_values = [int(v) for v in num_values]
        self.num_chunks = K = len(self.attribute_names) + config.free_chunks
        self.d_chunk = d = config.d_chunk

        # ID embeddings, chunked by Eq. 2.
        self.user_embedding = nn.Embedding(self.num_users, K * d)
        self.item_embedding = nn.Embedding(self.num_items, K * d)
        # ID chunks from the ego embeddings (no parameters and no state for 'embedding').
        self.encoder = build_encoder(
            config.id_encoder, self.num_users, self.num_items, train_edge_index, item_attr,
            self.attribute_names, self.num_values, K, d, config.encoder_layers,
            config.layer_weights, config.attribute_aware)
        self._tables: tuple[tuple, tuple[Tensor, Tensor]] | None = None
        # Eq. 1 projections; a modality that is switched off or has no features is absent.
        self.text_proj = nn.Linear(text_dim, K * d) if config.use_text and text_dim > 0 else None
        self.image_proj = (nn.Linear(image_dim, K * d)
                           if config.use_image and image_dim > 0 else None)
        # Eq. 8 attention (W_a1: d -> 3, W_a2: 3 -> 3), shared by all chunks; with the ID view
        # alone there is nothing to weigh.
        self.attention = (nn.Sequential(nn.Linear(d, 3), nn.Tanh(), nn.Linear(3, 3))
                          if self.modalities != ['id'] else None)
        # Eq. 3-5 chunk-index classifiers, one per view (user ID, item ID, text, image).
        self.intra_heads = (nn.ModuleDict({m: nn.Linear(d, K) for m in ['user'] + self.modalities})
                            if config.use_intra else None)
        # Eq. 10 attribute-value classifiers on the fused chunk of each attribute.
        self.low_heads = (nn.ModuleDict({a: nn.Linear(d, v) for a, v in
                                         zip(self.attribute_names, self.num_values)})
                          if config.use_low and self.attribute_names else None)
        self.reset_parameters()
        log.debug('ADDRL: K=%d chunks of d=%d, modalities=%s', K, d, self.modalities)

    @classmethod
    def from_graph(cls, data: HeteroData, meta: dict[str, Any],
                   config: ModelConfig | None = None) -> 'ADDRL':
        """Size the model from a processed graph and its ``meta.json`` (see
        :mod:`addrl_graph.data.schema`)."""
        item = data['item']
        return cls(num_users=data['user'].num_nodes, num_items=item.num_nodes,
                   attribute_names=meta_attribute_names(meta),
                   num_values=[len(a['values']) for a in meta['attributes']],
                   text_dim=item.x_text.size(1), image_dim=item.x_image.size(1), config=config,
                   train_edge_index=split_edges(data, TRAIN), item_attr=item.attr)

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (paper, Sec. 4.1.3), zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def modalities(self) -> list[str]:
        """The item views this model has, a sub-list of ``['id', 'text', 'image']``."""
        return (['id'] + (['text'] if self.text_proj is not None else [])
                + (['image'] if self.image_proj is not None else []))

    # ------------------------------------------------------------------ ID chunks
    def id_tables(self, graph: SampledGraph | None = None) -> tuple[Tensor, Tensor]:
        """ID chunks after the encoder of every user and item (``[U, K, d]``, ``[I, K, d]``),
        or of every node of ``graph`` (computed on that sub-graph; its seed rows are the
        batch's)."""
        K, d = self.num_chunks, self.d_chunk
        if graph is None:
            user, item = self.user_embedding.weight, self.item_embedding.weight
        else:
            user = self.user_embedding(graph.nodes('user'))
            item = self.item_embedding(graph.nodes('item'))
        return self.encoder(user.view(-1, K, d), item.view(-1, K, d), graph)

    def _encoded(self, refresh: bool, graph: SampledGraph | None) -> tuple[Tensor, Tensor]:
        """:meth:`id_tables` of ``graph``, recomputed when ``refresh`` or when the graph, a
        parameter, the mode or the gradient switch changed since the cached call."""
        params = (self.user_embedding.weight, self.item_embedding.weight,
                  *self.encoder.parameters())
        key = (graph, torch.is_grad_enabled(), self.training,
               tuple((p._version, p.data_ptr()) for p in params))
        if refresh or self._tables is None or self._tables[0] != key:
            self._tables = (key, self.id_tables(graph))
        return self._tables[1]

    def _id_rows(self, node_type: str, ids: Tensor, refresh: bool,
                 graph: SampledGraph | None) -> Tensor:
        """Rows ``ids`` (global) of the encoded ID chunks of ``node_type`` (``'user'`` or
        ``'item'``), from the whole graph or, when given, from ``graph``."""
        table = dict(zip(('user', 'item'), self._encoded(refresh, graph)))[node_type]
        return table[ids if graph is None else graph.locate(node_type, ids)]

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), '_tables': None}  # tensors inside an autograd graph

    # ------------------------------------------------------------------ users
    def user_chunks(self, user_id: Tensor, graph: SampledGraph | None = None) -> Tensor:
        """User ID chunks :math:`\\mathbf{v}_u^k` (Eq. 2): ``[B]`` → ``[B, K, d]``. A graph
        encoder propagates here when gradients are on (the start of a training step), over the
        whole graph or over ``graph``, the batch's sampled neighbourhood (``user_id`` among its
        seeds)."""
        if not self.encoder.propagates:
            return self.user_embedding(user_id).view(*user_id.shape, self.num_chunks,
                                                     self.d_chunk)
        return self._id_rows('user', user_id, torch.is_grad_enabled(), graph)

    # ------------------------------------------------------------------ items
    def project(self, proj: nn.Linear, x: Tensor) -> Tensor:
        """Eq. 1-2: :math:`\\sigma(W x + b)` chunked, ``[M, d_0]`` → ``[M, K, d]``; ``x`` is
        L2-normalised first when ``config.feature_norm``."""
        if self.config.feature_norm:
            x = F.normalize(x, p=2, dim=-1)
        h = _ACTIVATIONS[self.config.feature_activation](proj(x))
        return h.view(x.size(0), self.num_chunks, self.d_chunk)

    def item_chunks(self, item_id: Tensor, x_text: Tensor, x_image: Tensor, has_text: Tensor,
                    has_image: Tensor, graph: SampledGraph | None = None) -> ItemChunks:
        """All views of ``M`` items and their fusion (Eq. 1-2, 8-9).

        Args:
            item_id: ``[M]`` global item indices.
            x_text: ``[M, d_t]`` raw text features (ignored without a text modality).
            x_image: ``[M, d_v]`` raw image features (ignored without an image modality).
            has_text: ``[M]`` bool; items without text get fusion weight 0 on text.
            has_image: ``[M]`` bool; items without image get fusion weight 0 on image.
            graph: the batch's sampled neighbourhood (``item_id`` among its seeds), or
                :obj:`None` for ID chunks propagated over the whole graph.
        """
        M = item_id.numel()
        if self.encoder.propagates:
            ids = self._id_rows('item', item_id, False, graph)
        else:
            ids = self.item_embedding(item_id).view(M, self.num_chunks, self.d_chunk)
        present = torch.stack([torch.ones_like(has_text, dtype=torch.bool),
                               has_text.bool() & (self.text_proj is not None),
                               has_image.bool() & (self.image_proj is not None)], dim=-1)
        text = self._masked_view(self.text_proj, x_text, present[:, 1])
        image = self._masked_view(self.image_proj, x_image, present[:, 2])
        views = torch.stack([ids] + [v if v is not None else torch.zeros_like(ids)
                                     for v in (text, image)], dim=2)        # [M, K, 3, d]
        weights = self.fusion_weights(views, present)                      # [M, K, 3]
        if self.config.chunk_norm:
            views = F.normalize(views, p=2, dim=-1)
        fused = (weights.unsqueeze(-1) * views).sum(dim=2)                 # Eq. 9
        return ItemChunks(ids, text, image, fused, weights, present)

    def _masked_view(self, proj: nn.Linear | None, x: Tensor, mask: Tensor) -> Tensor | None:
        if proj is None:
            return None
        return self.project(proj, x).masked_fill(~mask.view(-1, 1, 1), 0.0)

    def fusion_weights(self, views: Tensor, present: Tensor) -> Tensor:
        """Eq. 8: :math:`\\mathrm{softmax}(W_{a2} \\tanh(W_{a1}(\\mathbf{v}_i^k + \\mathbf{v}_t^k
        + \\mathbf{v}_v^k) + b_a))` over the views each item has (missing views get weight 0).

        Args:
            views: ``[M, K, 3, d]`` (ID, text, image) chunks, zero where absent.
            present: ``[M, 3]`` bool.

        Returns:
            ``[M, K, 3]`` weights summing to 1 over the last axis.
        """
        M, K = views.shape[:2]
        if self.attention is None:
            return present.to(views.dtype).unsqueeze(1).expand(M, K, 3)
        h = views.sum(dim=2)
        if self.config.chunk_norm:  # authors' code normalises the attention input
            h = F.normalize(h, p=2, dim=-1)
        missing = ~present.unsqueeze(1)                                    # [M, 1, 3]
        weights = self.attention(h).masked_fill(missing, float('-inf')).softmax(dim=-1)
        if self.config.double_softmax:
            weights = weights.masked_fill(missing, float('-inf')).softmax(dim=-1)
        return weights

    # ------------------------------------------------------------------ scores
    def chunk_scores(self, user: Tensor, item: Tensor) -> Tensor:
        """Eq. 11 per chunk: :math:`\\mathrm{softplus}(\\langle \\mathbf{v}_u^k,
        \\mathbf{v}_y^k\\rangle)`, broadcast over any middle axes (e.g. negatives).

        Args:
            user: ``[B, K, d]`` user chunks (raw or from :meth:`user_table`); L2-normalised here
                when ``config.chunk_norm``.
            item: ``[B, ..., K, d]`` fused item chunks from :meth:`item_chunks` or
                :meth:`item_table` (with ``chunk_norm`` already built from unit-norm views, so
                their norm is at most 1).

        Returns:
            ``[B, ..., K]``; summing the last axis gives :math:`s(u, i)`.
        """
        if self.config.chunk_norm:
            user = F.normalize(user, p=2, dim=-1)
        user = user[(slice(None),) + (None,) * (item.dim() - 3)]          # [B, 1.., K, d]
        return F.softplus((user * item).sum(dim=-1))

    def forward(self, user_id: Tensor, item_id: Tensor, x_text: Tensor, x_image: Tensor,
                has_text: Tensor, has_image: Tensor) -> Tensor:
        """Scores :math:`s(u_b, i_b)` of aligned pairs: ``[B]`` users, ``[B]`` items (with their
        features) → ``[B]``."""
        items = self.item_chunks(item_id, x_text, x_image, has_text, has_image)
        return self.chunk_scores(self.user_chunks(user_id), items.fused).sum(dim=-1)

    # ------------------------------------------------------------------ inference tables
    @torch.no_grad()
    def item_table(self, item_store: Any, batch_size: int = 4096,
                   return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Fused chunks of all items, computed once without gradients for ranking/explaining.

        Args:
            item_store: ``data['item']`` of the graph (``x_text``, ``x_image``, ``has_text``,
                ``has_image``), on any device.
            batch_size: items per step. (default: :obj:`4096`)
            return_weights: also return the ``[I, K, 3]`` fusion weights.

        Returns:
            ``[I, K, d]`` on the model's device (and the weights when asked).
        """
        device = self.item_embedding.weight.device
        fused, weights = [], []
        for start in range(0, self.num_items, batch_size):
            rows = slice(start, min(start + batch_size, self.num_items))
            chunks = self.item_chunks(
                torch.arange(rows.start, rows.stop, device=device),
                *(item_store[key][rows].to(device)
                  for key in ('x_text', 'x_image', 'has_text', 'has_image')))
            fused.append(chunks.fused)
            weights.append(chunks.weights)
        empty = self.item_embedding.weight.new_zeros(0, self.num_chunks, self.d_chunk)
        fused_t = torch.cat(fused) if fused else empty
        if not return_weights:
            return fused_t
        return fused_t, torch.cat(weights) if weights else empty.new_zeros(0, self.num_chunks, 3)

    @torch.no_grad()
    def user_table(self, user_id: Tensor) -> Tensor:
        """User chunks for ranking, L2-normalised when ``config.chunk_norm``:
        ``[B]`` → ``[B, K, d]``."""
        user = self.user_chunks(user_id.to(self.user_embedding.weight.device))
        return F.normalize(user, p=2, dim=-1) if self.config.chunk_norm else user


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
