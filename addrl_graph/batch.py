"""The training batch: the contract between :mod:`addrl_graph.loader` and the model's loss.

A batch holds ``B`` BPR triplets ``(u, i+, i-_1 … i-_N)``. Items are stored once each
(``M`` unique items, with their features and attribute labels) and the triplets point into
them, so the item side of the model (Eq. 1-2, 8-9) runs once per unique item.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class TripletBatch:
    """BPR triplets plus the features and labels of every item they touch.

    Shapes: ``B`` users (one per triplet), ``M`` unique items, ``N`` negatives per positive,
    ``A`` attributes, ``d_t`` / ``d_v`` raw text / image feature widths (0 when absent).

    Attributes:
        user_id: ``[B]`` global user index.
        item_id: ``[M]`` global item index of every item the batch touches.
        pos_index: ``[B]`` positions into ``item_id`` of the positive items.
        neg_index: ``[B, N]`` positions into ``item_id`` of the negative items.
        x_text: ``[M, d_t]`` raw text features.
        x_image: ``[M, d_v]`` raw image features.
        has_text: ``[M]`` bool, the item has a text feature.
        has_image: ``[M]`` bool, the item has an image feature.
        attr: ``[M, A]`` long attribute-value labels.
    """
    user_id: Tensor
    item_id: Tensor
    pos_index: Tensor
    neg_index: Tensor
    x_text: Tensor
    x_image: Tensor
    has_text: Tensor
    has_image: Tensor
    attr: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> 'TripletBatch':
        """A copy with every tensor on ``device``."""
        return TripletBatch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                               for f in fields(self)})

    @property
    def num_users(self) -> int:
        """``B``, the number of triplets (users may repeat)."""
        return self.user_id.numel()

    @property
    def num_items(self) -> int:
        """``M``, the number of unique items."""
        return self.item_id.numel()

    @property
    def num_negatives(self) -> int:
        """``N``, negatives per positive."""
        return self.neg_index.size(1)

    def validate(self) -> 'TripletBatch':
        """Check shapes, dtypes and index ranges; raise :class:`ValueError` on the first
        violation (a loader bug, not a user error). Returns ``self``."""
        B, M = self.num_users, self.num_items
        expect = {
            'user_id': ((B,), torch.long), 'item_id': ((M,), torch.long),
            'pos_index': ((B,), torch.long), 'neg_index': ((B, self.neg_index.size(-1)),
                                                           torch.long),
            'has_text': ((M,), torch.bool), 'has_image': ((M,), torch.bool),
        }
        for name, (shape, dtype) in expect.items():
            t = getattr(self, name)
            if tuple(t.shape) != shape or t.dtype != dtype:
                raise ValueError(f'TripletBatch.{name} must be {dtype} {list(shape)} '
                                 f'(got {t.dtype} {list(t.shape)})')
        for name in ('x_text', 'x_image', 'attr'):
            t = getattr(self, name)
            if t.dim() != 2 or t.size(0) != M:
                raise ValueError(f'TripletBatch.{name} must have {M} rows (got {list(t.shape)})')
        for name in ('pos_index', 'neg_index'):
            t = getattr(self, name)
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= M):
                raise ValueError(f'TripletBatch.{name} must index [0, {M}) '
                                 f'(got [{int(t.min())}, {int(t.max())}])')
        return self
