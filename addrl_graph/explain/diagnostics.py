"""How well a trained AD-DRL model disentangles: classifier accuracies over the whole graph.

Intra (Eq. 3): does each view's classifier tell its chunks apart? Low (Eq. 10): does each
attribute's fused chunk predict the item's value of that attribute?
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError


def _all_item_chunks(model, data: HeteroData):
    return model.chunks(TrainGraph.from_data(data))[1]


def _chunk_accuracy(chunks: Tensor, head: torch.nn.Module) -> float:
    """Share of chunks ``[M, K, d]`` whose predicted chunk index is their own."""
    target = torch.arange(chunks.size(1)).expand(chunks.size(0), -1)
    return (head(chunks).argmax(-1) == target).float().mean().item()


@torch.no_grad()
def intra_accuracy(model, data: HeteroData) -> dict[str, float]:
    """Accuracy of every intra classifier (``user``, ``id``, ``text``, ``image``) on all users
    and on the items that have the view."""
    if getattr(model, 'intra_heads', None) is None:
        raise ConfigError('intra_accuracy needs a model trained with the intra loss')
    model.eval()
    users, items = model.chunks(TrainGraph.from_data(data))
    views = {'user': users, 'id': items.id,
             'text': items.text[items.present[:, 1]] if items.text is not None else None,
             'image': items.image[items.present[:, 2]] if items.image is not None else None}
    return {name: _chunk_accuracy(views[name], head)
            for name, head in model.intra_heads.items() if views.get(name) is not None
            and views[name].numel()}


@torch.no_grad()
def low_accuracy(model, data: HeteroData) -> dict[str, float]:
    """Accuracy of every attribute's value classifier on the fused chunks of all items."""
    if getattr(model, 'low_heads', None) is None:
        raise ConfigError('low_accuracy needs a model trained with the low-level loss')
    model.eval()
    fused = _all_item_chunks(model, data).fused
    attr = data['item'].attr
    return {name: (model.low_heads[name](fused[:, k]).argmax(-1) == attr[:, k]).float()
            .mean().item() for k, name in enumerate(model.attribute_names)}
