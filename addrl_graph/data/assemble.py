"""Assemble the processed ``HeteroData`` graph of :mod:`addrl_graph.data.schema` from index arrays,
attribute codes and features."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, has_edge, rev_has_edge


def assemble_graph(user_index: np.ndarray, item_index: np.ndarray, split: np.ndarray,
                   num_users: int, attr: np.ndarray, attributes: list[dict[str, Any]],
                   x_text: Tensor, has_text: Tensor, x_image: Tensor,
                   has_image: Tensor) -> HeteroData:
    """Build the graph of DESIGN's schema.

    Args:
        user_index: user of every interaction ``[E]``.
        item_index: item of every interaction ``[E]``.
        split: 0 train, 1 validation, 2 test ``[E]``.
        num_users: number of users ``U``.
        attr: attribute-value codes ``[I, A]``.
        attributes: meta.json attribute entries (``name``, ``values``) in column order.
        x_text: text features ``[I, d_t]``; has_text ``[I]``.
        x_image: image features ``[I, d_v]``; has_image ``[I]``.
    """
    num_items = attr.shape[0]
    data = HeteroData()
    data['user'].num_nodes = num_users
    item = data['item']
    item.num_nodes = num_items
    item.x_text = x_text.float().contiguous()
    item.x_image = x_image.float().contiguous()
    item.has_text = has_text.bool()
    item.has_image = has_image.bool()
    item.attr = torch.from_numpy(np.ascontiguousarray(attr, dtype=np.int64))

    edge_index = torch.from_numpy(np.stack([user_index, item_index]).astype(np.int64))
    split_t = torch.from_numpy(split.astype(np.uint8))
    data[INTERACTS].edge_index = edge_index
    data[INTERACTS].split = split_t
    data[REV_INTERACTS].edge_index = edge_index.flip(0)
    data[REV_INTERACTS].split = split_t

    items = torch.arange(num_items)
    for col, spec in enumerate(attributes):
        name = spec['name']
        data[name].num_nodes = len(spec['values'])
        value_edges = torch.stack([items, item.attr[:, col]])
        data[has_edge(name)].edge_index = value_edges
        data[rev_has_edge(name)].edge_index = value_edges.flip(0)
    return data
