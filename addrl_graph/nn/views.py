r"""AD-DRL's item views and their fusion (Eq. 1-2, 8-9).

An item has up to three views of its ``K`` chunks: its ID chunks (from the ID encoder), its
text and its image features projected and chunked (Eq. 1-2). Attention shared by all chunks
weighs the views each item has (Eq. 8) and fuses them chunk by chunk (Eq. 9).

Shapes legend: ``M`` items, ``K`` chunks, ``d`` chunk width, ``d_t`` / ``d_v`` raw text /
image feature widths.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.nn.config import ViewConfig

#: Column order of the fusion weights.
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


class ItemViews(nn.Module):
    r"""Projections of the raw features (Eq. 1) and the fusion attention (Eq. 8).

    Args:
        num_chunks (int): :math:`K`.
        d_chunk (int): :math:`d`.
        text_dim (int): :math:`d_t` (0: no text view).
        image_dim (int): :math:`d_v` (0: no image view).
        config (ViewConfig): feature normalisation, Eq. 1 activation, chunk normalisation,
            softmax count and which modalities to use.

    Shapes:
        - **forward**: ``[M, K, d]`` ID chunks, ``[M, d_t]``, ``[M, d_v]``, ``[M]``, ``[M]`` →
          :class:`ItemChunks`
    """
    def __init__(self, num_chunks: int, d_chunk: int, text_dim: int, image_dim: int,
                 config: ViewConfig) -> None:
        super().__init__()
        self.config = config
        self.num_chunks, self.d_chunk = K, d = num_chunks, d_chunk
        self.text_proj = nn.Linear(text_dim, K * d) if config.use_text and text_dim > 0 else None
        self.image_proj = (nn.Linear(image_dim, K * d)
                           if config.use_image and image_dim > 0 else None)
        # Eq. 8 attention (W_a1: d -> 3, W_a2: 3 -> 3), shared by all chunks; with the ID view
        # alone there is nothing to weigh.
        self.attention = (nn.Sequential(nn.Linear(d, 3), nn.Tanh(), nn.Linear(3, 3))
                          if self.modalities != ['id'] else None)

    @property
    def modalities(self) -> list[str]:
        """The item views, a sub-list of ``['id', 'text', 'image']``."""
        return (['id'] + (['text'] if self.text_proj is not None else [])
                + (['image'] if self.image_proj is not None else []))

    def project(self, proj: nn.Linear, x: Tensor) -> Tensor:
        """Eq. 1-2: :math:`\\sigma(W x + b)` chunked, ``[M, d_0]`` → ``[M, K, d]``; ``x`` is
        L2-normalised first when ``config.feature_norm``."""
        if self.config.feature_norm:
            x = F.normalize(x, p=2, dim=-1)
        h = _ACTIVATIONS[self.config.feature_activation](proj(x))
        return h.view(x.size(0), self.num_chunks, self.d_chunk)

    def _masked_view(self, proj: nn.Linear | None, x: Tensor, mask: Tensor) -> Tensor | None:
        if proj is None:
            return None
        return self.project(proj, x).masked_fill(~mask.view(-1, 1, 1), 0.0)

    def forward(self, ids: Tensor, x_text: Tensor, x_image: Tensor, has_text: Tensor,
                has_image: Tensor) -> ItemChunks:
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

    def fusion_weights(self, views: Tensor, present: Tensor) -> Tensor:
        """Eq. 8: :math:`\\mathrm{softmax}(W_{a2} \\tanh(W_{a1}(\\mathbf{v}_i^k + \\mathbf{v}_t^k
        + \\mathbf{v}_v^k) + b_a))` over the views each item has (missing views get weight 0).

        Shapes:
            - **views** ``[M, K, 3, d]`` (zero where absent), **present** ``[M, 3]`` →
              ``[M, K, 3]`` summing to 1 over the last axis
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
